package httpapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/plans"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Plans is what the plans routes need of the plans family.
// *plans.Service implements it.
type Plans interface {
	List(ctx context.Context, userID string, q plans.Query) ([]persist.Plan, string, error)
	Get(ctx context.Context, userID, id string) (persist.Plan, error)
	Versions(ctx context.Context, userID, id string) ([]persist.Plan, error)
	Edit(ctx context.Context, userID, id string, title *string, content string) (persist.Plan, error)
	Approve(ctx context.Context, userID, id string, execute bool, mode string) (plans.Approval, error)
	Reject(ctx context.Context, userID, id, feedback string) (persist.Plan, error)
}

var _ Plans = (*plans.Service)(nil)

// errNoPlans answers the plans routes of a server built without the
// family.
var errNoPlans = fmt.Errorf("%w: plans are not configured", agent.ErrOverloaded)

func (s *Server) plans() (Plans, error) {
	if s.deps.Plans == nil {
		return nil, errNoPlans
	}
	return s.deps.Plans, nil
}

// GET /api/v1/plans?workspace_id=&session_id=&status=&limit=&cursor=
func (s *Server) listPlans(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	arg := func(name string) string { return string(args.Peek(name)) }
	q := plans.Query{WorkspaceID: arg("workspace_id"), SessionID: arg("session_id"), Status: arg("status"), Cursor: arg("cursor")}
	if l := arg("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 100 {
			return invalid("limit must be a number from 1 to 100")
		}
	}
	list, next, err := p.List(s.opCtx, principal(ctx).UserID, q)
	if err != nil {
		return err
	}
	out := apitype.PlanList{Data: make([]apitype.Plan, len(list)), NextCursor: next}
	for i, pl := range list {
		out.Data[i] = planOf(pl)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/plans/{id} → the latest version.
func (s *Server) getPlan(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	pl, err := p.Get(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, planOf(pl))
}

// GET /api/v1/plans/{id}/versions → every version, oldest first.
func (s *Server) planVersions(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	vs, err := p.Versions(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.Plan, len(vs))
	for i, v := range vs {
		out[i] = planOf(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// PATCH /api/v1/plans/{id} {title?, content} → a new version.
func (s *Server) updatePlan(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	var req apitype.UpdatePlanRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	pl, err := p.Edit(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.Title, req.Content)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(pl.ID, pl.WorkspaceID)
	noteAudit(ctx).set("version", strconv.Itoa(pl.Version))
	return writeJSON(ctx, fasthttp.StatusOK, planOf(pl))
}

// POST /api/v1/plans/{id}/approve {execute?, permission_mode?} → {plan,
// session_id, turn_id?}
func (s *Server) approvePlan(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	var req apitype.ApprovePlanRequest
	if err := decodeJSONOrEmpty(ctx, &req); err != nil {
		return err
	}
	a, err := p.Approve(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.Execute, req.PermissionMode)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(a.Plan.ID, a.Plan.WorkspaceID)
	out := apitype.ApprovePlanResponse{Plan: planOf(a.Plan), SessionID: a.SessionID}
	if a.TurnID != "" {
		noteAudit(ctx).set("turn_id", a.TurnID)
		out.TurnID = &a.TurnID
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// POST /api/v1/plans/{id}/reject {feedback?} → plan
func (s *Server) rejectPlan(ctx *fasthttp.RequestCtx) error {
	p, err := s.plans()
	if err != nil {
		return err
	}
	var req apitype.RejectPlanRequest
	if err := decodeJSONOrEmpty(ctx, &req); err != nil {
		return err
	}
	pl, err := p.Reject(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.Feedback)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(pl.ID, pl.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusOK, planOf(pl))
}

func planOf(p persist.Plan) apitype.Plan {
	out := apitype.Plan{
		ID: p.ID, WorkspaceID: p.WorkspaceID, SessionID: p.SessionID, TurnID: optString(p.TurnID),
		Title: p.Title, Content: p.Content, Version: p.Version, Status: p.Status, Feedback: optString(p.Feedback),
		CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt.UTC(), DecidedBy: optString(p.DecidedBy),
		ExecutedTurnID: optString(p.ExecutedTurnID),
	}
	if !p.DecidedAt.IsZero() {
		t := p.DecidedAt.UTC()
		out.DecidedAt = &t
	}
	return out
}
