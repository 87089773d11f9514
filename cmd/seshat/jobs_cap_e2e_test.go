package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestJobsCapHoldsUnderABurst: SESHAT_MAX_JOBS_PER_USER is counted in the
// create's own transaction, so that parallel creates never pass it
// together.
func TestJobsCapHoldsUnderABurst(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_MAX_JOBS_PER_USER": "3"})
	tok := srv.register(t, "burst@example.com", "password1").Token
	const n = 24
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			b, err := postStatus(srv, tok, "/api/v1/scheduler/jobs", apitype.CreateJobRequest{
				Name: "burst", Schedule: "@daily", Prompt: "p", Enabled: ptrTo(false)})
			if err == nil {
				statuses[i] = b
			}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("unexpected status %d in %v", s, statuses)
		}
	}
	require.Equal(t, 3, created, "statuses: %v", statuses)
	var list apitype.List[apitype.Job]
	srv.get(t, "/api/v1/scheduler/jobs", tok).JSON(t, &list)
	require.Len(t, list.Data, 3)
}

// postStatus posts v as JSON and returns the status; it is safe to call
// from a goroutine other than the test's.
func postStatus(s *testServer, token, path string, v any) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestJobEditCountsAgainstTheNewRunAsUser: an edit that makes the job run
// as the editor counts against the editor's cap; one that keeps the user
// it runs as does not.
func TestJobEditCountsAgainstTheNewRunAsUser(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_MAX_JOBS_PER_USER": "2"})
	root := srv.register(t, "root@example.com", "password1")
	alice := srv.register(t, "alice@example.com", "password1")
	eve := srv.register(t, "eve@example.com", "password1")
	ws := sharedWorkspace(t, srv, root.Token, alice, eve)
	for range 2 {
		created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", eve.Token, apitype.CreateJobRequest{
			Name: "mine", Schedule: "@daily", Prompt: "p", Enabled: ptrTo(false)}), 201)
	}
	job := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", alice.Token, apitype.CreateJobRequest{
		Name: "report", Schedule: "@daily", Prompt: "p", WorkspaceID: ws, Enabled: ptrTo(false)}), 201)

	requireAPIError(t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+job.ID, eve.Token,
		apitype.UpdateJobRequest{Prompt: ptrTo("rewritten")}), 429, "too_many_jobs")
	got := created[apitype.Job](t, srv.get(t, "/api/v1/scheduler/jobs/"+job.ID, alice.Token), 200)
	require.Equal(t, alice.User.ID, got.RunAsUserID)
	require.Equal(t, "p", got.Prompt, "the refused edit changed nothing")

	got = created[apitype.Job](t, srv.call(t, "PATCH", "/api/v1/scheduler/jobs/"+job.ID, eve.Token,
		apitype.UpdateJobRequest{Name: ptrTo("renamed")}), 200)
	require.Equal(t, alice.User.ID, got.RunAsUserID)
}

// TestJobRunSessionsArePrunedAndDeleted: the session a run makes goes with
// the run, when SESHAT_JOB_RUN_HISTORY prunes it and when the job is
// deleted; a session the job names stays.
func TestJobRunSessionsArePrunedAndDeleted(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_JOB_RUN_HISTORY": "2"})
	u := srv.register(t, "runs@example.com", "password1")
	sessions := func() []apitype.Session {
		var list apitype.List[apitype.Session]
		srv.get(t, "/api/v1/sessions?limit=100", u.Token).JSON(t, &list)
		return list.Data
	}
	kept := created[apitype.Session](t, srv.call(t, "POST", "/api/v1/sessions", u.Token, apitype.CreateSessionRequest{Title: "kept"}), 201)
	job := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", u.Token, apitype.CreateJobRequest{
		Name: "tick", Schedule: "@daily", Prompt: "@say tick", Enabled: ptrTo(false)}), 201)
	named := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", u.Token, apitype.CreateJobRequest{
		Name: "in kept", Schedule: "@daily", Prompt: "@say tock", SessionID: kept.ID, Enabled: ptrTo(false)}), 201)

	var last []string
	for range 5 {
		run := created[apitype.RunStarted](t, srv.call(t, "POST", "/api/v1/scheduler/jobs/"+job.ID+"/run", u.Token, nil), 202)
		r := srv.waitRun(t, u.Token, job.ID, run.RunID)
		require.Equal(t, "succeeded", r.Status, "error: %v", r.Error)
		last = append(last, *r.SessionID)
	}
	for range 3 {
		run := created[apitype.RunStarted](t, srv.call(t, "POST", "/api/v1/scheduler/jobs/"+named.ID+"/run", u.Token, nil), 202)
		r := srv.waitRun(t, u.Token, named.ID, run.RunID)
		require.Equal(t, "succeeded", r.Status, "error: %v", r.Error)
		require.Equal(t, kept.ID, *r.SessionID)
	}
	require.Len(t, srv.runs(t, u.Token, job.ID), 2)

	ids := func() []string {
		var out []string
		for _, s := range sessions() {
			out = append(out, s.ID)
		}
		return out
	}
	require.ElementsMatch(t, []string{kept.ID, last[3], last[4]}, ids(), "the sessions of pruned runs are gone")
	for _, id := range last[:3] {
		requireAPIError(t, srv.get(t, "/api/v1/sessions/"+id, u.Token), 404, "not_found")
	}

	resp := srv.call(t, "DELETE", "/api/v1/scheduler/jobs/"+job.ID, u.Token, nil)
	require.Equal(t, 204, resp.Status, "body: %s", resp.Body)
	resp = srv.call(t, "DELETE", "/api/v1/scheduler/jobs/"+named.ID, u.Token, nil)
	require.Equal(t, 204, resp.Status, "body: %s", resp.Body)
	require.Equal(t, []string{kept.ID}, ids(), "a deleted job's run sessions go with it; the session it named stays")
	for _, id := range last[3:] {
		requireAPIError(t, srv.get(t, "/api/v1/sessions/"+id, u.Token), 404, "not_found")
	}
}
