package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

func (s *testServer) runs(t testing.TB, tok, jobID string) []apitype.JobRun {
	t.Helper()
	var list apitype.List[apitype.JobRun]
	resp := s.get(t, "/api/v1/scheduler/jobs/"+jobID+"/runs", tok)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.JSON(t, &list)
	return list.Data
}

func TestScheduledJobsOverHTTP(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	tok := s.register(t, "jobs@example.com", "password123").Token
	other := s.register(t, "other@example.com", "password123").Token

	for _, tc := range []struct{ body map[string]any }{
		{map[string]any{"name": "x", "schedule": "not a schedule", "prompt": "p"}},
		{map[string]any{"name": "x", "schedule": "@every 10ms", "prompt": "p"}},
		{map[string]any{"name": "x", "schedule": "*/5 * * * *", "timezone": "Mars/Olympus", "prompt": "p"}},
	} {
		e := requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/scheduler/jobs", Token: tok, Body: tc.body}), 400, "invalid_request")
		require.NotEmpty(t, e.Error)
	}

	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/scheduler/jobs", Token: tok, Body: map[string]any{
		"name": "heartbeat", "schedule": "@every 1s", "prompt": "status check",
	}})
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	var job apitype.Job
	resp.JSON(t, &job)
	require.Equal(t, "deny_all", job.PermissionMode, "unattended runs deny what needs approval")
	require.True(t, job.Enabled)
	require.NotNil(t, job.NextRunAt)
	requireAPIError(t, s.get(t, "/api/v1/scheduler/jobs/"+job.ID, other), 404, "not_found")

	var runs []apitype.JobRun
	require.Eventually(t, func() bool {
		runs = s.runs(t, tok, job.ID)
		for _, r := range runs {
			if r.Status == "succeeded" {
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond)
	var done apitype.JobRun
	for _, r := range runs {
		if r.Status == "succeeded" {
			done = r
			break
		}
	}
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+*done.SessionID, tok).JSON(t, &sess)
	require.Equal(t, "echo: status check", sess.Messages[len(sess.Messages)-1].Content[0].Text)

	// Disable, then run now outside the schedule.
	resp = s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/scheduler/jobs/" + job.ID, Token: tok, Body: map[string]any{"enabled": false}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp = s.do(t, request{Method: http.MethodPost, Path: "/api/v1/scheduler/jobs/" + job.ID + "/run", Token: tok})
	require.Equal(t, http.StatusAccepted, resp.Status, "%s", resp.Body)
	var started apitype.RunStarted
	resp.JSON(t, &started)
	require.Eventually(t, func() bool {
		for _, r := range s.runs(t, tok, job.ID) {
			if r.ID == started.RunID && r.Status == "succeeded" {
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond)

	// Restart: the job is still there; enabled again, it runs again.
	require.NoError(t, s.Stop())
	s = startServer(t, dir, nil)
	var list apitype.List[apitype.Job]
	s.get(t, "/api/v1/scheduler/jobs", tok).JSON(t, &list)
	require.Len(t, list.Data, 1)
	before := len(s.runs(t, tok, job.ID))
	resp = s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/scheduler/jobs/" + job.ID, Token: tok, Body: map[string]any{"enabled": true}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.Eventually(t, func() bool { return len(s.runs(t, tok, job.ID)) > before }, 20*time.Second, 100*time.Millisecond)

	resp = s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/scheduler/jobs/" + job.ID, Token: tok})
	require.Equal(t, http.StatusNoContent, resp.Status)
	requireAPIError(t, s.get(t, "/api/v1/scheduler/jobs/"+job.ID, tok), 404, "not_found")
}
