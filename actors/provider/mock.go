package provider

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/seshat-host/seshat/actors/agent"
)

// mock is API.md's offline provider. It keeps no state, so one value
// serves every session at once.
type mock struct{}

// NewMock returns the mock provider of API.md, for offline use, demos,
// tests and load tests. It answers from the last user message:
//
//   - If that message holds tool_result blocks, it replies in one text
//     chunk "tool NAME returned: CONTENT" per result, in order, joined with
//     "\n", and ends the turn. NAME comes from the tool_use block with the
//     same id in an earlier assistant message. This takes precedence over a
//     forced tool_choice, so a client that keeps forcing a tool still sees
//     its round trip end.
//   - Otherwise its text blocks, joined with "\n", are parsed with
//     ParseDirectives; a bad directive fails the call.
//   - @error fails the call with its message at once.
//   - The text part of the answer is @say's text (split into chunks at
//     each run of white space that follows a word, so the chunks
//     concatenate to exactly the text), else @tokens' chunks, else, when
//     the answer has no tool use, the echo: "echo:", " w1", " w2", … so the
//     text is "echo: " and the prompt's words joined by single spaces
//     (multi-line prompts are joined with a space first).
//   - Tool uses follow the text: one per @tool line, or, when there is none
//     and the request forces a tool (tool_choice "tool", or "any" with tools
//     declared), one of the forced tool whose input gives each required
//     property of its schema a value of its type ("x", 0, false, [], {},
//     null). Ids are fresh "toolu_" ids.
//   - @delay waits before each chunk; cancelling ctx ends the wait at once.
//   - A forced MemoryExtractTool call is answered from the @remember lines
//     of every user message (see extractAnswer), before anything else.
//
// Usage: input tokens are the whitespace-separated words of the system
// prompt and of every message sent (text, tool_use input JSON and
// tool_result content); output tokens are the chunks produced, a tool use
// counting as one. With req.MaxTokens > 0 the answer stops after that many
// chunks with stop reason max_tokens; otherwise the stop reason is tool_use
// when the answer holds tool uses, else end_turn.
func NewMock() Provider { return mock{} }

// Stream implements Provider.
func (mock) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	if err := ctx.Err(); err != nil {
		return agent.ModelResponse{}, err
	}
	a, err := script(req)
	if err != nil {
		return agent.ModelResponse{}, err
	}
	return a.play(ctx, emit)
}

// answer is the mock's answer to one request, and its playing: the
// chunks, the wait before each, the cap on them, and what was emitted so
// far. It is on the heap, so the frames a turn's goroutine keeps while it
// waits for a chunk stay small.
type answer struct {
	chunks    []agent.ModelChunk
	delay     time.Duration
	maxTokens int
	usage     agent.Usage
	text      strings.Builder
	uses      []agent.Block
}

// script works out the answer to req, as NewMock describes.
func script(req *agent.ModelRequest) (*answer, error) {
	a := &answer{maxTokens: req.MaxTokens, usage: agent.Usage{InputTokens: inputWords(req)}}
	last := lastUserIndex(req.Messages)
	if last >= 0 && hasToolResults(req.Messages[last]) {
		a.chunks = []agent.ModelChunk{{Type: agent.ChunkText, Text: toolResultsReply(req.Messages, last)}}
		return a, nil
	}
	if spec, ok := forcedTool(req); ok && spec.Name == MemoryExtractTool {
		if err := extractAnswer(req, a); err != nil {
			return nil, err
		}
		return a, nil
	}
	var text string
	if last >= 0 {
		text = userText(req.Messages[last])
	}
	d, err := ParseDirectives(text)
	if err != nil {
		return nil, err
	}
	if d.HasError {
		msg := d.Error
		if msg == "" {
			msg = "mock provider error"
		}
		return nil, errors.New(msg)
	}

	var uses []agent.Block
	for _, t := range d.Tools {
		uses = append(uses, agent.Block{Type: agent.BlockToolUse, ID: agent.NewID(agent.PrefixToolUse), Name: t.Name, Input: t.Input})
	}
	if len(uses) == 0 {
		if spec, ok := forcedTool(req); ok {
			uses = append(uses, agent.Block{Type: agent.BlockToolUse, ID: agent.NewID(agent.PrefixToolUse), Name: spec.Name, Input: placeholderInput(spec.InputSchema)})
		}
	}

	var chunks []agent.ModelChunk
	switch {
	case d.HasSay:
		chunks = sayChunks(d.Say)
	case d.HasTokens:
		chunks = tokenChunks(d.Tokens)
	case d.Sources || d.Memories || d.System:
		chunks = sayChunks(recallReply(&d, req))
	case len(uses) == 0:
		chunks = echoChunks(d.Prompt)
	}
	for _, u := range uses {
		chunks = append(chunks, agent.ModelChunk{Type: agent.ChunkToolUse, Block: u})
	}
	a.chunks, a.delay = chunks, d.Delay
	return a, nil
}

// recallReply answers @sources and @memories from what the request
// carried: the retrieved chunks' paths (each once, in rank order) and the
// recalled memories' contents.
func recallReply(d *Directives, req *agent.ModelRequest) string {
	var lines []string
	if d.Sources {
		var paths []string
		seen := make(map[string]bool)
		for _, s := range req.Sources {
			if !seen[s.Path] {
				seen[s.Path] = true
				paths = append(paths, s.Path)
			}
		}
		lines = append(lines, "sources: "+listOrNone(paths, ", "))
	}
	if d.Memories {
		var contents []string
		for _, m := range req.Memories {
			contents = append(contents, m.Content)
		}
		lines = append(lines, "memories: "+listOrNone(contents, " | "))
	}
	if d.System {
		system := req.System
		if system == "" {
			system = "none"
		}
		lines = append(lines, "system: "+system)
	}
	return strings.Join(lines, "\n")
}

func listOrNone(items []string, sep string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, sep)
}

// play emits the chunks, waiting the delay before each, and builds the
// response: one text block for all text chunks, then the tool uses. On
// cancellation it returns what was emitted so far with ctx.Err().
func (a *answer) play(ctx context.Context, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	for i := range a.chunks {
		if a.maxTokens > 0 && i >= a.maxTokens {
			return a.response(agent.StopMaxTokens), nil
		}
		if err := wait(ctx, a.delay); err != nil {
			return a.response(""), err
		}
		ch := &a.chunks[i]
		emit(*ch)
		a.usage.OutputTokens++
		switch ch.Type {
		case agent.ChunkText:
			a.text.WriteString(ch.Text)
		case agent.ChunkToolUse:
			a.uses = append(a.uses, ch.Block)
		}
	}
	if len(a.uses) > 0 {
		return a.response(agent.StopToolUse), nil
	}
	return a.response(agent.StopEndTurn), nil
}

// response is what was played so far, ending with stop. It is not
// inlined: each of play's returns would add its temporaries to play's
// frame, which a turn's goroutine keeps while it waits for a chunk.
//
//go:noinline
func (a *answer) response(stop agent.StopReason) agent.ModelResponse {
	r := agent.ModelResponse{StopReason: stop, Usage: a.usage}
	if a.text.Len() > 0 {
		r.Content = append(r.Content, agent.TextBlock(a.text.String()))
	}
	r.Content = append(r.Content, a.uses...)
	return r
}

// wait blocks for d or until ctx is done, whichever comes first. It never
// sleeps past a cancellation, which is what makes interrupts prompt.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ctx.Err()
	}
}

func lastUserIndex(msgs []agent.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == agent.RoleUser {
			return i
		}
	}
	return -1
}

func hasToolResults(m agent.Message) bool {
	for _, b := range m.Content {
		if b.Type == agent.BlockToolResult {
			return true
		}
	}
	return false
}

// userText joins a message's text blocks with "\n", so that a directive
// in a second block still starts a line.
func userText(m agent.Message) string {
	var parts []string
	for _, b := range m.Content {
		if b.Type == agent.BlockText {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// toolResultsReply answers the tool results of msgs[last].
func toolResultsReply(msgs []agent.Message, last int) string {
	var lines []string
	for _, b := range msgs[last].Content {
		if b.Type != agent.BlockToolResult {
			continue
		}
		lines = append(lines, "tool "+toolName(msgs[:last], b.ToolUseID)+" returned: "+b.Content)
	}
	return strings.Join(lines, "\n")
}

// toolName finds the name of the tool use id in the latest assistant
// message that has it; usually the one right before the results, but a
// client may answer in a later message.
func toolName(msgs []agent.Message, id string) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != agent.RoleAssistant {
			continue
		}
		for _, b := range msgs[i].Content {
			if b.Type == agent.BlockToolUse && b.ID == id {
				return b.Name
			}
		}
	}
	return "unknown"
}

// forcedTool returns the tool a request's tool_choice forces, if any.
func forcedTool(req *agent.ModelRequest) (agent.ToolSpec, bool) {
	tc := req.ToolChoice
	if tc == nil {
		return agent.ToolSpec{}, false
	}
	switch tc.Type {
	case "tool":
		for _, t := range req.Tools {
			if t.Name == tc.Name {
				return t, true
			}
		}
		if tc.Name != "" {
			return agent.ToolSpec{Name: tc.Name}, true
		}
	case "any":
		if len(req.Tools) > 0 {
			return req.Tools[0], true
		}
	}
	return agent.ToolSpec{}, false
}

// placeholderInput builds an input object that gives each required
// property of schema a value of its declared type, in the order of
// "required".
func placeholderInput(schema json.RawMessage) json.RawMessage {
	var s struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	_ = json.Unmarshal(schema, &s) // a broken schema just gives {}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, name := range s.Required {
		key, err := json.Marshal(name)
		if err != nil {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.Write(key)
		b.WriteByte(':')
		b.WriteString(placeholderValue(s.Properties[name].Type))
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// placeholderValue returns a JSON value of a schema "type": the first
// non-null type of a list wins, and no type at all gives null.
func placeholderValue(typ json.RawMessage) string {
	var types []string
	var one string
	if err := json.Unmarshal(typ, &one); err == nil {
		types = []string{one}
	} else {
		_ = json.Unmarshal(typ, &types)
	}
	for _, t := range types {
		switch t {
		case "string":
			return `"x"`
		case "number", "integer":
			return `0`
		case "boolean":
			return `false`
		case "array":
			return `[]`
		case "object":
			return `{}`
		}
	}
	return `null`
}

func textChunk(s string) agent.ModelChunk { return agent.ModelChunk{Type: agent.ChunkText, Text: s} }

// echoChunks returns "echo:", " w1", " w2", …; with no words, the one
// chunk "echo: ", so the text is always "echo: " + the joined words.
func echoChunks(prompt string) []agent.ModelChunk {
	words := strings.Fields(prompt)
	if len(words) == 0 {
		return []agent.ModelChunk{textChunk("echo: ")}
	}
	out := make([]agent.ModelChunk, 0, len(words)+1)
	out = append(out, textChunk("echo:"))
	for _, w := range words {
		out = append(out, textChunk(" "+w))
	}
	return out
}

// tokenChunks returns "tok0", " tok1", … " tok<n-1>".
func tokenChunks(n int) []agent.ModelChunk {
	out := make([]agent.ModelChunk, 0, n)
	for i := range n {
		s := "tok" + strconv.Itoa(i)
		if i > 0 {
			s = " " + s
		}
		out = append(out, textChunk(s))
	}
	return out
}

// sayChunks splits s so that each run of white space after a word starts
// a new chunk: "hello  big world" → "hello", "  big", " world". The chunks
// concatenate to exactly s.
func sayChunks(s string) []agent.ModelChunk {
	var out []agent.ModelChunk
	start, inWord := 0, false
	for i, r := range s {
		switch {
		case !unicode.IsSpace(r):
			inWord = true
		case inWord:
			out = append(out, textChunk(s[start:i]))
			start, inWord = i, false
		}
	}
	if start < len(s) {
		out = append(out, textChunk(s[start:]))
	}
	return out
}

// inputWords counts the words the mock bills as input.
func inputWords(req *agent.ModelRequest) int64 {
	n := countWords(req.System)
	for _, m := range req.Messages {
		for _, b := range m.Content {
			switch b.Type {
			case agent.BlockToolUse:
				n += countWords(string(b.Input))
			case agent.BlockToolResult:
				n += countWords(b.Content)
			default:
				n += countWords(b.Text)
			}
		}
	}
	return int64(n)
}

// countWords is len(strings.Fields(s)) without the allocation.
func countWords(s string) int {
	n, inWord := 0, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			inWord = false
			continue
		}
		if !inWord {
			n++
			inWord = true
		}
	}
	return n
}

// MemoryExtractTool is the tool the host forces when it asks a model to
// extract memories from a conversation. The mock answers it from the
// @remember lines of the request's user messages.
const MemoryExtractTool = "record_memories"

// extractAnswer makes a the answer to a forced MemoryExtractTool call: one
// tool use whose input lists a memory per @remember line of every user
// message, in order ({"memories": [{"content", "replaces"?}]}), after the
// longest @delay those messages give. Messages whose directives do not
// parse are skipped.
func extractAnswer(req *agent.ModelRequest, a *answer) error {
	type mem struct {
		Content  string `json:"content"`
		Replaces string `json:"replaces,omitempty"`
	}
	in := struct {
		Memories []mem `json:"memories"`
	}{Memories: []mem{}}
	var delay time.Duration
	for _, m := range req.Messages {
		if m.Role != agent.RoleUser {
			continue
		}
		d, err := ParseDirectives(userText(m))
		if err != nil {
			continue
		}
		delay = max(delay, d.Delay)
		for _, r := range d.Remember {
			in.Memories = append(in.Memories, mem(r))
		}
	}
	input, err := json.Marshal(in)
	if err != nil {
		return err
	}
	use := agent.Block{Type: agent.BlockToolUse, ID: agent.NewID(agent.PrefixToolUse), Name: MemoryExtractTool, Input: input}
	a.chunks, a.delay = []agent.ModelChunk{{Type: agent.ChunkToolUse, Block: use}}, delay
	return nil
}

var _ Provider = mock{}
