package httpapi

import "github.com/valyala/fasthttp"

// handlerFunc is the shape of every handler: it writes a success response
// or returns an error for writeError, never both.
type handlerFunc func(ctx *fasthttp.RequestCtx) error

// access says who may call a route.
type access uint8

const (
	// public routes need no credential.
	public access = iota
	// bearer routes need a JWT or an sk- API key; the handler finds the
	// caller with auth.PrincipalFrom.
	bearer
	// admin routes are bearer routes for server admins only: anyone else
	// gets 403. adapt checks the role; handlers never do.
	admin
)

// route is one line of the route table.
type route struct {
	method string
	path   string
	access access
	// maxBody, if non-zero, replaces Config.MaxBodyBytes as the route's
	// body cap. Only static paths may set it (see headerReceived).
	maxBody int
	// needsRuntime marks routes served by the session runtime.
	needsRuntime bool
	// surface is the API family: it picks the error body's shape and, for
	// bearer routes of the Anthropic surface, also accepts x-api-key.
	surface surface
	// noAudit exempts a POST that changes nothing (a token count, a
	// connection test) from the audit log, which records every other
	// request that is not a GET.
	noAudit bool
	handle  handlerFunc
}

// routes is the route table: every endpoint of the server, in API.md's
// order. Keep it the only place routes are registered.
func (s *Server) routes() []route {
	const (
		get   = fasthttp.MethodGet
		post  = fasthttp.MethodPost
		del   = fasthttp.MethodDelete
		patch = fasthttp.MethodPatch
	)
	uploadCap := int(s.cfg.MaxUploadBytes) + uploadSlack
	return []route{
		// Auth & identity.
		{method: post, path: "/api/v1/auth/register", access: public, handle: s.register},
		{method: post, path: "/api/v1/auth/login", access: public, handle: s.login},
		{method: get, path: "/api/v1/users/me", access: bearer, handle: s.me},
		{method: post, path: "/api/v1/users/me/api-keys", access: bearer, handle: s.createAPIKey},
		{method: get, path: "/api/v1/users/me/api-keys", access: bearer, handle: s.listAPIKeys},
		{method: del, path: "/api/v1/users/me/api-keys/{id}", access: bearer, handle: s.revokeAPIKey},
		{method: get, path: "/api/v1/users/me/preferences", access: bearer, needsRuntime: true, handle: s.getPreferences},
		{method: patch, path: "/api/v1/users/me/preferences", access: bearer, needsRuntime: true, handle: s.updatePreferences},

		// Users (server admins).
		{method: get, path: "/api/v1/users", access: admin, needsRuntime: true, handle: s.listUsers},
		{method: get, path: "/api/v1/users/{id}", access: admin, needsRuntime: true, handle: s.getUser},
		{method: patch, path: "/api/v1/users/{id}", access: admin, needsRuntime: true, handle: s.updateUser},

		// Organizations.
		{method: post, path: "/api/v1/organizations", access: bearer, needsRuntime: true, handle: s.createOrganization},
		{method: get, path: "/api/v1/organizations", access: bearer, needsRuntime: true, handle: s.listOrganizations},
		{method: get, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.getOrganization},
		{method: patch, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.updateOrganization},
		{method: del, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.deleteOrganization},
		{method: get, path: "/api/v1/organizations/{id}/members", access: bearer, needsRuntime: true, handle: s.listOrgMembers},
		{method: post, path: "/api/v1/organizations/{id}/members", access: bearer, needsRuntime: true, handle: s.addOrgMember},
		{method: patch, path: "/api/v1/organizations/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.updateOrgMember},
		{method: del, path: "/api/v1/organizations/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.removeOrgMember},

		// Groups.
		{method: post, path: "/api/v1/groups", access: bearer, needsRuntime: true, handle: s.createGroup},
		{method: get, path: "/api/v1/groups", access: bearer, needsRuntime: true, handle: s.listGroups},
		{method: get, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.getGroup},
		{method: patch, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.updateGroup},
		{method: del, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.deleteGroup},
		{method: get, path: "/api/v1/groups/{id}/members", access: bearer, needsRuntime: true, handle: s.listGroupMembers},
		{method: post, path: "/api/v1/groups/{id}/members", access: bearer, needsRuntime: true, handle: s.addGroupMember},
		{method: del, path: "/api/v1/groups/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.removeGroupMember},

		// Workspaces.
		{method: post, path: "/api/v1/workspaces", access: bearer, needsRuntime: true, handle: s.createWorkspace},
		{method: get, path: "/api/v1/workspaces", access: bearer, needsRuntime: true, handle: s.listWorkspaces},
		{method: get, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.getWorkspace},
		{method: patch, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.updateWorkspace},
		{method: del, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.deleteWorkspace},
		{method: get, path: "/api/v1/workspaces/{id}/members", access: bearer, needsRuntime: true, handle: s.listWorkspaceMembers},
		{method: post, path: "/api/v1/workspaces/{id}/members", access: bearer, needsRuntime: true, handle: s.addWorkspaceMember},
		{method: patch, path: "/api/v1/workspaces/{id}/members/{member_id}", access: bearer, needsRuntime: true, handle: s.updateWorkspaceMember},
		{method: del, path: "/api/v1/workspaces/{id}/members/{member_id}", access: bearer, needsRuntime: true, handle: s.removeWorkspaceMember},

		// Audit log.
		{method: get, path: "/api/v1/audit/logs", access: bearer, needsRuntime: true, handle: s.listAudit},
		{method: get, path: "/api/v1/audit/verify", access: admin, needsRuntime: true, handle: s.verifyAudit},

		// Quotas.
		{method: get, path: "/api/v1/quotas", access: bearer, needsRuntime: true, handle: s.myQuotas},
		{method: get, path: "/api/v1/quotas/{scope}/{id}", access: admin, needsRuntime: true, handle: s.getQuota},
		{method: fasthttp.MethodPut, path: "/api/v1/quotas/{scope}/{id}", access: admin, needsRuntime: true, handle: s.setQuota},

		// Sessions.
		{method: post, path: "/api/v1/sessions", access: bearer, needsRuntime: true, handle: s.createSession},
		{method: get, path: "/api/v1/sessions", access: bearer, needsRuntime: true, handle: s.listSessions},
		{method: get, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.getSession},
		{method: patch, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.updateSession},
		{method: del, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.deleteSession},
		{method: post, path: "/api/v1/sessions/{id}/interrupt", access: bearer, needsRuntime: true, handle: s.interruptSession},
		{method: post, path: "/api/v1/sessions/{id}/permissions/{request_id}", access: bearer, needsRuntime: true, handle: s.decidePermission},
		{method: post, path: "/api/v1/sessions/{id}/prompts/{request_id}", access: bearer, needsRuntime: true, handle: s.answerPrompt},
		{method: get, path: "/api/v1/sessions/{id}/stream", access: bearer, needsRuntime: true, handle: s.attachStream},

		// Query.
		{method: post, path: "/api/v1/query", access: bearer, needsRuntime: true, handle: s.query},
		{method: post, path: "/api/v1/query/stream", access: bearer, needsRuntime: true, handle: s.queryStream},

		// Scheduler jobs.
		{method: post, path: "/api/v1/scheduler/jobs", access: bearer, needsRuntime: true, handle: s.createJob},
		{method: get, path: "/api/v1/scheduler/jobs", access: bearer, needsRuntime: true, handle: s.listJobs},
		{method: get, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.getJob},
		{method: patch, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.updateJob},
		{method: del, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.deleteJob},
		{method: post, path: "/api/v1/scheduler/jobs/{id}/run", access: bearer, needsRuntime: true, handle: s.runJobNow},
		{method: get, path: "/api/v1/scheduler/jobs/{id}/runs", access: bearer, needsRuntime: true, handle: s.listJobRuns},

		// Health & metrics.
		{method: get, path: "/health", access: public, handle: s.health},
		{method: get, path: "/metrics", access: public, handle: s.promMetrics},
		{method: get, path: "/api/v1/metrics", access: bearer, handle: s.jsonMetrics},

		// Files.
		{method: post, path: "/api/v1/files", access: bearer, maxBody: uploadCap, handle: s.uploadFile},
		{method: get, path: "/api/v1/files", access: bearer, handle: s.listFiles},
		{method: get, path: "/api/v1/files/{id}", access: bearer, handle: s.getFile},
		{method: get, path: "/api/v1/files/{id}/content", access: bearer, handle: s.fileContent},
		{method: del, path: "/api/v1/files/{id}", access: bearer, handle: s.deleteFile},

		// Provider settings.
		{method: post, path: "/api/v1/settings/providers", access: bearer, needsRuntime: true, handle: s.createProviderSetting},
		{method: get, path: "/api/v1/settings/providers", access: bearer, needsRuntime: true, handle: s.listProviderSettings},
		{method: fasthttp.MethodPut, path: "/api/v1/settings/providers/default", access: bearer, needsRuntime: true, handle: s.setDefaultProviderSetting},
		{method: get, path: "/api/v1/settings/providers/oauth/callback", access: public, needsRuntime: true, handle: s.providerOAuthCallback},
		{method: get, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.getProviderSetting},
		{method: patch, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.updateProviderSetting},
		{method: del, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.deleteProviderSetting},
		{method: get, path: "/api/v1/settings/providers/{id}/models", access: bearer, needsRuntime: true, handle: s.providerSettingModels},
		{method: post, path: "/api/v1/settings/providers/{id}/test", access: bearer, needsRuntime: true, noAudit: true, handle: s.testProviderSetting},
		{method: post, path: "/api/v1/settings/providers/{id}/oauth/start", access: bearer, needsRuntime: true, handle: s.startProviderOAuth},

		// Anthropic-compatible Messages API.
		{method: post, path: "/v1/messages", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.messages},
		{method: post, path: "/v1/messages/count_tokens", access: bearer, surface: anthropicSurface, noAudit: true, handle: s.countTokens},
		{method: get, path: "/v1/models", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.listModels},
		{method: get, path: "/v1/models/{model_id}", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.getModel},
	}
}

// adapt turns a route into the router's handler: it records the route
// pattern for metrics and logs, applies the route's access rule (the only
// place a role is checked for a whole route), runs the handler, sends its
// error, if any, to writeError, and records every request that is not a
// GET in the audit log. It is the only place a handlerFunc is adapted.
func (s *Server) adapt(rt route) fasthttp.RequestHandler {
	h := rt.handle
	if rt.needsRuntime && s.deps.Runtime == nil {
		h = func(*fasthttp.RequestCtx) error { return errNoRuntime }
	}
	switch {
	case rt.access == admin:
		h = s.withAuth(requireAdmin(h))
	case rt.access == bearer && rt.surface == anthropicSurface:
		h = s.withAnthropicAuth(h)
	case rt.access == bearer:
		h = s.withAuth(h)
	}
	pattern, surf := rt.path, rt.surface
	audit := s.auditorFor(rt)
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetUserValue(routeKey{}, pattern)
		ctx.SetUserValue(surfaceKey{}, surf)
		note := audit.begin(ctx)
		err := h(ctx)
		if err != nil {
			s.writeError(ctx, err)
		}
		audit.end(ctx, note, err)
	}
}

// notFound answers a path no route matches.
func (s *Server) notFound(ctx *fasthttp.RequestCtx) {
	s.writeError(ctx, &Error{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Msg: "no such endpoint"})
}

// methodNotAllowed answers a known path with a method it does not take;
// the router has already set the Allow header.
func (s *Server) methodNotAllowed(ctx *fasthttp.RequestCtx) {
	s.writeError(ctx, &Error{Status: fasthttp.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Msg: "method not allowed"})
}
