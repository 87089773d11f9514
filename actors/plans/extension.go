package plans

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// ToolSubmit is the tool a turn in plan mode proposes its plan with.
const ToolSubmit = "submit_plan"

// planModeSystem tells the model what plan mode is.
const planModeSystem = "You are in plan mode: tools that change anything do not run. Investigate with the " +
	"read-only tools if you need to, then propose a plan: call submit_plan with a short title and the plan " +
	"(numbered steps), or answer with the plan itself. A person approves or rejects it before anything is done."

// Extension returns the family's turn extension.
func (s *Service) Extension() turn.Extension { return extension{s: s} }

type extension struct{ s *Service }

var (
	_ turn.Extension = extension{}
	_ turn.Finisher  = extension{}
)

// Prepare offers submit_plan in plan mode and gives the model the
// feedback of the session's rejected plan.
func (e extension) Prepare(_ context.Context, st turn.Setup) (turn.Contribution, error) {
	var c turn.Contribution
	var system []string
	if st.Mode == agent.ModePlan {
		system = append(system, planModeSystem)
		c.Tools = []tool.Tool{submitTool{s: e.s, turnID: st.TurnID}}
	}
	if st.Context.PlanID == "" && st.SessionID != "" {
		p, open, err := e.s.store.OpenPlan(st.SessionID)
		if err != nil {
			return turn.Contribution{}, err
		}
		if open && p.Status == persist.PlanRejected && p.Feedback != "" {
			system = append(system, fmt.Sprintf("Your plan %q (version %d) was rejected with this feedback; take it into account:\n\n%s",
				p.Title, p.Version, p.Feedback))
		}
	}
	c.System = strings.Join(system, "\n\n")
	return c, nil
}

// Finish saves the plan of a turn in plan mode (the one submit_plan gave,
// else the final answer) and marks an execution turn's plan executed.
func (e extension) Finish(ctx context.Context, st turn.Setup, res *turn.Result, emit func(agent.Event)) {
	ctx = context.WithoutCancel(ctx)
	sub, submitted := e.s.take(st.TurnID)
	if st.Context.PlanID != "" && res.Err == nil && res.StopReason != agent.StopInterrupted {
		if _, err := e.s.store.UpdatePlan(ctx, st.Context.PlanID, func(cur persist.Plan) (persist.Plan, error) {
			if cur.Status == persist.PlanApproved {
				cur.Status, cur.ExecutedTurnID = persist.PlanExecuted, st.TurnID
			}
			return cur, nil
		}); err != nil {
			slog.Default().Warn("plans: marking a plan executed failed", "plan_id", st.Context.PlanID, "error", err)
		}
	}
	if st.Mode != agent.ModePlan || res.Err != nil {
		return
	}
	if !submitted {
		if res.StopReason != agent.StopEndTurn || strings.TrimSpace(res.Content) == "" {
			return
		}
		sub = submission{title: titleOf(res.Content), content: res.Content}
	}
	if len(sub.content) > MaxContent {
		sub.content = truncate(sub.content, MaxContent)
	}
	p, err := e.s.store.ProposePlan(ctx, persist.Plan{
		WorkspaceID: st.WorkspaceID, SessionID: st.SessionID, TurnID: st.TurnID,
		Title: sub.title, Content: sub.content, CreatedBy: st.UserID,
	}, agent.NewID(agent.PrefixPlan))
	if err != nil {
		slog.Default().Warn("plans: saving a proposed plan failed", "session_id", st.SessionID, "turn_id", st.TurnID, "error", err)
		return
	}
	res.PlanID = p.ID
	emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimePlanProposed, PlanID: p.ID, Version: p.Version}})
}

func (s *Service) take(turnID string) (submission, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.submitted[turnID]
	delete(s.submitted, turnID)
	return sub, ok
}

// titleOf makes a title of an answer's first non-empty line.
func titleOf(text string) string {
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "#*- "))
		if line != "" {
			return truncateRunes(line, MaxTitle)
		}
	}
	return ""
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// submitTool is submit_plan for one turn.
type submitTool struct {
	s      *Service
	turnID string
}

func (submitTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        ToolSubmit,
		Description: "Propose your plan for approval: a short title and the plan itself (numbered steps). Nothing is done until a person approves it.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string","description":"A short title."},"plan":{"type":"string","description":"The plan, in Markdown."}},"required":["plan"]}`),
	}
}

// NeedsApproval is false: proposing changes nothing a person has not yet
// to approve.
func (submitTool) NeedsApproval() bool { return false }

// ReadOnly is true: submit_plan records a proposal and changes nothing
// else, so it runs in plan mode.
func (submitTool) ReadOnly() bool { return true }

func (t submitTool) Run(_ context.Context, call tool.Call) (string, error) {
	var in struct {
		Title string `json:"title"`
		Plan  string `json:"plan"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", &tool.InputError{Problem: err.Error()}
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		in.Title = titleOf(in.Plan)
	}
	if err := checkText(in.Title, in.Plan); err != nil {
		return "", &tool.InputError{Problem: strings.TrimPrefix(err.Error(), agent.ErrInvalid.Error()+": ")}
	}
	t.s.mu.Lock()
	t.s.submitted[t.turnID] = submission{title: in.Title, content: in.Plan}
	t.s.mu.Unlock()
	return "plan submitted: it is saved when this turn ends and waits for a person's approval", nil
}
