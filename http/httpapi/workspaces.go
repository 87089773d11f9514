package httpapi

import (
	"context"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Workspaces is what the workspace handlers need of the runtime.
// *tenancy.Host implements it.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, userID, name, orgID string) (tenancy.WorkspaceView, error)
	ListWorkspaces(ctx context.Context, userID string) ([]tenancy.WorkspaceView, error)
	GetWorkspace(ctx context.Context, userID, id string) (tenancy.WorkspaceView, error)
	UpdateWorkspace(ctx context.Context, userID, id string, name *string) (tenancy.WorkspaceView, error)
	DeleteWorkspace(ctx context.Context, userID, id string) (persist.DeletedWorkspace, error)
	ListWorkspaceMembers(ctx context.Context, userID, id string) ([]tenancy.WorkspaceMember, error)
	AddWorkspaceMember(ctx context.Context, userID, id string, ref tenancy.MemberRef, role string) (tenancy.WorkspaceMember, error)
	UpdateWorkspaceMember(ctx context.Context, userID, id, memberID, role string) (tenancy.WorkspaceMember, error)
	RemoveWorkspaceMember(ctx context.Context, userID, id, memberID string) error
}

// POST /api/v1/workspaces {name, organization_id?} → 201 workspace.
func (s *Server) createWorkspace(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateWorkspaceRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Tenancy.CreateWorkspace(s.opCtx, p.UserID, req.Name, req.OrganizationID)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(v.Workspace.ID, v.Workspace.ID)
	return writeJSON(ctx, fasthttp.StatusCreated, workspaceOf(v))
}

// GET /api/v1/workspaces → the workspaces the caller has a role in.
func (s *Server) listWorkspaces(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Tenancy.ListWorkspaces(s.opCtx, p.UserID)
	if err != nil {
		return err
	}
	out := make([]apitype.Workspace, len(list))
	for i, v := range list {
		out[i] = workspaceOf(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/workspaces/{id}
func (s *Server) getWorkspace(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	v, err := s.deps.Tenancy.GetWorkspace(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, workspaceOf(v))
}

// PATCH /api/v1/workspaces/{id} {name?}
func (s *Server) updateWorkspace(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateWorkspaceRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Tenancy.UpdateWorkspace(s.opCtx, p.UserID, pathParam(ctx, "id"), req.Name)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, workspaceOf(v))
}

// DELETE /api/v1/workspaces/{id} → 200 with what was removed.
func (s *Server) deleteWorkspace(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	d, err := s.deps.Tenancy.DeleteWorkspace(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := apitype.DeletedWorkspace{Sessions: d.Sessions, Files: d.Files, Jobs: d.Jobs, ProviderSettings: d.Settings}
	n := noteAudit(ctx)
	n.set("sessions", strconv.Itoa(d.Sessions))
	n.set("files", strconv.Itoa(d.Files))
	n.set("jobs", strconv.Itoa(d.Jobs))
	n.set("provider_settings", strconv.Itoa(d.Settings))
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/workspaces/{id}/members
func (s *Server) listWorkspaceMembers(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Tenancy.ListWorkspaceMembers(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.Member, len(list))
	for i, m := range list {
		out[i] = workspaceMember(m)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// POST /api/v1/workspaces/{id}/members {user_id | email | group_id, role} → 201.
func (s *Server) addWorkspaceMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.AddMemberRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	ref := tenancy.MemberRef{UserRef: tenancy.UserRef{ID: req.UserID, Email: req.Email}, GroupID: req.GroupID}
	m, err := s.deps.Tenancy.AddWorkspaceMember(s.opCtx, p.UserID, pathParam(ctx, "id"), ref, req.Role)
	if err != nil {
		return err
	}
	if m.Invitation != nil {
		return writeInvitation(ctx, m.Invitation)
	}
	out := workspaceMember(m)
	noteAudit(ctx).set("member_id", out.ID)
	noteAudit(ctx).set("role", out.Role)
	return writeJSON(ctx, fasthttp.StatusCreated, out)
}

// PATCH /api/v1/workspaces/{id}/members/{member_id} {role}
func (s *Server) updateWorkspaceMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateMemberRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	noteAudit(ctx).set("role", req.Role)
	m, err := s.deps.Tenancy.UpdateWorkspaceMember(s.opCtx, p.UserID, pathParam(ctx, "id"), pathParam(ctx, "member_id"), req.Role)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, workspaceMember(m))
}

// DELETE /api/v1/workspaces/{id}/members/{member_id} → 204.
func (s *Server) removeWorkspaceMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Tenancy.RemoveWorkspaceMember(s.opCtx, p.UserID, pathParam(ctx, "id"), pathParam(ctx, "member_id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func workspaceOf(v tenancy.WorkspaceView) apitype.Workspace {
	w := v.Workspace
	updated := w.UpdatedAt
	if updated.IsZero() {
		updated = w.CreatedAt
	}
	return apitype.Workspace{
		ID: w.ID, Name: w.Name, OrganizationID: w.OrganizationID, OwnerID: w.OwnerID, Personal: w.Personal,
		Role: v.Role, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: updated.UTC(),
	}
}

func workspaceMember(m tenancy.WorkspaceMember) apitype.Member {
	if m.Group != nil {
		return apitype.Member{Type: "group", ID: m.Group.ID, Role: m.Role, Name: m.Group.Name}
	}
	return userMember(*m.User, m.Role)
}
