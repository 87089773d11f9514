package plans_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/plans"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newUser(t *testing.T, s *persist.Store, email string) persist.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), persist.User{Email: email, Name: "U"}, persist.Workspace{Name: "Personal"})
	require.NoError(t, err)
	return u
}

type started struct {
	userID, sessionID, prompt, mode string
	c                               agent.TurnContext
}

type fixture struct {
	svc                   *plans.Service
	store                 *persist.Store
	owner, editor, viewer persist.User
	stranger              persist.User
	ws                    string
	starts                []started
	startErr              error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := persisttest.Open(t)
	f := &fixture{store: store}
	f.owner, f.editor = newUser(t, store, "owner@example.com"), newUser(t, store, "editor@example.com")
	f.viewer, f.stranger = newUser(t, store, "viewer@example.com"), newUser(t, store, "stranger@example.com")
	f.ws = f.owner.DefaultWorkspaceID
	for u, role := range map[string]string{f.editor.ID: persist.WorkspaceEditor, f.viewer.ID: persist.WorkspaceViewer} {
		_, err := store.SetWorkspaceGrant(t.Context(), f.ws, u, role, true)
		require.NoError(t, err)
	}
	svc, err := plans.New(plans.Config{Store: store, Access: tenancy.NewAccess(store),
		Start: func(_ context.Context, userID, sessionID, prompt, mode string, c agent.TurnContext) (string, error) {
			if f.startErr != nil {
				return "", f.startErr
			}
			f.starts = append(f.starts, started{userID, sessionID, prompt, mode, c})
			return "turn_exec", nil
		}})
	require.NoError(t, err)
	f.svc = svc
	return f
}

// propose runs the extension over a plan-mode turn that calls
// submit_plan, as the runner would.
func (f *fixture) propose(t *testing.T, sessionID, title, plan string) (string, []agent.Event) {
	t.Helper()
	ext := f.svc.Extension()
	st := turn.Setup{SessionID: sessionID, TurnID: agent.NewID(agent.PrefixTurn), WorkspaceID: f.ws, UserID: f.owner.ID, Mode: agent.ModePlan}
	c, err := ext.Prepare(t.Context(), st)
	require.NoError(t, err)
	require.Len(t, c.Tools, 1)
	sub := c.Tools[0]
	require.Equal(t, plans.ToolSubmit, sub.Spec().Name)
	require.True(t, sub.ReadOnly())
	in, err := json.Marshal(map[string]string{"title": title, "plan": plan})
	require.NoError(t, err)
	_, err = sub.Run(t.Context(), tool.Call{Input: in})
	require.NoError(t, err)
	res := &turn.Result{StopReason: agent.StopEndTurn, Content: "tool submit_plan returned: ok"}
	var events []agent.Event
	ext.(turn.Finisher).Finish(t.Context(), st, res, func(ev agent.Event) { events = append(events, ev) })
	require.NotEmpty(t, res.PlanID)
	return res.PlanID, events
}

func TestRolesAndTenancy(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, events := f.propose(t, "sess_one", "Tidy", "1. tidy")
	require.Len(t, events, 1)
	require.Equal(t, agent.RuntimePlanProposed, events[0].Runtime.Type)
	require.Equal(t, id, events[0].Runtime.PlanID)
	require.Equal(t, 1, events[0].Runtime.Version)

	_, err := f.svc.Get(ctx, f.stranger.ID, id)
	require.ErrorIs(t, err, agent.ErrNotFound, "another tenant's plan is not found")
	_, err = f.svc.Reject(ctx, f.stranger.ID, id, "")
	require.ErrorIs(t, err, agent.ErrNotFound)
	list, _, err := f.svc.List(ctx, f.stranger.ID, plans.Query{})
	require.NoError(t, err)
	require.Empty(t, list)

	p, err := f.svc.Get(ctx, f.viewer.ID, id)
	require.NoError(t, err)
	require.Equal(t, "Tidy", p.Title)
	_, err = f.svc.Edit(ctx, f.viewer.ID, id, nil, "2. mine")
	require.ErrorIs(t, err, agent.ErrForbidden, "viewers read, editors write")
	_, err = f.svc.Approve(ctx, f.viewer.ID, id, false, "")
	require.ErrorIs(t, err, agent.ErrForbidden)

	_, err = f.svc.Approve(ctx, f.editor.ID, id, true, agent.ModeAcceptAll)
	require.ErrorIs(t, err, agent.ErrForbidden, "accept_all execution needs a workspace admin")
	_, err = f.svc.Approve(ctx, f.editor.ID, id, true, agent.ModePlan)
	require.ErrorIs(t, err, agent.ErrInvalid)

	f.startErr = fmt.Errorf("%w: sess_one", agent.ErrBusy)
	_, err = f.svc.Approve(ctx, f.editor.ID, id, true, "")
	require.ErrorIs(t, err, agent.ErrBusy)
	p, err = f.svc.Get(ctx, f.editor.ID, id)
	require.NoError(t, err)
	require.Equal(t, persist.PlanProposed, p.Status, "a turn that did not start leaves the plan proposed")

	f.startErr = nil
	a, err := f.svc.Approve(ctx, f.editor.ID, id, true, "")
	require.NoError(t, err)
	require.Equal(t, "turn_exec", a.TurnID)
	require.Equal(t, persist.PlanApproved, a.Plan.Status)
	require.Equal(t, "turn_exec", a.Plan.ExecutedTurnID)
	require.Equal(t, []started{{f.editor.ID, "sess_one", "Carry out the approved plan \"Tidy\" (version 1):\n\n1. tidy", agent.ModeDefault, agent.TurnContext{PlanID: id}}}, f.starts)

	// The execution turn's end marks the plan executed.
	ext := f.svc.Extension()
	st := turn.Setup{SessionID: "sess_one", TurnID: "turn_exec", WorkspaceID: f.ws, UserID: f.editor.ID, Context: agent.TurnContext{PlanID: id}}
	c, err := ext.Prepare(ctx, st)
	require.NoError(t, err)
	require.Empty(t, c.Tools, "submit_plan is for plan mode only")
	ext.(turn.Finisher).Finish(ctx, st, &turn.Result{StopReason: agent.StopEndTurn, Content: "done"}, func(agent.Event) { t.Fatal("no event") })
	p, err = f.svc.Get(ctx, f.owner.ID, id)
	require.NoError(t, err)
	require.Equal(t, persist.PlanExecuted, p.Status)
	_, err = f.svc.Approve(ctx, f.owner.ID, id, false, "")
	require.ErrorIs(t, err, agent.ErrConflict)
}

func TestFeedbackAndFinalAnswer(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, _ := f.propose(t, "sess_two", "Plan", "1. first")
	_, err := f.svc.Reject(ctx, f.editor.ID, id, "use a backup")
	require.NoError(t, err)

	ext := f.svc.Extension()
	st := turn.Setup{SessionID: "sess_two", TurnID: "turn_next", WorkspaceID: f.ws, UserID: f.owner.ID, Mode: agent.ModePlan}
	c, err := ext.Prepare(ctx, st)
	require.NoError(t, err)
	require.Contains(t, c.System, "use a backup", "the rejection's feedback reaches the next turn")
	require.Contains(t, c.System, "plan mode")

	// No submit_plan: the final answer is the plan, the rejected plan's
	// next version.
	res := &turn.Result{StopReason: agent.StopEndTurn, Content: "## Back up first\n1. backup\n2. first"}
	ext.(turn.Finisher).Finish(ctx, st, res, func(agent.Event) {})
	require.Equal(t, id, res.PlanID)
	p, err := f.svc.Get(ctx, f.owner.ID, id)
	require.NoError(t, err)
	require.Equal(t, 2, p.Version)
	require.Equal(t, "Back up first", p.Title)
	c, err = ext.Prepare(ctx, st)
	require.NoError(t, err)
	require.NotContains(t, c.System, "use a backup", "feedback stops once a new version is proposed")

	// An interrupted or failed turn proposes nothing from its answer.
	for _, r := range []*turn.Result{{StopReason: agent.StopInterrupted, Content: "half"}, {StopReason: agent.StopError, Err: agent.ErrInvalid}} {
		ext.(turn.Finisher).Finish(ctx, turn.Setup{SessionID: "sess_three", TurnID: "turn_x", WorkspaceID: f.ws, Mode: agent.ModePlan}, r, func(agent.Event) { t.Fatal("no plan") })
		require.Empty(t, r.PlanID)
	}
	// Outside plan mode the answer is just an answer.
	r := &turn.Result{StopReason: agent.StopEndTurn, Content: "hi"}
	ext.(turn.Finisher).Finish(ctx, turn.Setup{SessionID: "sess_three", TurnID: "turn_y", WorkspaceID: f.ws}, r, func(agent.Event) { t.Fatal("no plan") })
	require.Empty(t, r.PlanID)
}
