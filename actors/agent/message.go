package agent

import (
	"encoding/json"
	"strings"
	"time"
)

// Role is the author of a message.
type Role string

// Roles of a conversation.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Block types.
const (
	BlockText       = "text"
	BlockToolUse    = "tool_use"
	BlockToolResult = "tool_result"
	BlockThinking   = "thinking"
)

// Block is one content block of a message. Which fields are set depends on
// Type: text has Text; tool_use has ID, Name and Input; tool_result has
// ToolUseID, Content and IsError; thinking has Text and Signature.
type Block struct {
	Type      string
	Text      string
	ID        string
	Name      string
	Input     json.RawMessage
	ToolUseID string
	Content   string
	IsError   bool
	Signature string
}

// TextBlock returns a text block.
func TextBlock(s string) Block { return Block{Type: BlockText, Text: s} }

// blockJSON is the wire shape of every block type; MarshalJSON fills only
// the fields that belong to the block's type.
type blockJSON struct {
	Type      string           `json:"type"`
	Text      *string          `json:"text,omitempty"`
	Thinking  *string          `json:"thinking,omitempty"`
	Signature string           `json:"signature,omitempty"`
	ID        string           `json:"id,omitempty"`
	Name      string           `json:"name,omitempty"`
	Input     *json.RawMessage `json:"input,omitempty"`
	ToolUseID string           `json:"tool_use_id,omitempty"`
	Content   *string          `json:"content,omitempty"`
	IsError   *bool            `json:"is_error,omitempty"`
}

// MarshalJSON writes the API's block shape for the block's type.
func (b Block) MarshalJSON() ([]byte, error) {
	if out, err := b.AppendJSON(nil); err == nil {
		return out, nil
	}
	return b.marshalStd()
}

// AppendJSON appends the block as MarshalJSON writes it. It fails, with
// dst unchanged, only for an invalid Input, which MarshalJSON then
// reports.
func (b *Block) AppendJSON(dst []byte) ([]byte, error) {
	out := append(dst, `{"type":`...)
	out = AppendJSONString(out, b.Type)
	var err error
	switch b.Type {
	case BlockText:
		out = appendStringField(out, "text", b.Text)
	case BlockThinking:
		out = appendStringField(out, "thinking", b.Text)
		out = appendOmitString(out, "signature", b.Signature)
	case BlockToolUse:
		out = appendOmitString(out, "id", b.ID)
		out = appendOmitString(out, "name", b.Name)
		out = appendKey(out, "input")
		if len(b.Input) == 0 {
			out = append(out, "{}"...)
		} else if out, err = AppendJSONRaw(out, b.Input); err != nil {
			return dst, err
		}
	case BlockToolResult:
		out = appendOmitString(out, "tool_use_id", b.ToolUseID)
		out = appendStringField(out, "content", b.Content)
		out = appendBool(appendKey(out, "is_error"), b.IsError)
	default:
		out = appendStringField(out, "text", b.Text)
		if len(b.Input) > 0 {
			if out, err = AppendJSONRaw(appendKey(out, "input"), b.Input); err != nil {
				return dst, err
			}
		}
	}
	return append(out, '}'), nil
}

// marshalStd is MarshalJSON through encoding/json.
func (b Block) marshalStd() ([]byte, error) {
	j := blockJSON{Type: b.Type}
	switch b.Type {
	case BlockText:
		j.Text = &b.Text
	case BlockThinking:
		j.Thinking = &b.Text
		j.Signature = b.Signature
	case BlockToolUse:
		j.ID, j.Name = b.ID, b.Name
		in := b.Input
		if len(in) == 0 {
			in = json.RawMessage(`{}`)
		}
		j.Input = &in
	case BlockToolResult:
		j.ToolUseID = b.ToolUseID
		j.Content = &b.Content
		j.IsError = &b.IsError
	default:
		// Blocks the runtime does not model (images, documents, redacted
		// thinking) keep their text and raw payload so that a snapshot
		// round trip loses nothing.
		j.Text = &b.Text
		if len(b.Input) > 0 {
			in := b.Input
			j.Input = &in
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads any block shape MarshalJSON writes.
func (b *Block) UnmarshalJSON(data []byte) error {
	var j blockJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Block{Type: j.Type, ID: j.ID, Name: j.Name, ToolUseID: j.ToolUseID, Signature: j.Signature}
	if j.Text != nil {
		b.Text = *j.Text
	}
	if j.Thinking != nil {
		b.Text = *j.Thinking
	}
	if j.Input != nil {
		b.Input = append(json.RawMessage(nil), *j.Input...)
	}
	if j.Content != nil {
		b.Content = *j.Content
	}
	if j.IsError != nil {
		b.IsError = *j.IsError
	}
	return nil
}

// Message is one message of a conversation.
type Message struct {
	Role      Role      `json:"role"`
	Content   []Block   `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// AppendJSON appends m as encoding/json's Marshal writes it. It fails,
// with dst unchanged, where Marshal fails (an invalid tool input, a year
// outside 0–9999); Marshal then gives the error.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	out := append(dst, `{"role":`...)
	out = AppendJSONString(out, string(m.Role))
	out, err := appendArray(appendKey(out, "content"), m.Content, (*Block).AppendJSON)
	if err != nil {
		return dst, err
	}
	if out, err = AppendJSONTime(appendKey(out, "created_at"), m.CreatedAt); err != nil {
		return dst, err
	}
	return append(out, '}'), nil
}

// Text returns the concatenated text blocks of m.
func (m Message) Text() string {
	var sb strings.Builder
	for _, b := range m.Content {
		if b.Type == BlockText {
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}

// Usage counts the tokens of one model call or of a whole turn.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens}
}

// StopReason tells why a turn or a model call ended.
type StopReason string

// Stop reasons. A turn ends with end_turn, max_turns, max_tokens,
// interrupted, or tool_use (a tool declared by the client was called and is
// answered by the client's next request). A model call ends with end_turn,
// tool_use, max_tokens or refusal.
const (
	StopEndTurn     StopReason = "end_turn"
	StopMaxTurns    StopReason = "max_turns"
	StopMaxTokens   StopReason = "max_tokens"
	StopInterrupted StopReason = "interrupted"
	StopToolUse     StopReason = "tool_use"
	StopRefusal     StopReason = "refusal"
	StopError       StopReason = "error"
)
