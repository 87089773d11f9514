package httpapi

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

// POST /api/v1/auth/register
func (s *Server) register(ctx *fasthttp.RequestCtx) error {
	var req apitype.RegisterRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	// The peer address, not X-Forwarded-For: a header would let any client
	// pick a fresh IP per attempt.
	g, err := s.deps.Auth.Register(s.opCtx, req.Email, req.Password, req.Name, ctx.RemoteIP().String())
	if err != nil {
		return err
	}
	// Only once the email is an account's: what a failed attempt typed
	// there may be a password.
	noteAudit(ctx).set("email", g.User.Email)
	noteAudit(ctx).actor(g.User.ID)
	noteAudit(ctx).resource(g.User.ID, g.User.DefaultWorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, authResponse(g))
}

// POST /api/v1/auth/login
func (s *Server) login(ctx *fasthttp.RequestCtx) error {
	var req apitype.LoginRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	g, err := s.deps.Auth.Login(s.opCtx, req.Email, req.Password, ctx.RemoteIP().String())
	var fail *auth.LoginFailure
	if errors.As(err, &fail) && fail.UserID != "" {
		// The account that was tried, never what was typed as its email.
		noteAudit(ctx).resource(fail.UserID, "")
	}
	if err != nil {
		return err
	}
	noteAudit(ctx).set("email", g.User.Email)
	noteAudit(ctx).actor(g.User.ID)
	noteAudit(ctx).resource(g.User.ID, "")
	return writeJSON(ctx, fasthttp.StatusOK, authResponse(g))
}

// GET /api/v1/users/me
func (s *Server) me(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	u, err := s.deps.Store.UserByID(p.UserID)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, userOf(u))
}

// PATCH /api/v1/users/me {name?, password?: {current, new}}
func (s *Server) updateMe(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateMeRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	var pw *auth.PasswordChange
	if req.Password != nil {
		pw = &auth.PasswordChange{Current: req.Password.Current, New: req.Password.New}
	}
	u, err := s.deps.Auth.UpdateMe(s.opCtx, p.UserID, req.Name, pw, ctx.RemoteIP().String())
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(u.ID, "")
	if req.Password != nil {
		noteAudit(ctx).set("password_changed", "true")
	}
	return writeJSON(ctx, fasthttp.StatusOK, userOf(u))
}

// POST /api/v1/users {email, password, name?, role?} (server admins)
func (s *Server) createUser(ctx *fasthttp.RequestCtx) error {
	var req apitype.CreateUserRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	u, err := s.deps.Auth.CreateUser(s.opCtx, req.Email, req.Password, req.Name, req.Role)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(u.ID, u.DefaultWorkspaceID)
	noteAudit(ctx).set("email", u.Email)
	noteAudit(ctx).set("role", u.Role)
	return writeJSON(ctx, fasthttp.StatusCreated, userOf(u))
}

// POST /api/v1/users/me/api-keys
func (s *Server) createAPIKey(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateKeyRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	k, err := s.deps.Auth.CreateAPIKey(s.opCtx, p.UserID, req.Name)
	if err != nil {
		return err
	}
	out := apiKeyOf(k.APIKey)
	noteAudit(ctx).resource(k.ID, "")
	noteAudit(ctx).set("name", k.Name)
	noteAudit(ctx).set("prefix", out.Prefix)
	out.Key = k.Key
	return writeJSON(ctx, fasthttp.StatusCreated, out)
}

// GET /api/v1/users/me/api-keys
func (s *Server) listAPIKeys(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	keys, err := s.deps.Auth.ListAPIKeys(p.UserID)
	if err != nil {
		return err
	}
	out := make([]apitype.APIKey, len(keys))
	for i, k := range keys {
		out[i] = apiKeyOf(k)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// DELETE /api/v1/users/me/api-keys/{id}
func (s *Server) revokeAPIKey(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Auth.RevokeAPIKey(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// principal returns the caller of a bearer route. A route that needs a
// caller but is declared public is a route-table mistake, not a request
// error: it panics, and the recovery middleware answers 500 and logs the
// stack.
func principal(ctx *fasthttp.RequestCtx) auth.Principal {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		panic("route has no principal: is it declared bearer?")
	}
	return p
}

// pathParam returns a path parameter. The router copies it, so it stays
// valid after the handler returns.
func pathParam(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	return v
}

func authResponse(g auth.Grant) apitype.AuthResponse {
	return apitype.AuthResponse{User: userOf(g.User), Token: g.Token, ExpiresAt: g.ExpiresAt.UTC()}
}

func userOf(u persist.User) apitype.User {
	return apitype.User{
		ID:                 u.ID,
		Email:              u.Email,
		Name:               u.Name,
		Role:               u.Role,
		DefaultWorkspaceID: u.DefaultWorkspaceID,
		CreatedAt:          u.CreatedAt.UTC(),
		Disabled:           u.Disabled,
	}
}

func apiKeyOf(k persist.APIKey) apitype.APIKey {
	out := apitype.APIKey{
		ID:        k.ID,
		Name:      k.Name,
		Prefix:    auth.DisplayPrefix(k),
		CreatedAt: k.CreatedAt.UTC(),
	}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}
