package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Preference keys of a user's memory defaults (GET/PATCH
// /api/v1/users/me/preferences).
const (
	PrefExtract = "memory_extract"
	PrefInject  = "memory_inject"
)

// Tool names.
const (
	ToolSearch = "memory_search"
	ToolSave   = "memory_save"
)

// searchToolLimit is how many memories memory_search returns.
const searchToolLimit = 10

// Extension returns the memories family's turn extension: recall into
// the turn, the memory tools, and extraction after it.
func (s *Service) Extension() turn.Extension { return extension{s: s} }

type extension struct{ s *Service }

var (
	_ turn.Extension = extension{}
	_ turn.Finisher  = extension{}
)

// Policy returns the memory policy of a turn: its context's, else the
// user's preferences, else extract "auto" and inject.
func (s *Service) Policy(userID string, c agent.TurnContext) agent.MemoryPolicy {
	if c.Memory != nil {
		return *c.Memory
	}
	p := agent.MemoryPolicy{Extract: agent.MemoryExtractAuto, Inject: true}
	prefs, err := s.store.UserPreferences(userID)
	if err != nil {
		return p
	}
	var extract string
	if json.Unmarshal(prefs[PrefExtract], &extract) == nil && (extract == agent.MemoryExtractAuto || extract == agent.MemoryExtractOff) {
		p.Extract = extract
	}
	var inject bool
	if json.Unmarshal(prefs[PrefInject], &inject) == nil {
		p.Inject = inject
	}
	return p
}

// on reports whether a policy turns memory on at all (which is when the
// memory tools are offered).
func on(p agent.MemoryPolicy) bool { return p.Inject || p.Extract == agent.MemoryExtractAuto }

// Prepare recalls the memories relevant to the prompt (with inject): they
// go to the model as a memory block in the system prompt and as the
// request's Memories, and memory_recalled names them. With memory on, it
// offers memory_search and memory_save.
func (e extension) Prepare(ctx context.Context, st turn.Setup) (turn.Contribution, error) {
	p := e.s.Policy(st.UserID, st.Context)
	var c turn.Contribution
	if !on(p) {
		return c, nil
	}
	c.Tools = []tool.Tool{searchTool(e), saveTool{s: e.s, turnID: st.TurnID}}
	if !p.Inject || strings.TrimSpace(st.Prompt) == "" {
		return c, nil
	}
	hits, err := e.s.Recall(ctx, st.UserID, st.WorkspaceID, st.Prompt)
	if err != nil {
		// Recall is best effort: a turn is not failed for it.
		e.s.log.Warn("memory recall failed", "session_id", st.SessionID, "err", err)
		return c, nil
	}
	if len(hits) == 0 {
		return c, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Memory.ID
		c.Memories = append(c.Memories, agent.Memory{ID: h.Memory.ID, Content: h.Memory.Content})
	}
	c.System = Block(c.Memories)
	c.Events = []agent.Event{{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeMemoryRecalled, MemoryIDs: ids}}}
	return c, nil
}

// Block is the memory block a turn's system prompt gets.
func Block(ms []agent.Memory) string {
	var b strings.Builder
	b.WriteString("Memories about the user from earlier conversations (they may be out of date; the user's words in this conversation win):")
	for _, m := range ms {
		b.WriteString("\n- ")
		b.WriteString(strings.ReplaceAll(m.Content, "\n", " "))
	}
	return b.String()
}

// Finish hands the finished turn to the user's memory worker when the
// policy extracts; it returns at once.
func (e extension) Finish(_ context.Context, st turn.Setup, res *turn.Result, _ func(agent.Event)) {
	if res.Err != nil || res.StopReason == agent.StopInterrupted {
		return
	}
	if e.s.Policy(st.UserID, st.Context).Extract != agent.MemoryExtractAuto {
		return
	}
	msgs := turnMessages(st.History)
	if len(msgs) == 0 {
		return
	}
	if res.Content != "" {
		msgs = append(msgs, agent.Message{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock(res.Content)}})
	}
	e.s.Enqueue(Job{
		UserID: st.UserID, WorkspaceID: st.WorkspaceID, SessionID: st.SessionID, TurnID: st.TurnID,
		Model: st.Model, Messages: msgs,
	})
}

// turnMessages returns the turn's new user messages: those after the last
// assistant message of the history.
func turnMessages(h []agent.Message) []agent.Message {
	i := len(h)
	for i > 0 && h[i-1].Role == agent.RoleUser {
		i--
	}
	return h[i:]
}

// searchTool is memory_search.
type searchTool struct{ s *Service }

func (searchTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        ToolSearch,
		Description: "Search the long-term memories about the user and the workspace. Returns the most relevant active memories, one per line.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"What to look for."}},"required":["query"]}`),
	}
}
func (searchTool) NeedsApproval() bool { return false }
func (searchTool) ReadOnly() bool      { return true }

func (t searchTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", fmt.Errorf("invalid input: %v", err)
	}
	hits, err := t.s.Search(ctx, call.UserID, SearchQuery{Query: Query{WorkspaceID: call.WorkspaceID}, Text: in.Query, Limit: searchToolLimit})
	if err != nil {
		return "", err
	}
	if len(hits) == 0 {
		return "no memories match", nil
	}
	var b strings.Builder
	for i, h := range hits {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s (%s, %s): %s", h.Memory.ID, h.Memory.Scope, h.Memory.Kind, strings.ReplaceAll(h.Memory.Content, "\n", " "))
	}
	return b.String(), nil
}

// saveTool is memory_save: the user's own memory, through the update rule,
// audited.
type saveTool struct {
	s      *Service
	turnID string
}

func (saveTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        ToolSave,
		Description: "Save a durable fact, preference, instruction or event about the user to long-term memory. A repeat of a known memory changes nothing.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"content":{"type":"string","description":"One short, self-contained statement."},"kind":{"type":"string","enum":["fact","preference","instruction","event"]}},"required":["content"]}`),
	}
}
func (saveTool) NeedsApproval() bool { return false }
func (saveTool) ReadOnly() bool      { return false }

func (t saveTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Content string `json:"content"`
		Kind    string `json:"kind"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", fmt.Errorf("invalid input: %v", err)
	}
	op, err := t.s.Save(ctx, call.UserID, Target{
		Scope: persist.MemoryScopeUser, WorkspaceID: call.WorkspaceID, Origin: OriginTool,
		Source: &persist.MemorySource{SessionID: call.SessionID, TurnID: t.turnID},
	}, Candidate{Content: in.Content, Kind: in.Kind})
	if err != nil {
		return "", err
	}
	if op.Op == OpNoop {
		return "already remembered as " + op.Memory.ID, nil
	}
	return "saved as " + op.Memory.ID, nil
}
