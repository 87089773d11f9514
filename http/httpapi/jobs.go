package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Jobs is what the scheduler handlers need of the runtime. *host.Host
// implements it.
type Jobs interface {
	CreateJob(ctx context.Context, userID string, spec host.JobSpec) (persist.Job, error)
	ListJobs(ctx context.Context, userID, workspaceID string) ([]persist.Job, error)
	GetJob(ctx context.Context, userID, id string) (persist.Job, error)
	UpdateJob(ctx context.Context, userID, id string, u host.JobUpdate) (persist.Job, error)
	DeleteJob(ctx context.Context, userID, id string) error
	RunJobNow(ctx context.Context, userID, id string) (string, error)
	ListRuns(ctx context.Context, userID, id string, limit int) ([]persist.JobRun, error)
}

// maxRunsLimit caps ?limit= of a run listing.
const maxRunsLimit = 1000

// POST /api/v1/scheduler/jobs → 201 job.
func (s *Server) createJob(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateJobRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	j, err := s.deps.Runtime.CreateJob(s.opCtx, p.UserID, host.JobSpec{
		Name: req.Name, Schedule: req.Schedule, Timezone: req.Timezone, Prompt: req.Prompt,
		WorkspaceID: req.WorkspaceID, SessionID: req.SessionID, Model: req.Model,
		PermissionMode: req.PermissionMode, Enabled: req.Enabled,
	})
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(j.ID, j.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, jobOf(j))
}

// GET /api/v1/scheduler/jobs?workspace_id= → 200 {data: [job]}, newest first.
func (s *Server) listJobs(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Runtime.ListJobs(s.opCtx, p.UserID, string(ctx.QueryArgs().Peek("workspace_id")))
	if err != nil {
		return err
	}
	out := make([]apitype.Job, len(list))
	for i, j := range list {
		out[i] = jobOf(j)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/scheduler/jobs/{id} → 200 job.
func (s *Server) getJob(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	j, err := s.deps.Runtime.GetJob(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, jobOf(j))
}

// PATCH /api/v1/scheduler/jobs/{id} → 200 job; the job re-arms at once.
func (s *Server) updateJob(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateJobRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	j, err := s.deps.Runtime.UpdateJob(s.opCtx, p.UserID, pathParam(ctx, "id"), host.JobUpdate{
		Name: req.Name, Schedule: req.Schedule, Timezone: req.Timezone, Prompt: req.Prompt,
		WorkspaceID: req.WorkspaceID, SessionID: req.SessionID, Model: req.Model,
		PermissionMode: req.PermissionMode, Enabled: req.Enabled,
	})
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, jobOf(j))
}

// DELETE /api/v1/scheduler/jobs/{id} → 204; a running run is interrupted.
func (s *Server) deleteJob(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Runtime.DeleteJob(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// POST /api/v1/scheduler/jobs/{id}/run → 202 {run_id}; 409 while a run is
// in progress. The body, if any, is ignored.
func (s *Server) runJobNow(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	runID, err := s.deps.Runtime.RunJobNow(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusAccepted, apitype.RunStarted{RunID: runID})
}

// GET /api/v1/scheduler/jobs/{id}/runs?limit= → 200 {data: [run]}, newest first.
func (s *Server) listJobRuns(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	limit := 0
	if l := ctx.QueryArgs().Peek("limit"); len(l) > 0 {
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 1 || n > maxRunsLimit {
			return invalid("limit must be a number from 1 to " + strconv.Itoa(maxRunsLimit))
		}
		limit = n
	}
	runs, err := s.deps.Runtime.ListRuns(s.opCtx, p.UserID, pathParam(ctx, "id"), limit)
	if err != nil {
		return err
	}
	out := make([]apitype.JobRun, len(runs))
	for i, r := range runs {
		out[i] = jobRunOf(r)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

func jobOf(j persist.Job) apitype.Job {
	return apitype.Job{
		ID: j.ID, Name: j.Name, Schedule: j.Schedule, Timezone: j.Timezone, Prompt: j.Prompt,
		WorkspaceID: j.WorkspaceID, SessionID: optString(j.SessionID), Model: optString(j.Model),
		PermissionMode: j.PermissionMode, RunAsUserID: j.UserID, Enabled: j.Enabled,
		NextRunAt: optTime(j.NextRunAt), LastRunAt: optTime(j.LastRunAt), LastStatus: optString(j.LastStatus),
		CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(),
	}
}

func jobRunOf(r persist.JobRun) apitype.JobRun {
	return apitype.JobRun{
		ID: r.ID, JobID: r.JobID, SessionID: optString(r.SessionID), TurnID: optString(r.TurnID),
		Status: r.Status, StopReason: optString(r.StopReason), Error: optString(r.Error),
		StartedAt: r.StartedAt.UTC(), FinishedAt: optTime(r.FinishedAt),
	}
}

// optString is nil for "", so that an unset field encodes as null.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optTime is nil for the zero time, so that an unset time encodes as null.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Compile-time check that the host is a Jobs backend.
var _ Jobs = (*host.Host)(nil)
