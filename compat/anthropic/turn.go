package anthropic

import (
	"errors"
	"net/http"

	"github.com/seshat-host/seshat/actors/agent"
)

// The shaping of a Seshat turn as one Anthropic message: what a turn takes
// from a Messages request, the message that reports it, its stream and the
// pages of a model listing.

// TurnInput returns the messages a turn takes from a request. A session
// named by the request has a history of its own, which is authoritative:
// Anthropic clients resend the whole conversation, so the turn takes only
// the trailing user messages after the request's last assistant message.
// A new session has no history yet, so it starts from the whole
// conversation. The last message must be the user's: a final assistant
// message (prefill) has no meaning for an agent turn.
func TurnInput(msgs []agent.Message, bound bool) ([]agent.Message, error) {
	if n := len(msgs); n == 0 || msgs[n-1].Role != agent.RoleUser {
		return nil, errors.New(`messages: the last message must have role "user" (assistant prefill is not supported)`)
	}
	if !bound {
		return msgs, nil
	}
	i := len(msgs)
	for i > 0 && msgs[i-1].Role == agent.RoleUser {
		i--
	}
	return msgs[i:], nil
}

// Reply builds the one Anthropic message that reports a turn.
type Reply struct {
	// ID is "msg_" and the turn id's suffix.
	ID string
	// Model is echoed as the request named it.
	Model string
	// Skip is the number of the turn's first messages that were its input.
	Skip int
	// Client holds the names of the tools the client declared.
	Client map[string]bool
	// WebSearch is set when the request declared Anthropic's web search
	// server tool: the turn's web_search calls are then shown as
	// server_tool_use and web_search_tool_result blocks.
	WebSearch bool
}

// Blocks returns what the client sees of the messages a turn committed:
// the text and thinking of its assistant messages, and the tool uses of
// the client's tools. Server tool uses and their results stay inside, and
// the text of consecutive model calls is joined into one block, as the
// stream delivers it.
func (r *Reply) Blocks(msgs []agent.Message) []agent.Block {
	var out []agent.Block
	var results map[string]agent.Block
	if r.WebSearch {
		results = toolResults(msgs[min(r.Skip, len(msgs)):])
	}
	for i, m := range msgs {
		if i < r.Skip || m.Role != agent.RoleAssistant {
			continue
		}
		for _, b := range m.Content {
			switch {
			case b.Type == agent.BlockToolUse && r.WebSearch && b.Name == WebSearchName && !r.Client[b.Name]:
				out = append(out, serverToolUse(b))
				if res, ok := results[b.ID]; ok {
					out = append(out, webSearchResult(b, res))
				}
				continue
			case b.Type == agent.BlockToolUse && !r.Client[b.Name]:
				continue
			case b.Type == agent.BlockText && len(out) > 0 && out[len(out)-1].Type == agent.BlockText:
				out[len(out)-1].Text += b.Text
				continue
			case b.Type == agent.BlockText && b.Text == "":
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// toolResults indexes the tool results of msgs by tool use id.
func toolResults(msgs []agent.Message) map[string]agent.Block {
	out := map[string]agent.Block{}
	for _, m := range msgs {
		if m.Role != agent.RoleUser {
			continue
		}
		for _, b := range m.Content {
			if b.Type == agent.BlockToolResult {
				out[b.ToolUseID] = b
			}
		}
	}
	return out
}

// ClientToolUses returns the client tool uses among blocks.
func ClientToolUses(blocks []agent.Block) []agent.Block {
	var out []agent.Block
	for _, b := range blocks {
		if b.Type == agent.BlockToolUse {
			out = append(out, b)
		}
	}
	return out
}

// Response is the non-streaming answer for a finished turn.
func (r *Reply) Response(res *agent.QueryResult) MessagesResponse {
	return ToResponse(r.ID, r.Model, r.Blocks(res.Messages), res.StopReason, res.Usage)
}

// TurnStream turns the events of one turn into the stream events of one
// Anthropic message: text and thinking deltas live, the client's tool uses
// from the committed messages once the turn is done, then the stop reason
// and usage. Runtime events are not forwarded. It is used by one goroutine.
type TurnStream struct {
	Reply  *Reply
	Conv   *StreamConverter
	pinged bool
}

// NewTurnStream returns the stream of reply's message, whose input counts
// inputTokens.
func NewTurnStream(reply *Reply, inputTokens int64) *TurnStream {
	return &TurnStream{Reply: reply, Conv: NewStreamConverter(reply.ID, reply.Model, inputTokens)}
}

// Next returns the stream events for ev and whether the message is over.
func (m *TurnStream) Next(ev agent.Event) ([]StreamEvent, bool) {
	switch ev.Kind {
	case agent.KindDelta:
		if ev.Thinking {
			return m.pingOnce(m.Conv.Thinking(ev.Delta)), false
		}
		return m.pingOnce(m.Conv.Text(ev.Delta)), false
	case agent.KindDone:
		var evs []StreamEvent
		for _, b := range m.Reply.Blocks(ev.Result.Messages) {
			switch b.Type {
			case agent.BlockToolUse:
				evs = append(evs, m.Conv.ToolUse(b)...)
			case BlockServerToolUse, BlockWebSearchToolResult:
				evs = append(evs, m.Conv.Raw(b.Input)...)
			}
		}
		return m.pingOnce(append(evs, m.Conv.End(ev.Result.StopReason, ev.Result.Usage)...)), true
	case agent.KindError:
		return m.Conv.Error(http.StatusInternalServerError, ev.Error), true
	}
	return nil, false
}

// pingOnce puts a ping right after the stream's first content_block_start,
// as upstream does.
func (m *TurnStream) pingOnce(evs []StreamEvent) []StreamEvent {
	if m.pinged {
		return evs
	}
	for i, ev := range evs {
		if ev.Type == EventContentBlockStart {
			m.pinged = true
			return append(evs[:i+1], append([]StreamEvent{{Type: EventPing}}, evs[i+1:]...)...)
		}
	}
	return evs
}

// PageModels returns the page of at most limit models after afterID (or
// before beforeID), and whether more lie beyond it in that direction. An
// unknown cursor gives an empty page.
func PageModels(models []Model, afterID, beforeID string, limit int) ([]Model, bool) {
	index := func(id string) int {
		for i, m := range models {
			if m.ID == id {
				return i
			}
		}
		return -1
	}
	switch {
	case afterID != "":
		i := index(afterID)
		if i < 0 {
			return nil, false
		}
		rest := models[i+1:]
		return rest[:min(limit, len(rest))], len(rest) > limit
	case beforeID != "":
		i := index(beforeID)
		if i < 0 {
			return nil, false
		}
		head := models[:i]
		return head[max(0, len(head)-limit):], len(head) > limit
	}
	return models[:min(limit, len(models))], len(models) > limit
}
