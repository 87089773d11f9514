package grpcapi

import (
	"context"
	"strconv"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Jobs is what JobService needs of the runtime. *host.Host implements it.
type Jobs interface {
	CreateJob(ctx context.Context, userID string, spec host.JobSpec) (persist.Job, error)
	ListJobs(ctx context.Context, userID, workspaceID string) ([]persist.Job, error)
	GetJob(ctx context.Context, userID, id string) (persist.Job, error)
	UpdateJob(ctx context.Context, userID, id string, u host.JobUpdate) (persist.Job, error)
	DeleteJob(ctx context.Context, userID, id string) error
	RunJobNow(ctx context.Context, userID, id string) (string, error)
	ListRuns(ctx context.Context, userID, id string, limit int) ([]persist.JobRun, error)
}

// maxRunsLimit caps a run listing's limit, as REST does.
const maxRunsLimit = 1000

// jobService translates JobService to Jobs.
type jobService struct {
	seshatv1connect.UnimplementedJobServiceHandler
	rt Jobs
}

func (s *Server) jobService() seshatv1connect.JobServiceHandler {
	if s.deps.Jobs == nil {
		return seshatv1connect.UnimplementedJobServiceHandler{}
	}
	return jobService{rt: s.deps.Jobs}
}

func (h jobService) CreateJob(ctx context.Context, req *connect.Request[seshatv1.CreateJobRequest]) (*connect.Response[seshatv1.CreateJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	j, err := h.rt.CreateJob(ctx, p.UserID, host.JobSpec{
		Name: m.Name, Schedule: m.Schedule, Timezone: m.Timezone, Prompt: m.Prompt,
		WorkspaceID: m.WorkspaceId, SessionID: m.SessionId, Model: m.Model,
		PermissionMode: m.PermissionMode, Enabled: m.Enabled,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateJobResponse{Job: jobOf(j)}), nil
}

func (h jobService) ListJobs(ctx context.Context, req *connect.Request[seshatv1.ListJobsRequest]) (*connect.Response[seshatv1.ListJobsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.ListJobs(ctx, p.UserID, req.Msg.WorkspaceId)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListJobsResponse{Data: make([]*seshatv1.Job, len(list))}
	for i, j := range list {
		out.Data[i] = jobOf(j)
	}
	return connect.NewResponse(out), nil
}

func (h jobService) GetJob(ctx context.Context, req *connect.Request[seshatv1.GetJobRequest]) (*connect.Response[seshatv1.GetJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.GetJob(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetJobResponse{Job: jobOf(j)}), nil
}

func (h jobService) UpdateJob(ctx context.Context, req *connect.Request[seshatv1.UpdateJobRequest]) (*connect.Response[seshatv1.UpdateJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	j, err := h.rt.UpdateJob(ctx, p.UserID, m.Id, host.JobUpdate{
		Name: m.Name, Schedule: m.Schedule, Timezone: m.Timezone, Prompt: m.Prompt,
		WorkspaceID: m.WorkspaceId, SessionID: m.SessionId, Model: m.Model,
		PermissionMode: m.PermissionMode, Enabled: m.Enabled,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateJobResponse{Job: jobOf(j)}), nil
}

func (h jobService) DeleteJob(ctx context.Context, req *connect.Request[seshatv1.DeleteJobRequest]) (*connect.Response[seshatv1.DeleteJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteJob(ctx, p.UserID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteJobResponse{}), nil
}

func (h jobService) RunJob(ctx context.Context, req *connect.Request[seshatv1.RunJobRequest]) (*connect.Response[seshatv1.RunJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	runID, err := h.rt.RunJobNow(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.RunJobResponse{RunId: runID}), nil
}

func (h jobService) ListJobRuns(ctx context.Context, req *connect.Request[seshatv1.ListJobRunsRequest]) (*connect.Response[seshatv1.ListJobRunsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Limit < 0 || req.Msg.Limit > maxRunsLimit {
		return nil, apierr.Invalid("limit must be a number from 1 to " + strconv.Itoa(maxRunsLimit))
	}
	runs, err := h.rt.ListRuns(ctx, p.UserID, req.Msg.Id, int(req.Msg.Limit))
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListJobRunsResponse{Data: make([]*seshatv1.JobRun, len(runs))}
	for i, r := range runs {
		out.Data[i] = jobRunOf(r)
	}
	return connect.NewResponse(out), nil
}

var _ seshatv1connect.JobServiceHandler = jobService{}
