package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestJobsPerUserCap checks SESHAT_MAX_JOBS_PER_USER: one job past it is
// 429 too_many_jobs, other users keep their own allowance, and deleting a
// job frees its place.
func TestJobsPerUserCap(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_MAX_JOBS_PER_USER": "2"})
	tok := s.register(t, "jobcap@example.com", "password123").Token
	other := s.register(t, "jobcap2@example.com", "password123").Token
	create := func(tok string) response {
		return s.do(t, request{Method: http.MethodPost, Path: "/api/v1/scheduler/jobs", Token: tok, Body: map[string]any{
			"name": "capped", "schedule": "@daily", "prompt": "status check", "enabled": false,
		}})
	}
	var first apitype.Job
	for i := range 2 {
		resp := create(tok)
		require.Equal(t, http.StatusCreated, resp.Status, "%d: %s", i, resp.Body)
		if i == 0 {
			resp.JSON(t, &first)
		}
	}
	requireAPIError(t, create(tok), 429, "too_many_jobs")
	var list apitype.List[apitype.Job]
	s.get(t, "/api/v1/scheduler/jobs", tok).JSON(t, &list)
	require.Len(t, list.Data, 2, "the refused job was not stored")

	resp := create(other)
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)

	resp = s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/scheduler/jobs/" + first.ID, Token: tok})
	require.Less(t, resp.Status, 300, "%s", resp.Body)
	resp = create(tok)
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
}
