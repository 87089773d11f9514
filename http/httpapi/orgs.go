package httpapi

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Organizations is what the organization handlers need of the runtime.
// *tenancy.Host implements it.
type Organizations interface {
	CreateOrganization(ctx context.Context, userID, name string) (tenancy.OrgView, error)
	ListOrganizations(ctx context.Context, userID string) ([]tenancy.OrgView, error)
	GetOrganization(ctx context.Context, userID, id string) (tenancy.OrgView, error)
	UpdateOrganization(ctx context.Context, userID, id string, name *string) (tenancy.OrgView, error)
	DeleteOrganization(ctx context.Context, userID, id string) error
	ListOrgMembers(ctx context.Context, userID, id string) ([]tenancy.OrgMemberView, error)
	AddOrgMember(ctx context.Context, userID, orgID string, ref tenancy.UserRef, role string) (tenancy.OrgMemberView, error)
	UpdateOrgMember(ctx context.Context, userID, orgID, memberID, role string) (tenancy.OrgMemberView, error)
	RemoveOrgMember(ctx context.Context, userID, orgID, memberID string) error
}

// POST /api/v1/organizations → 201 organization.
func (s *Server) createOrganization(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateOrganizationRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Tenancy.CreateOrganization(s.opCtx, p.UserID, req.Name)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(v.Org.ID, "")
	noteAudit(ctx).org(v.Org.ID)
	return writeJSON(ctx, fasthttp.StatusCreated, orgOf(v))
}

// GET /api/v1/organizations → the caller's organizations.
func (s *Server) listOrganizations(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Tenancy.ListOrganizations(s.opCtx, p.UserID)
	if err != nil {
		return err
	}
	out := make([]apitype.Organization, len(list))
	for i, v := range list {
		out[i] = orgOf(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/organizations/{id}
func (s *Server) getOrganization(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	v, err := s.deps.Tenancy.GetOrganization(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, orgOf(v))
}

// PATCH /api/v1/organizations/{id} {name?}
func (s *Server) updateOrganization(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateOrganizationRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Tenancy.UpdateOrganization(s.opCtx, p.UserID, pathParam(ctx, "id"), req.Name)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, orgOf(v))
}

// DELETE /api/v1/organizations/{id} → 204.
func (s *Server) deleteOrganization(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Tenancy.DeleteOrganization(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// GET /api/v1/organizations/{id}/members
func (s *Server) listOrgMembers(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Tenancy.ListOrgMembers(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.Member, len(list))
	for i, m := range list {
		out[i] = userMember(m.User, m.Role)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// POST /api/v1/organizations/{id}/members {user_id | email, role?} → 201.
func (s *Server) addOrgMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.AddMemberRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	m, err := s.deps.Tenancy.AddOrgMember(s.opCtx, p.UserID, pathParam(ctx, "id"), tenancy.UserRef{ID: req.UserID, Email: req.Email}, req.Role)
	if err != nil {
		return err
	}
	if m.Invitation != nil {
		return writeInvitation(ctx, m.Invitation)
	}
	noteAudit(ctx).set("member_id", m.User.ID)
	noteAudit(ctx).set("role", m.Role)
	return writeJSON(ctx, fasthttp.StatusCreated, userMember(m.User, m.Role))
}

// PATCH /api/v1/organizations/{id}/members/{user_id} {role}
func (s *Server) updateOrgMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateMemberRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	noteAudit(ctx).set("role", req.Role)
	m, err := s.deps.Tenancy.UpdateOrgMember(s.opCtx, p.UserID, pathParam(ctx, "id"), pathParam(ctx, "user_id"), req.Role)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, userMember(m.User, m.Role))
}

// DELETE /api/v1/organizations/{id}/members/{user_id} → 204.
func (s *Server) removeOrgMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Tenancy.RemoveOrgMember(s.opCtx, p.UserID, pathParam(ctx, "id"), pathParam(ctx, "user_id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func orgOf(v tenancy.OrgView) apitype.Organization {
	return apitype.Organization{
		ID: v.Org.ID, Name: v.Org.Name, Role: v.Role, CreatedBy: v.Org.CreatedBy,
		CreatedAt: v.Org.CreatedAt.UTC(), UpdatedAt: v.Org.UpdatedAt.UTC(),
	}
}

func userMember(u persist.User, role string) apitype.Member {
	return apitype.Member{Type: "user", ID: u.ID, Role: role, Email: u.Email, Name: u.Name}
}
