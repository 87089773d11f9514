package grpcapi

import (
	"context"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/plans"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Plans is what PlanService needs of the plans family: the same calls
// REST's plans routes make. *plans.Service implements it.
type Plans interface {
	List(ctx context.Context, userID string, q plans.Query) ([]persist.Plan, string, error)
	Get(ctx context.Context, userID, id string) (persist.Plan, error)
	Versions(ctx context.Context, userID, id string) ([]persist.Plan, error)
	Edit(ctx context.Context, userID, id string, title *string, content string) (persist.Plan, error)
	Approve(ctx context.Context, userID, id string, execute bool, mode string) (plans.Approval, error)
	Reject(ctx context.Context, userID, id, feedback string) (persist.Plan, error)
}

// maxPlanListLimit caps a plan listing's limit, as REST does.
const maxPlanListLimit = 100

// planService translates PlanService to Plans.
type planService struct {
	seshatv1connect.UnimplementedPlanServiceHandler
	rt Plans
}

func (s *Server) planService() seshatv1connect.PlanServiceHandler {
	if s.deps.Plans == nil {
		return seshatv1connect.UnimplementedPlanServiceHandler{}
	}
	return planService{rt: s.deps.Plans}
}

func (h planService) ListPlans(ctx context.Context, req *connect.Request[seshatv1.ListPlansRequest]) (*connect.Response[seshatv1.ListPlansResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Limit < 0 || m.Limit > maxPlanListLimit {
		return nil, apierr.Invalid("limit must be a number from 1 to 100")
	}
	list, next, err := h.rt.List(ctx, p.UserID, plans.Query{
		WorkspaceID: m.WorkspaceId, SessionID: m.SessionId, Status: m.Status, Limit: int(m.Limit), Cursor: m.Cursor,
	})
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListPlansResponse{NextCursor: next, Data: make([]*seshatv1.Plan, len(list))}
	for i, pl := range list {
		out.Data[i] = planOf(pl)
	}
	return connect.NewResponse(out), nil
}

func (h planService) GetPlan(ctx context.Context, req *connect.Request[seshatv1.GetPlanRequest]) (*connect.Response[seshatv1.GetPlanResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	pl, err := h.rt.Get(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetPlanResponse{Plan: planOf(pl)}), nil
}

func (h planService) ListPlanVersions(ctx context.Context, req *connect.Request[seshatv1.ListPlanVersionsRequest]) (*connect.Response[seshatv1.ListPlanVersionsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := h.rt.Versions(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListPlanVersionsResponse{Data: make([]*seshatv1.Plan, len(vs))}
	for i, v := range vs {
		out.Data[i] = planOf(v)
	}
	return connect.NewResponse(out), nil
}

func (h planService) UpdatePlan(ctx context.Context, req *connect.Request[seshatv1.UpdatePlanRequest]) (*connect.Response[seshatv1.UpdatePlanResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	pl, err := h.rt.Edit(ctx, p.UserID, req.Msg.Id, req.Msg.Title, req.Msg.Content)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdatePlanResponse{Plan: planOf(pl)}), nil
}

func (h planService) ApprovePlan(ctx context.Context, req *connect.Request[seshatv1.ApprovePlanRequest]) (*connect.Response[seshatv1.ApprovePlanResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := h.rt.Approve(ctx, p.UserID, req.Msg.Id, req.Msg.GetExecute(), req.Msg.PermissionMode)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.ApprovePlanResponse{Plan: planOf(a.Plan), SessionId: a.SessionID, TurnId: a.TurnID}), nil
}

func (h planService) RejectPlan(ctx context.Context, req *connect.Request[seshatv1.RejectPlanRequest]) (*connect.Response[seshatv1.RejectPlanResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	pl, err := h.rt.Reject(ctx, p.UserID, req.Msg.Id, req.Msg.Feedback)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.RejectPlanResponse{Plan: planOf(pl)}), nil
}

func planOf(p persist.Plan) *seshatv1.Plan {
	return &seshatv1.Plan{
		Id: p.ID, WorkspaceId: p.WorkspaceID, SessionId: p.SessionID, TurnId: p.TurnID, Title: p.Title, Content: p.Content,
		Version: int32(p.Version), Status: p.Status, Feedback: p.Feedback, CreatedBy: p.CreatedBy,
		CreatedAt: timestamp(p.CreatedAt), DecidedAt: timestamp(p.DecidedAt), DecidedBy: p.DecidedBy, ExecutedTurnId: p.ExecutedTurnID,
	}
}
