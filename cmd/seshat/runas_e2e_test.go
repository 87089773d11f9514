package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// sharedWorkspace has the server admin make a workspace with alice as
// its admin and eve as an editor (server admins grant directly).
func sharedWorkspace(t *testing.T, srv *testServer, root string, alice, eve apitype.AuthResponse) string {
	t.Helper()
	ws := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", root,
		apitype.CreateWorkspaceRequest{Name: "Shared"}), 201).ID
	for _, m := range []struct {
		u    apitype.AuthResponse
		role string
	}{{alice, "admin"}, {eve, "editor"}} {
		resp := srv.call(t, "POST", "/api/v1/workspaces/"+ws+"/members", root, apitype.AddMemberRequest{UserID: m.u.User.ID, Role: m.role})
		require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
	}
	return ws
}

// waitRun waits for a run of the job to end and returns it.
func (s *testServer) waitRun(t *testing.T, tok, jobID, runID string) apitype.JobRun {
	t.Helper()
	var got apitype.JobRun
	require.Eventually(t, func() bool {
		for _, r := range s.runs(t, tok, jobID) {
			if r.ID == runID && r.Status != "running" {
				got = r
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond)
	return got
}

// TestJobsRunAsTheirLastEditor: a job runs as whoever last set what its
// runs do, never as its creator after someone else rewrote it; moving it
// keeps no one else's accept_all; a run_as user who was disabled or lost
// the editor role makes failed runs that call no model.
func TestJobsRunAsTheirLastEditor(t *testing.T) {
	srv := startServer(t, "", nil)
	root := srv.register(t, "root@example.com", "password1")
	alice := srv.register(t, "alice@example.com", "password1")
	eve := srv.register(t, "eve@example.com", "password1")
	ws := sharedWorkspace(t, srv, root.Token, alice, eve)
	// Each one's default model names them, so a run's session shows
	// whose defaults it ran with.
	for _, u := range []apitype.AuthResponse{alice, eve} {
		resp := srv.call(t, "PATCH", "/api/v1/users/me/preferences", u.Token, map[string]any{"default_model": "mock:" + u.User.Email[:3]})
		require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	}

	job := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", alice.Token, apitype.CreateJobRequest{
		Name: "report", Schedule: "@daily", Prompt: "report", WorkspaceID: ws}), 201)
	require.Equal(t, alice.User.ID, job.RunAsUserID)

	// A schedule change keeps the user it runs as; a prompt change makes
	// the editor the one it runs as.
	job = created[apitype.Job](t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+job.ID, eve.Token,
		apitype.UpdateJobRequest{Schedule: ptrTo("@hourly")}), 200)
	require.Equal(t, alice.User.ID, job.RunAsUserID)
	job = created[apitype.Job](t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+job.ID, eve.Token,
		apitype.UpdateJobRequest{Prompt: ptrTo("@say rewritten")}), 200)
	require.Equal(t, eve.User.ID, job.RunAsUserID)
	got := created[apitype.Job](t, srv.get(t, "/api/v1/scheduler/jobs/"+job.ID, alice.Token), 200)
	require.Equal(t, eve.User.ID, got.RunAsUserID)

	run := created[apitype.RunStarted](t, srv.call(t, "POST", "/api/v1/scheduler/jobs/"+job.ID+"/run", alice.Token, nil), 202)
	r := srv.waitRun(t, alice.Token, job.ID, run.RunID)
	require.Equal(t, "succeeded", r.Status, "error: %v", r.Error)
	sess := created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+*r.SessionID, alice.Token), 200)
	require.Equal(t, "mock:eve", sess.Model, "the run used the editor's defaults, not the creator's")

	// An accept_all job of alice: eve (an editor, not an admin) may not
	// rewrite it, and moving it to eve's own workspace (where she is
	// admin) makes it hers: it no longer carries alice's rights.
	aj := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", alice.Token, apitype.CreateJobRequest{
		Name: "trusted", Schedule: "@daily", Prompt: "p", WorkspaceID: ws, PermissionMode: "accept_all"}), 201)
	require.Equal(t, alice.User.ID, aj.RunAsUserID)
	requireAPIError(t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+aj.ID, eve.Token,
		apitype.UpdateJobRequest{Prompt: ptrTo("@tool write_file {}")}), 403, "forbidden")
	moved := created[apitype.Job](t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+aj.ID, eve.Token,
		apitype.UpdateJobRequest{WorkspaceID: ptrTo(eve.User.DefaultWorkspaceID)}), 200)
	require.Equal(t, eve.User.ID, moved.RunAsUserID)
	require.Equal(t, "accept_all", moved.PermissionMode)

	// eve loses the editor role: the job she runs as fails, naming why.
	resp := srv.call(t, "PATCH", "/api/v1/workspaces/"+ws+"/members/"+eve.User.ID, root.Token, apitype.UpdateMemberRequest{Role: "viewer"})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	run = created[apitype.RunStarted](t, srv.call(t, "POST", "/api/v1/scheduler/jobs/"+job.ID+"/run", alice.Token, nil), 202)
	r = srv.waitRun(t, alice.Token, job.ID, run.RunID)
	require.Equal(t, "failed", r.Status)
	require.NotNil(t, r.Error)
	require.Contains(t, *r.Error, "no longer an editor")
	require.Nil(t, r.SessionID, "no turn ran")

	// eve is an editor again but disabled: the job fails too.
	resp = srv.call(t, "PATCH", "/api/v1/workspaces/"+ws+"/members/"+eve.User.ID, root.Token, apitype.UpdateMemberRequest{Role: "editor"})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	resp = srv.call(t, "PATCH", "/api/v1/users/"+eve.User.ID, root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(true)})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	run = created[apitype.RunStarted](t, srv.call(t, "POST", "/api/v1/scheduler/jobs/"+job.ID+"/run", alice.Token, nil), 202)
	r = srv.waitRun(t, alice.Token, job.ID, run.RunID)
	require.Equal(t, "failed", r.Status)
	require.Contains(t, *r.Error, "disabled")
}
