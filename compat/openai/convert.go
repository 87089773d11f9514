package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
)

// blockImage is the runtime's image block type; its Input holds an
// Anthropic image block, the runtime's one image shape.
const blockImage = "image"

// ToChatRequest builds the request the outbound client sends. See the
// package documentation for the mapping. With stream set, it asks for a
// final usage chunk. MaxTokens is copied into max_tokens when not zero.
// tool_choice is sent only with tools, as OpenAI rejects it otherwise.
func ToChatRequest(r agent.ModelRequest, stream bool) ChatRequest {
	out := ChatRequest{Model: r.Model, MaxTokens: r.MaxTokens, Stream: stream, ResponseFormat: r.ResponseFormat}
	if stream {
		out.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	if r.System != "" {
		out.Messages = append(out.Messages, ChatMessage{Role: RoleSystem, Content: TextContent(r.System)})
	}
	for _, m := range r.Messages {
		switch m.Role {
		case agent.RoleAssistant:
			if cm, ok := assistantMessage(m); ok {
				out.Messages = append(out.Messages, cm)
			}
		default:
			out.Messages = append(out.Messages, userMessages(m)...)
		}
	}
	for _, t := range r.Tools {
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, Tool{Type: "function", Function: FunctionDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if tc := r.ToolChoice; tc != nil && len(out.Tools) > 0 {
		switch tc.Type {
		case "any":
			out.ToolChoice = &ToolChoice{Mode: "required"}
		case "none":
			out.ToolChoice = &ToolChoice{Mode: "none"}
		case "tool":
			out.ToolChoice = &ToolChoice{Name: tc.Name}
		default:
			out.ToolChoice = &ToolChoice{Mode: "auto"}
		}
	}
	return out
}

// assistantMessage maps an assistant message: its text blocks joined with
// "\n" as content, its tool uses as tool_calls; thinking is left out. ok
// is false when nothing is left.
func assistantMessage(m agent.Message) (ChatMessage, bool) {
	var texts []string
	var calls []ToolCall
	for _, b := range m.Content {
		switch b.Type {
		case agent.BlockText:
			if b.Text != "" {
				texts = append(texts, b.Text)
			}
		case agent.BlockToolUse:
			args := string(bytes.TrimSpace(b.Input))
			if args == "" {
				args = "{}"
			}
			calls = append(calls, ToolCall{ID: b.ID, Type: "function", Function: FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	cm := ChatMessage{Role: RoleAssistant, ToolCalls: calls}
	if len(texts) > 0 {
		cm.Content = TextContent(strings.Join(texts, "\n"))
	}
	return cm, len(texts) > 0 || len(calls) > 0
}

// userMessages maps a user message: one role "tool" message per
// tool_result first, then the text (joined with "\n") and images as one
// user message, parts only when there are images.
func userMessages(m agent.Message) []ChatMessage {
	var out []ChatMessage
	var texts []string
	var parts []ContentPart
	for _, b := range m.Content {
		switch b.Type {
		case agent.BlockToolResult:
			content := b.Content
			if b.IsError {
				content = "Error: " + content
			}
			out = append(out, ChatMessage{Role: RoleTool, ToolCallID: b.ToolUseID, Content: TextContent(content)})
		case agent.BlockText:
			if b.Text != "" {
				texts = append(texts, b.Text)
				parts = append(parts, ContentPart{Type: PartText, Text: b.Text})
			}
		case blockImage:
			if url := imageURL(b.Input); url != "" {
				parts = append(parts, ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: url}})
			}
		}
	}
	switch {
	case len(parts) > len(texts):
		out = append(out, ChatMessage{Role: RoleUser, Content: &Content{Parts: parts}})
	case len(texts) > 0:
		out = append(out, ChatMessage{Role: RoleUser, Content: TextContent(strings.Join(texts, "\n"))})
	}
	return out
}

// anthropicImage is the part of an Anthropic image block that maps to a
// URL.
type anthropicImage struct {
	Type   string `json:"type"`
	Source struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type,omitempty"`
		Data      string `json:"data,omitempty"`
		URL       string `json:"url,omitempty"`
	} `json:"source"`
}

// imageURL returns the URL of an Anthropic image block (a data: URL for
// base64 data), "" when it has none.
func imageURL(raw json.RawMessage) string {
	var img anthropicImage
	if json.Unmarshal(raw, &img) != nil {
		return ""
	}
	switch img.Source.Type {
	case "base64":
		if img.Source.Data != "" {
			return "data:" + img.Source.MediaType + ";base64," + img.Source.Data
		}
	case "url":
		return img.Source.URL
	}
	return ""
}

// imageBlock returns the Anthropic image block for an image URL.
func imageBlock(url string) json.RawMessage {
	var img anthropicImage
	img.Type = blockImage
	if rest, ok := strings.CutPrefix(url, "data:"); ok {
		meta, data, _ := strings.Cut(rest, ",")
		media, _, _ := strings.Cut(meta, ";")
		img.Source.Type, img.Source.MediaType, img.Source.Data = "base64", media, data
	} else {
		img.Source.Type, img.Source.URL = "url", url
	}
	b, _ := json.Marshal(img) // plain strings: cannot fail
	return b
}

// FromChatRequest turns a Chat Completions request into a model request
// for the runtime: system and developer messages form the system prompt
// (joined with a blank line), consecutive tool messages become one user
// message of tool_result blocks, assistant tool_calls become tool_use
// blocks, image_url parts become image blocks, max_completion_tokens
// (else max_tokens) caps the output. A malformed request (no messages, an
// unknown role, tool call arguments that are not a JSON object, a tool
// message without tool_call_id) gives an error wrapping agent.ErrInvalid.
func FromChatRequest(r ChatRequest) (agent.ModelRequest, error) {
	out := agent.ModelRequest{Model: r.Model, MaxTokens: r.MaxTokens, ResponseFormat: r.ResponseFormat}
	if r.MaxCompletionTokens > 0 {
		out.MaxTokens = r.MaxCompletionTokens
	}
	if len(r.Messages) == 0 {
		return agent.ModelRequest{}, invalid("messages: at least one message is required")
	}
	var system []string
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			if s := m.Content.String(); s != "" {
				system = append(system, s)
			}
		case RoleUser:
			out.Messages = append(out.Messages, agent.Message{Role: agent.RoleUser, Content: userBlocks(m.Content)})
		case RoleAssistant:
			blocks, err := assistantBlocks(m)
			if err != nil {
				return agent.ModelRequest{}, invalid("messages.%d: %s", i, err)
			}
			// The arguments are a string in the body, so the body's depth
			// check never saw them; what is stored must read back.
			for j, b := range blocks {
				if b.Type == agent.BlockToolUse && agent.JSONDepth(b.Input) > agent.MaxJSONDepth {
					return agent.ModelRequest{}, invalid("messages.%d.tool_calls.%d.function.arguments: nests arrays and objects deeper than %d levels", i, j-len(blocks)+len(m.ToolCalls), agent.MaxJSONDepth)
				}
			}
			out.Messages = append(out.Messages, agent.Message{Role: agent.RoleAssistant, Content: blocks})
		case RoleTool:
			if m.ToolCallID == "" {
				return agent.ModelRequest{}, invalid("messages.%d.tool_call_id: required", i)
			}
			b := agent.Block{Type: agent.BlockToolResult, ToolUseID: m.ToolCallID, Content: m.Content.String()}
			if n := len(out.Messages); n > 0 && i > 0 && r.Messages[i-1].Role == RoleTool {
				out.Messages[n-1].Content = append(out.Messages[n-1].Content, b)
				continue
			}
			out.Messages = append(out.Messages, agent.Message{Role: agent.RoleUser, Content: []agent.Block{b}})
		default:
			return agent.ModelRequest{}, invalid("messages.%d.role: unknown role %q", i, m.Role)
		}
	}
	out.System = strings.Join(system, "\n\n")
	for i, t := range r.Tools {
		if t.Type != "function" && t.Type != "" {
			continue
		}
		if t.Function.Name == "" {
			return agent.ModelRequest{}, invalid("tools.%d.function.name: required", i)
		}
		out.Tools = append(out.Tools, agent.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, InputSchema: t.Function.Parameters})
	}
	if tc := r.ToolChoice; tc != nil {
		switch {
		case tc.Name != "":
			out.ToolChoice = &agent.ToolChoice{Type: "tool", Name: tc.Name}
		case tc.Mode == "required":
			out.ToolChoice = &agent.ToolChoice{Type: "any"}
		case tc.Mode == "none", tc.Mode == "auto":
			out.ToolChoice = &agent.ToolChoice{Type: tc.Mode}
		default:
			return agent.ModelRequest{}, invalid("tool_choice: want auto, none, required or a function, got %q", tc.Mode)
		}
	}
	return out, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", agent.ErrInvalid, fmt.Sprintf(format, a...))
}

func userBlocks(c *Content) []agent.Block {
	if c == nil {
		return []agent.Block{}
	}
	if c.Parts == nil {
		return []agent.Block{agent.TextBlock(c.Text)}
	}
	blocks := make([]agent.Block, 0, len(c.Parts))
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			blocks = append(blocks, agent.TextBlock(p.Text))
		case PartImageURL:
			if p.ImageURL != nil && p.ImageURL.URL != "" {
				blocks = append(blocks, agent.Block{Type: blockImage, Input: imageBlock(p.ImageURL.URL)})
			}
		}
	}
	return blocks
}

func assistantBlocks(m ChatMessage) ([]agent.Block, error) {
	var blocks []agent.Block
	if m.ReasoningContent != "" {
		blocks = append(blocks, agent.Block{Type: agent.BlockThinking, Text: m.ReasoningContent})
	}
	if s := m.Content.String(); s != "" {
		blocks = append(blocks, agent.TextBlock(s))
	}
	if m.Refusal != "" {
		blocks = append(blocks, agent.TextBlock(m.Refusal))
	}
	for j, tc := range m.ToolCalls {
		b, err := toolUse(tc)
		if err != nil {
			return nil, fmt.Errorf("tool_calls.%d: %v", j, err)
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// toolUse turns a complete tool call into a tool_use block; a missing id
// gets a fresh one.
func toolUse(tc ToolCall) (agent.Block, error) {
	if tc.Function.Name == "" {
		return agent.Block{}, fmt.Errorf("function.name: required")
	}
	in, err := argumentsObject(tc.Function.Arguments)
	if err != nil {
		return agent.Block{}, fmt.Errorf("function %s: %v", tc.Function.Name, err)
	}
	id := tc.ID
	if id == "" {
		id = agent.NewID(agent.PrefixToolUse)
	}
	return agent.Block{Type: agent.BlockToolUse, ID: id, Name: tc.Function.Name, Input: in}, nil
}

// argumentsObject parses a tool call's arguments string: it must hold one
// JSON object ("" counts as {}), which is returned compacted.
func argumentsObject(args string) (json.RawMessage, error) {
	args = strings.TrimSpace(args)
	if args == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("arguments are not a JSON object: %.200q", args)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(args)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FromChatResponse turns a non-streaming answer into the runtime's
// response, from its first choice: reasoning as a thinking block, the text,
// then the tool calls. The stop reason is tool_use whenever there are tool
// calls (some servers say "stop" then), else the mapped finish reason.
func FromChatResponse(r ChatResponse) (agent.ModelResponse, error) {
	out := agent.ModelResponse{StopReason: agent.StopEndTurn, Content: []agent.Block{}}
	if r.Usage != nil {
		out.Usage = FromUsage(*r.Usage)
	}
	if len(r.Choices) == 0 {
		return out, nil
	}
	c := r.Choices[0]
	blocks, err := assistantBlocks(c.Message)
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("choices.0.message: %w", err)
	}
	out.Content = append(out.Content, blocks...)
	out.StopReason = FromFinishReason(c.FinishReason)
	switch {
	case len(c.Message.ToolCalls) > 0:
		out.StopReason = agent.StopToolUse
	case c.Message.Refusal != "":
		out.StopReason = agent.StopRefusal
	}
	return out, nil
}

// ToChatResponse builds a non-streaming answer from a runtime response.
func ToChatResponse(id, model string, created int64, r agent.ModelResponse) ChatResponse {
	msg, _ := assistantMessage(agent.Message{Role: agent.RoleAssistant, Content: r.Content})
	for _, b := range r.Content {
		if b.Type == agent.BlockThinking {
			msg.ReasoningContent += b.Text
		}
	}
	if msg.Content == nil && len(msg.ToolCalls) == 0 {
		msg.Content = TextContent("")
	}
	return ChatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: ToFinishReason(r.StopReason)}},
		Usage: &Usage{
			PromptTokens: r.Usage.InputTokens, CompletionTokens: r.Usage.OutputTokens,
			TotalTokens: r.Usage.InputTokens + r.Usage.OutputTokens,
		},
	}
}

// FromFinishReason maps a finish reason to a stop reason: stop → end_turn,
// tool_calls (and the legacy function_call) → tool_use, length →
// max_tokens, content_filter → refusal; anything else ends the turn.
func FromFinishReason(s string) agent.StopReason {
	switch s {
	case FinishToolCalls, FinishFunctionCall:
		return agent.StopToolUse
	case FinishLength:
		return agent.StopMaxTokens
	case FinishContentFilter:
		return agent.StopRefusal
	}
	return agent.StopEndTurn
}

// ToFinishReason is the inverse of FromFinishReason; stop reasons with no
// counterpart give "stop".
func ToFinishReason(s agent.StopReason) string {
	switch s {
	case agent.StopToolUse:
		return FinishToolCalls
	case agent.StopMaxTokens:
		return FinishLength
	case agent.StopRefusal:
		return FinishContentFilter
	}
	return FinishStop
}

// FromUsage returns the runtime's usage: prompt tokens in, completion
// tokens out.
func FromUsage(u Usage) agent.Usage {
	return agent.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
}
