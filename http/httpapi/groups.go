package httpapi

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Groups is what the group handlers need of the runtime. *tenancy.Host
// implements it.
type Groups interface {
	CreateGroup(ctx context.Context, userID, orgID string, in tenancy.GroupInput) (persist.Group, error)
	ListGroups(ctx context.Context, userID, orgID string) ([]persist.Group, error)
	GetGroup(ctx context.Context, userID, id string) (persist.Group, error)
	UpdateGroup(ctx context.Context, userID, id string, in tenancy.GroupInput) (persist.Group, error)
	DeleteGroup(ctx context.Context, userID, id string) error
	ListGroupMembers(ctx context.Context, userID, id string) ([]persist.User, error)
	AddGroupMember(ctx context.Context, userID, id string, ref tenancy.UserRef) (persist.User, error)
	RemoveGroupMember(ctx context.Context, userID, id, memberID string) error
}

// POST /api/v1/groups {organization_id, name, description?} → 201 group.
func (s *Server) createGroup(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateGroupRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	g, err := s.deps.Tenancy.CreateGroup(s.opCtx, p.UserID, req.OrganizationID, tenancy.GroupInput{Name: &req.Name, Description: req.Description})
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(g.ID, "")
	noteAudit(ctx).org(g.OrgID)
	return writeJSON(ctx, fasthttp.StatusCreated, groupOf(g))
}

// GET /api/v1/groups?organization_id=
func (s *Server) listGroups(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Tenancy.ListGroups(s.opCtx, p.UserID, string(ctx.QueryArgs().Peek("organization_id")))
	if err != nil {
		return err
	}
	out := make([]apitype.Group, len(list))
	for i, g := range list {
		out[i] = groupOf(g)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/groups/{id}
func (s *Server) getGroup(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	g, err := s.deps.Tenancy.GetGroup(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, groupOf(g))
}

// PATCH /api/v1/groups/{id} {name?, description?}
func (s *Server) updateGroup(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateGroupRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	g, err := s.deps.Tenancy.UpdateGroup(s.opCtx, p.UserID, pathParam(ctx, "id"), tenancy.GroupInput{Name: req.Name, Description: req.Description})
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, groupOf(g))
}

// DELETE /api/v1/groups/{id} → 204.
func (s *Server) deleteGroup(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Tenancy.DeleteGroup(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// GET /api/v1/groups/{id}/members
func (s *Server) listGroupMembers(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	users, err := s.deps.Tenancy.ListGroupMembers(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.Member, len(users))
	for i, u := range users {
		out[i] = userMember(u, "")
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// POST /api/v1/groups/{id}/members {user_id | email} → 201.
func (s *Server) addGroupMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.AddMemberRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	u, err := s.deps.Tenancy.AddGroupMember(s.opCtx, p.UserID, pathParam(ctx, "id"), tenancy.UserRef{ID: req.UserID, Email: req.Email})
	if err != nil {
		return err
	}
	noteAudit(ctx).set("member_id", u.ID)
	return writeJSON(ctx, fasthttp.StatusCreated, userMember(u, ""))
}

// DELETE /api/v1/groups/{id}/members/{user_id} → 204.
func (s *Server) removeGroupMember(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Tenancy.RemoveGroupMember(s.opCtx, p.UserID, pathParam(ctx, "id"), pathParam(ctx, "user_id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func groupOf(g persist.Group) apitype.Group {
	return apitype.Group{
		ID: g.ID, OrganizationID: g.OrgID, Name: g.Name, Description: g.Description,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
}
