package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestPlanVersions(t *testing.T) {
	s := persisttest.Open(t)
	alice := newUser(t, s)
	ws := alice.DefaultWorkspaceID
	sess := newSession(t, s, ws, time.Now(), "planning")
	ctx := t.Context()

	v1, err := s.ProposePlan(ctx, persist.Plan{WorkspaceID: ws, SessionID: sess.ID, TurnID: "turn_a", Title: "Fix", Content: "1. read\n2. write"}, uniq("plan"))
	require.NoError(t, err)
	require.Equal(t, 1, v1.Version)
	require.Equal(t, persist.PlanProposed, v1.Status)

	// A person's edit makes version 2; version 1 is kept, superseded.
	v2, err := s.UpdatePlan(ctx, v1.ID, func(cur persist.Plan) (persist.Plan, error) {
		cur.Version++
		cur.Content, cur.TurnID, cur.CreatedBy = "1. read\n2. test\n3. write", "", alice.ID
		return cur, nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, v2.Version)

	// A rejection decides version 2 in place.
	_, err = s.UpdatePlan(ctx, v1.ID, func(cur persist.Plan) (persist.Plan, error) {
		cur.Status, cur.Feedback, cur.DecidedBy, cur.DecidedAt = persist.PlanRejected, "add a backup", alice.ID, time.Now()
		cur.Content = "ignored: a written version never changes"
		return cur, nil
	})
	require.NoError(t, err)

	// A new proposal in the session revises the rejected plan.
	v3, err := s.ProposePlan(ctx, persist.Plan{WorkspaceID: ws, SessionID: sess.ID, TurnID: "turn_b", Title: "Fix", Content: "0. backup\n1. read"}, uniq("plan"))
	require.NoError(t, err)
	require.Equal(t, v1.ID, v3.ID)
	require.Equal(t, 3, v3.Version)

	vs, err := s.PlanVersions(v1.ID)
	require.NoError(t, err)
	require.Len(t, vs, 3)
	require.Equal(t, []string{persist.PlanSuperseded, persist.PlanRejected, persist.PlanProposed}, []string{vs[0].Status, vs[1].Status, vs[2].Status})
	require.Equal(t, "1. read\n2. write", vs[0].Content)
	require.Equal(t, "1. read\n2. test\n3. write", vs[1].Content)
	require.Equal(t, "add a backup", vs[1].Feedback)

	// Approved, the plan is closed: the next proposal is a new plan.
	_, err = s.UpdatePlan(ctx, v1.ID, func(cur persist.Plan) (persist.Plan, error) {
		cur.Status = persist.PlanApproved
		return cur, nil
	})
	require.NoError(t, err)
	other, err := s.ProposePlan(ctx, persist.Plan{WorkspaceID: ws, SessionID: sess.ID, Title: "Next", Content: "more"}, uniq("plan"))
	require.NoError(t, err)
	require.NotEqual(t, v1.ID, other.ID)
	require.Equal(t, 1, other.Version)

	list, next, err := s.Plans(persist.PlanQuery{WorkspaceIDs: []string{ws}, Limit: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, other.ID, list[0].ID)
	list, next, err = s.Plans(persist.PlanQuery{WorkspaceIDs: []string{ws}, Cursor: next})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, list, 1)
	require.Equal(t, v1.ID, list[0].ID)
	list, _, err = s.Plans(persist.PlanQuery{WorkspaceIDs: []string{ws}, Status: persist.PlanApproved})
	require.NoError(t, err)
	require.Len(t, list, 1)

	// Other workspaces see none of it.
	bob := newUser(t, s)
	list, _, err = s.Plans(persist.PlanQuery{WorkspaceIDs: []string{bob.DefaultWorkspaceID}})
	require.NoError(t, err)
	require.Empty(t, list)

	// Deleting the session deletes its plans.
	require.NoError(t, s.DeleteSession(ctx, sess.ID))
	_, err = s.Plan(v1.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.PlanVersions(other.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
}

func TestPlanRefusesEmpty(t *testing.T) {
	s := persisttest.Open(t)
	alice := newUser(t, s)
	sess := newSession(t, s, alice.DefaultWorkspaceID, time.Now(), "x")
	_, err := s.ProposePlan(t.Context(), persist.Plan{WorkspaceID: alice.DefaultWorkspaceID, SessionID: sess.ID, Content: "  "}, uniq("plan"))
	require.ErrorIs(t, err, persist.ErrInvalid)
}
