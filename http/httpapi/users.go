package httpapi

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Users is what the user administration and preferences handlers need of
// the runtime. *tenancy.Host implements it. The administration routes are
// for server admins; the route table says so, and adapt checks it.
type Users interface {
	ListUsers(ctx context.Context, cursor string, limit int) ([]persist.User, string, error)
	GetUser(ctx context.Context, id string) (persist.User, error)
	UpdateUser(ctx context.Context, id string, u tenancy.UserUpdate) (before, after persist.User, err error)
	Preferences(ctx context.Context, userID string) (map[string]json.RawMessage, error)
	UpdatePreferences(ctx context.Context, userID string, patch map[string]json.RawMessage) (map[string]json.RawMessage, error)
}

// GET /api/v1/users?cursor=&limit= (server admins)
func (s *Server) listUsers(ctx *fasthttp.RequestCtx) error {
	limit := 0
	if l := ctx.QueryArgs().Peek("limit"); len(l) > 0 {
		var err error
		if limit, err = strconv.Atoi(string(l)); err != nil || limit < 1 || limit > 500 {
			return invalid("limit must be a number from 1 to 500")
		}
	}
	users, next, err := s.deps.Tenancy.ListUsers(s.opCtx, string(ctx.QueryArgs().Peek("cursor")), limit)
	if err != nil {
		return err
	}
	out := apitype.UserList{Data: make([]apitype.User, len(users)), NextCursor: next}
	for i, u := range users {
		out.Data[i] = userOf(u)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/users/{id} (server admins)
func (s *Server) getUser(ctx *fasthttp.RequestCtx) error {
	u, err := s.deps.Tenancy.GetUser(s.opCtx, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, userOf(u))
}

// PATCH /api/v1/users/{id} {name?, role?, disabled?} (server admins)
func (s *Server) updateUser(ctx *fasthttp.RequestCtx) error {
	var req apitype.UpdateUserRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	before, after, err := s.deps.Tenancy.UpdateUser(s.opCtx, pathParam(ctx, "id"), tenancy.UserUpdate{Name: req.Name, Role: req.Role, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	n := noteAudit(ctx)
	if before.Role != after.Role {
		n.set("role", after.Role)
		n.set("previous_role", before.Role)
	}
	if before.Disabled != after.Disabled {
		n.set("disabled", strconv.FormatBool(after.Disabled))
	}
	return writeJSON(ctx, fasthttp.StatusOK, userOf(after))
}

// GET /api/v1/users/me/preferences
func (s *Server) getPreferences(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	prefs, err := s.deps.Tenancy.Preferences(s.opCtx, p.UserID)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, prefs)
}

// PATCH /api/v1/users/me/preferences {key: value | null, …}
func (s *Server) updatePreferences(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var patch map[string]json.RawMessage
	if err := decodeJSON(ctx, &patch); err != nil {
		return err
	}
	if patch == nil {
		return invalid("the body must be a JSON object")
	}
	prefs, err := s.deps.Tenancy.UpdatePreferences(s.opCtx, p.UserID, patch)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, prefs)
}
