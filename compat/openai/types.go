package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Finish reasons.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call"
)

// ChatRequest is the body of POST /chat/completions.
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
	Tools    []Tool        `json:"tools,omitempty"`
	// ToolChoice is nil when the request leaves the choice to the model.
	ToolChoice    *ToolChoice    `json:"tool_choice,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`
	// MaxTokens is the classic output cap that every compatible server
	// knows; OpenAI's own API wants MaxCompletionTokens for reasoning
	// models. Zero leaves either out.
	MaxTokens           int      `json:"max_tokens,omitempty"`
	MaxCompletionTokens int      `json:"max_completion_tokens,omitempty"`
	Temperature         *float64 `json:"temperature,omitempty"`
	TopP                *float64 `json:"top_p,omitempty"`
	// N is the number of choices asked for; only 1 (or none) is served
	// inbound, and it is never sent.
	N *int `json:"n,omitempty"`
	// ResponseFormat is the requested output format ({"type":"text"},
	// {"type":"json_object"} or {"type":"json_schema",…}), kept raw.
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

// StreamOptions asks for a final usage chunk when IncludeUsage is set.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatMessage is one message. Content is nil (null on the wire) for an
// assistant message that only calls tools.
type ChatMessage struct {
	Role       string     `json:"role"`
	Content    *Content   `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// ReasoningContent is the reasoning some servers return with an
	// answer; it is read, never sent.
	ReasoningContent string `json:"reasoning_content,omitempty"`
	// Refusal is the model's refusal message, instead of content.
	Refusal string `json:"refusal,omitempty"`
}

// Content is a message's content: a plain string (Text), or a list of
// parts when Parts is not nil.
type Content struct {
	Text  string
	Parts []ContentPart
}

// TextContent returns content holding the string s.
func TextContent(s string) *Content { return &Content{Text: s} }

// String returns the text of c: Text, or the text parts joined with "\n".
func (c *Content) String() string {
	if c == nil {
		return ""
	}
	if c.Parts == nil {
		return c.Text
	}
	var parts []string
	for _, p := range c.Parts {
		if p.Type == PartText {
			parts = append(parts, p.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// MarshalJSON writes a string, or an array when Parts is not nil.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// UnmarshalJSON reads a string or an array of parts.
func (c *Content) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) > 0 && data[0] == '"':
		*c = Content{}
		return json.Unmarshal(data, &c.Text)
	case len(data) > 0 && data[0] == '[':
		*c = Content{Parts: []ContentPart{}}
		return json.Unmarshal(data, &c.Parts)
	}
	return errors.New("content must be a string or an array of parts")
}

// Content part types.
const (
	PartText     = "text"
	PartImageURL = "image_url"
)

// ContentPart is one part of a multi-part content: text or an image.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an image given by URL, or inline as a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a call of a function tool. In streamed chunks Index tells
// which call a fragment belongs to, and ID, Type and Function.Name come
// only with a call's first fragment.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as a JSON
// string (in chunks, a fragment of it).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Tool declares a function tool.
type Tool struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a function: Parameters is its JSON schema.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolChoice is "auto", "none" or "required" (Mode), or a named function
// (Name), written as {"type":"function","function":{"name":…}}.
type ToolChoice struct {
	Mode string
	Name string
}

type toolChoiceObject struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// MarshalJSON writes the mode string or the function object.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	if c.Name != "" {
		var o toolChoiceObject
		o.Type = "function"
		o.Function.Name = c.Name
		return json.Marshal(o)
	}
	return json.Marshal(c.Mode)
}

// UnmarshalJSON reads either form.
func (c *ToolChoice) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*c = ToolChoice{}
		return json.Unmarshal(data, &c.Mode)
	}
	var o toolChoiceObject
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	*c = ToolChoice{Name: o.Function.Name}
	return nil
}

// ChatResponse is a non-streaming answer.
type ChatResponse struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Choice is one choice of a non-streaming answer.
type Choice struct {
	Index        int         `json:"index"`
	Message      ChatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

// ChatChunk is one streamed chunk ("chat.completion.chunk"). The usage
// chunk asked for with include_usage has no choices.
type ChatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is one choice of a chunk. FinishReason is nil (null) until
// the choice ends.
type ChunkChoice struct {
	Index        int        `json:"index"`
	Delta        ChunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

// ChunkDelta is what a chunk adds to its choice. Reasoning text arrives as
// ReasoningContent (DeepSeek, vLLM) or Reasoning (Ollama, OpenRouter).
type ChunkDelta struct {
	Role             string     `json:"role,omitempty"`
	Content          string     `json:"content,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	Reasoning        string     `json:"reasoning,omitempty"`
	Refusal          string     `json:"refusal,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

// Usage counts tokens. PromptTokens includes cached prompt tokens.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// ErrorResponse is an error body: {"error":{"message",…}}. Servers that
// answer {"error":"message"} decode too.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an API error. Code is a string, a number or null
// depending on the server, so it is kept raw.
type ErrorDetail struct {
	Message string          `json:"message"`
	Type    string          `json:"type,omitempty"`
	Param   json.RawMessage `json:"param,omitempty"`
	Code    json.RawMessage `json:"code,omitempty"`
}

// UnmarshalJSON reads the object form or a bare message string.
func (e *ErrorDetail) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*e = ErrorDetail{}
		return json.Unmarshal(data, &e.Message)
	}
	type plain ErrorDetail
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*e = ErrorDetail(p)
	return nil
}

// CodeString returns Code as a string: the string itself, a number's
// digits, or "" for none or null.
func (e ErrorDetail) CodeString() string {
	c := bytes.TrimSpace(e.Code)
	if len(c) == 0 || string(c) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(c, &s) == nil {
		return s
	}
	return string(c)
}
