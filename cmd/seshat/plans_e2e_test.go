package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/compat/eventstream"
)

// submitPlan is a mock prompt line that calls submit_plan.
func submitPlan(t testing.TB, title, plan string) string {
	t.Helper()
	in, err := json.Marshal(map[string]string{"title": title, "plan": plan})
	require.NoError(t, err)
	return "@tool submit_plan " + string(in)
}

// TestPlansLifecycle walks a plan through its life over HTTP: proposed by
// a turn in plan mode (whose write tool is denied), edited, rejected with
// feedback that the next turn sees, proposed again, approved with execute,
// and carried out by a turn followed on the session's stream; another
// tenant sees none of it.
func TestPlansLifecycle(t *testing.T) {
	srv := startServer(t, "", nil)
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")
	a := alice.Token
	sess := created[apitype.Session](t, srv.call(t, http.MethodPost, "/api/v1/sessions", a, apitype.CreateSessionRequest{Title: "backup", PermissionMode: "plan"}), 201)

	// 1. A turn in plan mode proposes a plan; its write is denied.
	st := srv.stream(t, a, apitype.QueryRequest{SessionID: sess.ID, Prompt: `@tool write_file {"path":"early.txt","content":"no"}` + "\n" +
		submitPlan(t, "Back up", "1. list the files\n2. write a note")})
	var proposed apitype.RuntimeEvent
	st.Until(func(ev eventstream.Event) bool {
		if runtimeType(ev) == "plan_proposed" {
			proposed = decodeRuntime(t, ev)
		}
		return isEnd(ev)
	})
	require.NotEmpty(t, proposed.PlanID, "the turn emitted plan_proposed")
	require.Equal(t, 1, proposed.Version)
	files := created[apitype.List[apitype.File]](t, srv.get(t, "/api/v1/files", a), 200)
	require.Empty(t, files.Data, "plan mode ran no write")
	planID := proposed.PlanID
	plan := created[apitype.Plan](t, srv.get(t, "/api/v1/plans/"+planID, a), 200)
	require.Equal(t, "proposed", plan.Status)
	require.Equal(t, "Back up", plan.Title)
	require.Equal(t, 1, plan.Version)
	require.Equal(t, sess.ID, plan.SessionID)
	require.Equal(t, alice.User.DefaultWorkspaceID, plan.WorkspaceID)
	require.NotNil(t, plan.TurnID)

	t.Run("tenancy", func(t *testing.T) {
		b := bob.Token
		requireAPIError(t, srv.get(t, "/api/v1/plans/"+planID, b), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/plans/"+planID+"/versions", b), 404, "not_found")
		requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/plans/"+planID, b, apitype.UpdatePlanRequest{Content: "mine"}), 404, "not_found")
		requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/approve", b, apitype.ApprovePlanRequest{Execute: true}), 404, "not_found")
		requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/reject", b, apitype.RejectPlanRequest{}), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/plans?workspace_id="+alice.User.DefaultWorkspaceID, b), 404, "not_found")
		list := created[apitype.PlanList](t, srv.get(t, "/api/v1/plans", b), 200)
		require.Empty(t, list.Data)
		requireAPIError(t, srv.get(t, "/api/v1/plans/plan_nope", a), 404, "not_found")
	})

	// 2. A person's edit is version 2; version 1 stays, superseded.
	edited := "1. list the files\n2. write a note\n3. check it"
	plan = created[apitype.Plan](t, srv.call(t, http.MethodPatch, "/api/v1/plans/"+planID, a, apitype.UpdatePlanRequest{Content: edited}), 200)
	require.Equal(t, 2, plan.Version)
	require.Equal(t, edited, plan.Content)
	require.Equal(t, "Back up", plan.Title)
	require.Nil(t, plan.TurnID)
	requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/plans/"+planID, a, map[string]any{"content": "x", "colour": "red"}), 400, "invalid_field")
	requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/plans/"+planID, a, apitype.UpdatePlanRequest{Content: " "}), 400, "invalid_request")

	// 3. Rejected with feedback.
	plan = created[apitype.Plan](t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/reject", a, apitype.RejectPlanRequest{Feedback: "name the note done.txt"}), 200)
	require.Equal(t, "rejected", plan.Status)
	require.Equal(t, "name the note done.txt", *plan.Feedback)
	require.Equal(t, alice.User.ID, *plan.DecidedBy)
	requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/approve", a, apitype.ApprovePlanRequest{}), 409, "conflict")
	requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/plans/"+planID, a, apitype.UpdatePlanRequest{Content: "late"}), 409, "conflict")

	// 4. The next turn sees the feedback and proposes again: version 3.
	note := `@tool write_file {"path":"done.txt","content":"backed up"}`
	res := srv.query(t, a, apitype.QueryRequest{SessionID: sess.ID, Prompt: "@system\n" + submitPlan(t, "Back up", "Write the note.\n"+note)})
	require.Equal(t, planID, res.PlanID, "a new proposal revises the rejected plan")
	var view apitype.Session
	srv.get(t, "/api/v1/sessions/"+sess.ID, a).JSON(t, &view)
	var sawFeedback bool
	for _, m := range view.Messages {
		for _, b := range m.Content {
			if m.Role == "assistant" && strings.HasPrefix(b.Text, "system: ") && strings.Contains(b.Text, "name the note done.txt") {
				sawFeedback = true
			}
		}
	}
	require.True(t, sawFeedback, "the rejection's feedback reached the next turn's system prompt")
	versions := created[apitype.List[apitype.Plan]](t, srv.get(t, "/api/v1/plans/"+planID+"/versions", a), 200)
	require.Len(t, versions.Data, 3)
	var statuses []string
	for i, v := range versions.Data {
		require.Equal(t, i+1, v.Version)
		statuses = append(statuses, v.Status)
	}
	require.Equal(t, []string{"superseded", "rejected", "proposed"}, statuses)
	require.Equal(t, "1. list the files\n2. write a note", versions.Data[0].Content, "a version is never overwritten")
	require.Equal(t, edited, versions.Data[1].Content)

	// 5. Approved with execute: the ids come back at once and the turn
	// is followed on the session's stream.
	appr := created[apitype.ApprovePlanResponse](t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/approve", a,
		apitype.ApprovePlanRequest{Execute: true, PermissionMode: "accept_all"}), 200)
	require.Equal(t, sess.ID, appr.SessionID)
	require.NotNil(t, appr.TurnID)
	require.Equal(t, "approved", appr.Plan.Status)
	require.Equal(t, 3, appr.Plan.Version)
	re := srv.openStream(t, http.MethodGet, "/api/v1/sessions/"+sess.ID+"/stream", a, nil, nil)
	first := decodeRuntime(t, re.MustNext())
	require.Equal(t, "session", first.Type)
	require.Equal(t, *appr.TurnID, first.TurnID, "the stream follows the execution turn")
	var wrote bool
	end := re.Until(func(ev eventstream.Event) bool {
		if runtimeType(ev) == "tool_finished" {
			r := decodeRuntime(t, ev)
			wrote = wrote || (r.Name == "write_file" && r.IsError != nil && !*r.IsError)
		}
		return isEnd(ev)
	})
	require.Equal(t, "done", end.Name)
	require.True(t, wrote, "the execution turn ran the plan's write in accept_all")
	files = created[apitype.List[apitype.File]](t, srv.get(t, "/api/v1/files", a), 200)
	require.Len(t, files.Data, 1)
	require.Equal(t, "done.txt", files.Data[0].Path)

	plan = created[apitype.Plan](t, srv.get(t, "/api/v1/plans/"+planID, a), 200)
	require.Equal(t, "executed", plan.Status)
	require.Equal(t, *appr.TurnID, *plan.ExecutedTurnID)
	requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/plans/"+planID+"/approve", a, apitype.ApprovePlanRequest{Execute: true}), 409, "conflict")

	// The session stays in plan mode: the execution turn's mode was its own.
	srv.get(t, "/api/v1/sessions/"+sess.ID, a).JSON(t, &view)
	require.Equal(t, "plan", view.PermissionMode)

	t.Run("list filters", func(t *testing.T) {
		list := created[apitype.PlanList](t, srv.get(t, "/api/v1/plans?session_id="+sess.ID, a), 200)
		require.Len(t, list.Data, 1)
		require.Equal(t, planID, list.Data[0].ID)
		list = created[apitype.PlanList](t, srv.get(t, "/api/v1/plans?status=proposed", a), 200)
		require.Empty(t, list.Data)
		requireAPIError(t, srv.get(t, "/api/v1/plans?status=maybe", a), 400, "invalid_request")
	})

	t.Run("the final answer is a plan, a new one after an executed plan", func(t *testing.T) {
		res := srv.query(t, a, apitype.QueryRequest{SessionID: sess.ID, Prompt: "@say 1. rotate the logs"})
		require.NotEmpty(t, res.PlanID)
		require.NotEqual(t, planID, res.PlanID)
		p := created[apitype.Plan](t, srv.get(t, "/api/v1/plans/"+res.PlanID, a), 200)
		require.Equal(t, "1. rotate the logs", p.Content)
		require.Equal(t, "1. rotate the logs", p.Title, "the first line is the title")
		// accept_all execution needs a workspace admin; approving without
		// execute needs none of that and starts nothing.
		ok := created[apitype.ApprovePlanResponse](t, srv.call(t, http.MethodPost, "/api/v1/plans/"+res.PlanID+"/approve", a, nil), 200)
		require.Nil(t, ok.TurnID)
		require.Equal(t, "approved", ok.Plan.Status)
	})
}
