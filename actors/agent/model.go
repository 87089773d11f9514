package agent

import "encoding/json"

// ToolSpec declares a tool to a model.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// ToolChoice forces or forbids tool use: Type is "auto", "any", "tool" or
// "none"; Name is set for "tool".
type ToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// ModelRequest is one call to a model provider.
type ModelRequest struct {
	// Model is the provider's own model id (without the "provider:" part).
	Model      string
	System     string
	Messages   []Message
	Tools      []ToolSpec
	ToolChoice *ToolChoice
	// MaxTokens caps the output of this call; zero means the provider's default.
	MaxTokens int
	// ResponseFormat is an OpenAI-style response_format object, kept raw;
	// providers that support one send it, the others ignore it.
	ResponseFormat json.RawMessage `json:",omitempty"`
	// Sources are the chunks retrieved for the turn so far, in rank order.
	// Providers need not send them (the system prompt carries them); the
	// mock's @sources directive answers with their paths.
	Sources []Source `json:"-"`
	// Memories are the memories recalled into the turn; the mock's
	// @memories directive answers with their contents.
	Memories []Memory `json:"-"`
}

// ChunkType tells what a ModelChunk carries.
type ChunkType int

// Chunk types a provider emits while it streams.
const (
	// ChunkText carries a text delta in Text.
	ChunkText ChunkType = iota + 1
	// ChunkThinking carries a thinking delta in Text.
	ChunkThinking
	// ChunkToolUse announces a complete tool use in Block.
	ChunkToolUse
)

// ModelChunk is one streamed piece of a model's answer.
type ModelChunk struct {
	Type  ChunkType
	Text  string
	Block Block
}

// ModelResponse is the complete answer of one model call.
type ModelResponse struct {
	Content    []Block
	StopReason StopReason
	Usage      Usage
}

// ToolUses returns the tool_use blocks of r in order.
func (r ModelResponse) ToolUses() []Block {
	var out []Block
	for _, b := range r.Content {
		if b.Type == BlockToolUse {
			out = append(out, b)
		}
	}
	return out
}
