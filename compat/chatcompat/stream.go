package chatcompat

import (
	"encoding/json"
	"net/http"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/openai"
)

// Done is the data of the line that ends a chunk stream.
const Done = "[DONE]"

// Stream turns the events of one turn into the chunks of one streamed
// completion: a first chunk with the assistant role, text and reasoning
// deltas live, the client's tool calls from the committed messages once
// the turn is done, a chunk with the finish reason, then, when asked for,
// a usage chunk without choices. Runtime events are not forwarded. It is
// used by one goroutine.
type Stream struct {
	Reply        *Reply
	IncludeUsage bool
	started      bool
}

// NewStream returns the stream of reply's completion.
func NewStream(reply *Reply, includeUsage bool) *Stream {
	return &Stream{Reply: reply, IncludeUsage: includeUsage}
}

func (s *Stream) chunk(d openai.ChunkDelta, finish string) openai.ChatChunk {
	c := openai.ChunkChoice{Delta: d}
	if finish != "" {
		c.FinishReason = &finish
	}
	ch := openai.ChatChunk{ID: s.Reply.ID, Object: "chat.completion.chunk", Created: s.Reply.Created, Model: s.Reply.Model,
		Choices: []openai.ChunkChoice{c}}
	return ch
}

// Start returns the first chunk, which names the role; it is written
// before any event so that the client has its headers at once.
func (s *Stream) Start() []openai.ChatChunk {
	if s.started {
		return nil
	}
	s.started = true
	return []openai.ChatChunk{s.chunk(openai.ChunkDelta{Role: openai.RoleAssistant}, "")}
}

// Next returns the chunks for ev and whether the completion is over. A
// failed turn gives no chunk: the caller writes Error's envelope instead.
func (s *Stream) Next(ev agent.Event) ([]openai.ChatChunk, bool) {
	out := s.Start()
	switch ev.Kind {
	case agent.KindDelta:
		if ev.Delta == "" {
			return out, false
		}
		if ev.Thinking {
			return append(out, s.chunk(openai.ChunkDelta{ReasoningContent: ev.Delta}, "")), false
		}
		return append(out, s.chunk(openai.ChunkDelta{Content: ev.Delta}, "")), false
	case agent.KindDone:
		i := 0
		for _, b := range s.Reply.blocks(ev.Result.Messages) {
			if b.Type != agent.BlockToolUse {
				continue
			}
			idx := i
			args := string(b.Input)
			if args == "" {
				args = "{}"
			}
			out = append(out, s.chunk(openai.ChunkDelta{ToolCalls: []openai.ToolCall{{
				Index: &idx, ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args},
			}}}, ""))
			i++
		}
		out = append(out, s.chunk(openai.ChunkDelta{}, openai.ToFinishReason(ev.Result.StopReason)))
		if s.IncludeUsage {
			u := ev.Result.Usage
			out = append(out, openai.ChatChunk{ID: s.Reply.ID, Object: "chat.completion.chunk", Created: s.Reply.Created, Model: s.Reply.Model,
				Choices: []openai.ChunkChoice{}, Usage: &openai.Usage{
					PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens,
				}})
		}
		return out, true
	case agent.KindError:
		return out, true
	}
	return out, false
}

// Failed reports whether ev ends the stream with an error, and the
// envelope to write for it.
func Failed(ev agent.Event) (ErrorResponse, bool) {
	if ev.Kind != agent.KindError {
		return ErrorResponse{}, false
	}
	return NewError(http.StatusInternalServerError, ev.Error, ""), true
}

// Encode returns the JSON of a chunk or an error envelope, for a `data:`
// line.
func Encode(v any) []byte {
	b, _ := json.Marshal(v) // plain data: cannot fail
	return b
}
