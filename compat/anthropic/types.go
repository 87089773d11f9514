package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Roles of a message on the wire. RoleSystem appears only inside requests
// (newer clients send mid-conversation system messages).
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
)

// Content block types this package models field by field. Any other type
// (document, search_result, server tool blocks, …) is kept as raw JSON.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// Stop reasons on the wire.
const (
	StopEndTurn               = "end_turn"
	StopMaxTokens             = "max_tokens"
	StopStopSequence          = "stop_sequence"
	StopToolUse               = "tool_use"
	StopPauseTurn             = "pause_turn"
	StopRefusal               = "refusal"
	StopContextWindowExceeded = "model_context_window_exceeded"
)

// MessagesRequest is the body of POST /v1/messages. Unknown top-level
// fields are ignored when decoding, as the 2023-06-01 API requires.
type MessagesRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	// System is the system prompt; it decodes from a string or from an
	// array of text blocks and encodes as blocks.
	System   Content        `json:"system,omitempty"`
	Messages []MessageParam `json:"messages"`
	Tools    []Tool         `json:"tools,omitempty"`
	// ToolChoice is nil when the request leaves the choice to the model.
	ToolChoice *ToolChoice `json:"tool_choice,omitempty"`
	Stream     bool        `json:"stream,omitempty"`
	// Temperature, TopP and TopK are nil when absent, so that a caller
	// can tell an explicit value from none (API version 2026-10-21 rejects
	// any of them).
	Temperature   *float64  `json:"temperature,omitempty"`
	TopP          *float64  `json:"top_p,omitempty"`
	TopK          *int      `json:"top_k,omitempty"`
	StopSequences []string  `json:"stop_sequences,omitempty"`
	Metadata      *Metadata `json:"metadata,omitempty"`
	Thinking      *Thinking `json:"thinking,omitempty"`
}

// MessageParam is one message of a request. Role is RoleUser,
// RoleAssistant or RoleSystem.
type MessageParam struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Tool declares a tool. Custom tools have an empty Type (or "custom") and
// an InputSchema; server tools have a versioned Type such as
// "web_search_20250305".
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	// MaxUses caps the uses of a server tool (web_search_20250305).
	MaxUses int `json:"max_uses,omitempty"`
}

// ToolChoice is {type: auto|any|none} or {type: tool, name}.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Metadata is the request's opaque metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Thinking configures extended thinking: Type is "enabled" (with
// BudgetTokens), "disabled" or "adaptive" (with an optional Display).
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// Content is a list of content blocks. It decodes from a JSON string (as
// one text block) or from an array, and encodes as an array, [] when
// empty.
type Content []ContentBlock

// UnmarshalJSON accepts a string, an array of blocks or null.
func (c *Content) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		*c = nil
		return nil
	case data[0] == '"':
		s, ok := plainString(data)
		if !ok {
			if err := json.Unmarshal(data, &s); err != nil {
				return err
			}
		}
		*c = Content{{Type: BlockText, Text: s}}
		return nil
	case data[0] == '[':
		var blocks []ContentBlock
		if err := json.Unmarshal(data, &blocks); err != nil {
			return err
		}
		*c = blocks
		return nil
	}
	return errors.New("content must be a string or an array of blocks")
}

// plainString returns the value of the JSON string data when it has no
// escapes, no control characters and only valid UTF-8, which is then the
// bytes between its quotes; other strings are left to encoding/json.
func plainString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}
	in := data[1 : len(data)-1]
	for _, b := range in {
		if b < 0x20 || b == '"' || b == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// MarshalJSON writes the blocks as an array, [] for none.
func (c Content) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]ContentBlock(c))
}

// ContentBlock is one content block. Which fields are set depends on Type:
//
//	text               Text, Citations
//	tool_use           ID, Name, Input
//	tool_result        ToolUseID, Content, IsError
//	thinking           Thinking, Signature
//	redacted_thinking  Data
//	anything else      Raw: the whole block as received (image, document, …)
//
// CacheControl is kept on any modelled block.
type ContentBlock struct {
	Type      string
	Text      string
	Citations json.RawMessage
	ID        string
	Name      string
	Input     json.RawMessage
	ToolUseID string
	Content   Content
	IsError   bool
	Thinking  string
	Signature string
	Data      string
	// CacheControl is the block's cache_control, passed through.
	CacheControl json.RawMessage
	// Raw is the whole JSON of a block whose type is not modelled; it is
	// written back verbatim.
	Raw json.RawMessage
}

// blockOut fixes the field order and presence of each block type on
// output; MarshalJSON fills only the fields of the block's type.
type blockOut struct {
	Type         string          `json:"type"`
	ID           *string         `json:"id,omitempty"`
	Name         *string         `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	Text         *string         `json:"text,omitempty"`
	Thinking     *string         `json:"thinking,omitempty"`
	Signature    *string         `json:"signature,omitempty"`
	Data         *string         `json:"data,omitempty"`
	ToolUseID    *string         `json:"tool_use_id,omitempty"`
	Content      json.RawMessage `json:"content,omitempty"`
	IsError      bool            `json:"is_error,omitempty"`
	Citations    json.RawMessage `json:"citations,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// blockIn reads every modelled block type.
type blockIn struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	Text         string          `json:"text"`
	Thinking     string          `json:"thinking"`
	Signature    string          `json:"signature"`
	Data         string          `json:"data"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      Content         `json:"content"`
	IsError      bool            `json:"is_error"`
	Citations    json.RawMessage `json:"citations"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// MarshalJSON writes the API's shape for the block's type.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case BlockText, BlockToolUse, BlockToolResult, BlockThinking, BlockRedactedThinking:
	default:
		if len(b.Raw) > 0 {
			return b.Raw, nil
		}
	}
	if out, err := b.appendJSON(nil); err == nil {
		return out, nil
	}
	return b.marshalStd()
}

// marshalStd is MarshalJSON through encoding/json.
func (b ContentBlock) marshalStd() ([]byte, error) {
	o := blockOut{Type: b.Type, CacheControl: b.CacheControl}
	switch b.Type {
	case BlockText:
		o.Text = &b.Text
		o.Citations = b.Citations
	case BlockToolUse:
		o.ID, o.Name = &b.ID, &b.Name
		o.Input = b.Input
		if len(o.Input) == 0 {
			o.Input = json.RawMessage("{}")
		}
	case BlockToolResult:
		o.ToolUseID = &b.ToolUseID
		o.IsError = b.IsError
		content, err := marshalToolResultContent(b.Content)
		if err != nil {
			return nil, err
		}
		o.Content = content
	case BlockThinking:
		o.Thinking, o.Signature = &b.Thinking, &b.Signature
	case BlockRedactedThinking:
		o.Data = &b.Data
	default:
		if len(b.Raw) > 0 {
			return b.Raw, nil
		}
	}
	return json.Marshal(o)
}

// marshalToolResultContent writes a tool result's content as a plain
// string when it is one text block with nothing else attached (the most
// widely accepted form), as an array otherwise, and leaves it out when
// there is none.
func marshalToolResultContent(c Content) (json.RawMessage, error) {
	switch {
	case len(c) == 0:
		return nil, nil
	case len(c) == 1 && c[0].Type == BlockText && len(c[0].CacheControl) == 0 && len(c[0].Citations) == 0:
		return json.Marshal(c[0].Text)
	}
	return json.Marshal([]ContentBlock(c))
}

// UnmarshalJSON reads any block; unmodelled types keep their raw JSON.
func (b *ContentBlock) UnmarshalJSON(data []byte) error {
	var in blockIn
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*b = ContentBlock{Type: in.Type, CacheControl: in.CacheControl}
	switch in.Type {
	case BlockText:
		b.Text, b.Citations = in.Text, in.Citations
	case BlockToolUse:
		b.ID, b.Name, b.Input = in.ID, in.Name, in.Input
	case BlockToolResult:
		b.ToolUseID, b.Content, b.IsError = in.ToolUseID, in.Content, in.IsError
	case BlockThinking:
		b.Thinking, b.Signature = in.Thinking, in.Signature
	case BlockRedactedThinking:
		b.Data = in.Data
	default:
		b.CacheControl = nil
		b.Raw = append(json.RawMessage(nil), bytes.TrimSpace(data)...)
	}
	return nil
}

// MessagesResponse is a complete message: the body of a non-streaming
// answer and the message of message_start.
type MessagesResponse struct {
	// ID is "msg_…" by convention.
	ID string
	// Type is always "message"; it is written as such when empty.
	Type  string
	Role  string
	Model string
	// Content is written as [] when empty.
	Content []ContentBlock
	// StopReason and StopSequence are written as null when empty.
	StopReason   string
	StopSequence string
	// StopDetails is written as null when empty.
	StopDetails json.RawMessage
	Usage       Usage
}

// responseWire is MessagesResponse's JSON shape.
type responseWire struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []ContentBlock  `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	StopDetails  json.RawMessage `json:"stop_details"`
	Usage        Usage           `json:"usage"`
}

// MarshalJSON writes the message with every documented field present.
func (r MessagesResponse) MarshalJSON() ([]byte, error) {
	if out, err := r.appendJSON(nil); err == nil {
		return out, nil
	}
	return r.marshalStd()
}

// marshalStd is MarshalJSON through encoding/json.
func (r MessagesResponse) marshalStd() ([]byte, error) {
	w := responseWire{
		ID: r.ID, Type: r.Type, Role: r.Role, Model: r.Model, Content: r.Content,
		StopReason: nullable(r.StopReason), StopSequence: nullable(r.StopSequence),
		StopDetails: r.StopDetails, Usage: r.Usage,
	}
	if w.Type == "" {
		w.Type = "message"
	}
	if w.Role == "" {
		w.Role = RoleAssistant
	}
	if w.Content == nil {
		w.Content = []ContentBlock{}
	}
	if len(w.StopDetails) == 0 {
		w.StopDetails = json.RawMessage("null")
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a message; null strings become "".
func (r *MessagesResponse) UnmarshalJSON(data []byte) error {
	var w responseWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = MessagesResponse{
		ID: w.ID, Type: w.Type, Role: w.Role, Model: w.Model, Content: w.Content,
		StopReason: deref(w.StopReason), StopSequence: deref(w.StopSequence), Usage: w.Usage,
	}
	if len(w.StopDetails) > 0 && string(w.StopDetails) != "null" {
		r.StopDetails = w.StopDetails
	}
	return nil
}

// Usage counts a message's tokens. InputTokens excludes cached tokens:
// the whole input is InputTokens + CacheCreationInputTokens +
// CacheReadInputTokens.
type Usage struct {
	InputTokens              int64  `json:"input_tokens"`
	CacheCreationInputTokens int64  `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64  `json:"cache_read_input_tokens"`
	OutputTokens             int64  `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
