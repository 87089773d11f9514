package openai

import (
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
)

// Accumulator folds the chunks of one streamed answer (its first choice)
// into the runtime's chunks and, at the end, its complete response. Text
// and reasoning deltas pass through at once; tool calls, which arrive in
// fragments keyed by index, are assembled and announced as ChunkToolUse
// when the choice finishes (or at Finish, for servers that end the stream
// without a finish reason). A refusal counts as text and makes the stop
// reason refusal.
//
// An Accumulator is not safe for concurrent use.
type Accumulator struct {
	text     strings.Builder
	thinking strings.Builder
	// calls are the tool calls in order of first appearance; byIndex
	// maps a chunk's tool call index to its position in calls.
	calls   []*callAcc
	byIndex map[int]int
	uses    []agent.Block
	// finished is set once the tool calls have been assembled.
	finished bool
	finish   string
	refused  bool
	usage    *Usage
}

type callAcc struct {
	id   string
	name string
	args strings.Builder
}

// NewAccumulator returns an empty accumulator.
func NewAccumulator() *Accumulator {
	return &Accumulator{byIndex: map[int]int{}}
}

// Add folds c in and returns the runtime chunks it produces, in order.
// Choices other than index 0 are ignored. A usage chunk (no choices)
// records the usage. Tool call arguments that are not a JSON object are an
// error once the choice finishes.
func (a *Accumulator) Add(c ChatChunk) ([]agent.ModelChunk, error) {
	if c.Usage != nil {
		u := *c.Usage
		a.usage = &u
	}
	var out []agent.ModelChunk
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		d := ch.Delta
		if r := d.ReasoningContent + d.Reasoning; r != "" && !a.finished {
			a.thinking.WriteString(r)
			out = append(out, agent.ModelChunk{Type: agent.ChunkThinking, Text: r})
		}
		if t := d.Content + d.Refusal; t != "" && !a.finished {
			a.text.WriteString(t)
			out = append(out, agent.ModelChunk{Type: agent.ChunkText, Text: t})
		}
		if d.Refusal != "" {
			a.refused = true
		}
		for _, tc := range d.ToolCalls {
			a.addCall(tc)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
			uses, err := a.Finish()
			if err != nil {
				return out, err
			}
			out = append(out, uses...)
		}
	}
	return out, nil
}

// addCall folds one tool call fragment in. A fragment without index (some
// servers send each call whole) starts a new call when it has an id and
// continues the last one otherwise.
func (a *Accumulator) addCall(tc ToolCall) {
	if a.finished {
		return
	}
	var idx int
	switch {
	case tc.Index != nil:
		idx = *tc.Index
	case tc.ID != "" || len(a.calls) == 0:
		idx = -1 - len(a.calls) // a key no indexed fragment uses
	default:
		idx = a.lastKey()
	}
	pos, ok := a.byIndex[idx]
	if !ok {
		pos = len(a.calls)
		a.byIndex[idx] = pos
		a.calls = append(a.calls, &callAcc{})
	}
	c := a.calls[pos]
	if tc.ID != "" {
		c.id = tc.ID
	}
	if tc.Function.Name != "" {
		c.name = tc.Function.Name
	}
	c.args.WriteString(tc.Function.Arguments)
}

// lastKey returns the key of the most recently started call.
func (a *Accumulator) lastKey() int {
	for k, pos := range a.byIndex {
		if pos == len(a.calls)-1 {
			return k
		}
	}
	return 0
}

// Finish assembles the tool calls received so far, in the order they
// started, and returns one ChunkToolUse per call. Only the first call does
// anything; Add calls it when the choice finishes, and a client calls it
// when the stream ends in case no finish reason came.
func (a *Accumulator) Finish() ([]agent.ModelChunk, error) {
	if a.finished {
		return nil, nil
	}
	a.finished = true
	out := make([]agent.ModelChunk, 0, len(a.calls))
	for i, c := range a.calls {
		if c.name == "" {
			return nil, errorf("tool call %d has no function name", i)
		}
		b, err := toolUse(ToolCall{ID: c.id, Function: FunctionCall{Name: c.name, Arguments: c.args.String()}})
		if err != nil {
			return nil, errorf("tool call %d: %v", i, err)
		}
		a.uses = append(a.uses, b)
		out = append(out, agent.ModelChunk{Type: agent.ChunkToolUse, Block: b})
	}
	return out, nil
}

// Finished reports whether a finish reason was received.
func (a *Accumulator) Finished() bool { return a.finish != "" }

// HasUsage reports whether a usage chunk was received.
func (a *Accumulator) HasUsage() bool { return a.usage != nil }

// Response returns the answer so far: thinking, text and tool uses (those
// assembled by Finish), the stop reason (tool_use whenever there are tool
// uses, refusal after a refusal, else the mapped finish reason) and the
// usage.
func (a *Accumulator) Response() agent.ModelResponse {
	r := agent.ModelResponse{StopReason: FromFinishReason(a.finish)}
	if a.thinking.Len() > 0 {
		r.Content = append(r.Content, agent.Block{Type: agent.BlockThinking, Text: a.thinking.String()})
	}
	if a.text.Len() > 0 {
		r.Content = append(r.Content, agent.TextBlock(a.text.String()))
	}
	r.Content = append(r.Content, slices.Clone(a.uses)...)
	switch {
	case len(a.uses) > 0:
		r.StopReason = agent.StopToolUse
	case a.refused && r.StopReason == agent.StopEndTurn:
		r.StopReason = agent.StopRefusal
	}
	if a.usage != nil {
		r.Usage = FromUsage(*a.usage)
	}
	return r
}
