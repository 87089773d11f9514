package httpapi

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/compat/chatcompat"
	"github.com/seshat-host/seshat/compat/openai"
	"github.com/seshat-host/seshat/http/apispec"
	"github.com/seshat-host/seshat/http/apitype"
)

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
	// doc describes the route in the OpenAPI document: a summary, the
	// request and response wire types, the query parameters and the error
	// statuses beyond those its shape implies. Every route has one; a test
	// fails when a route is added without it.
	doc apispec.Op
}

// routes is the route table: every endpoint of the server, in API.md's
// order, each with its description for the OpenAPI document
// (apispec.Describe, here d). Keep it the only place routes are
// registered.
func (s *Server) routes() []route {
	const (
		get   = fasthttp.MethodGet
		post  = fasthttp.MethodPost
		put   = fasthttp.MethodPut
		del   = fasthttp.MethodDelete
		patch = fasthttp.MethodPatch
	)
	d := apispec.Describe
	type prefs = map[string]json.RawMessage
	uploadCap := int(s.cfg.MaxUploadBytes) + uploadSlack
	return []route{
		// Auth & identity.
		{method: post, path: "/api/v1/auth/register", access: public, handle: s.register,
			doc: d("Register an account (the first becomes the server admin)").In(apitype.RegisterRequest{}).Out(201, apitype.AuthResponse{}).Fails(409, 429)},
		{method: post, path: "/api/v1/auth/login", access: public, handle: s.login,
			doc: d("Log in with email and password").In(apitype.LoginRequest{}).Out(200, apitype.AuthResponse{}).Fails(401, 429)},
		{method: get, path: "/api/v1/users/me", access: bearer, handle: s.me,
			doc: d("The caller's account").Out(200, apitype.User{})},
		// Static, so that it is not taken for the admin route
		// PATCH /api/v1/users/{id}.
		{method: patch, path: "/api/v1/users/me", access: bearer, handle: s.updateMe,
			doc: d("Change the caller's name or password (a wrong current password is 403)").In(apitype.UpdateMeRequest{}).Out(200, apitype.User{}).Fails(403)},
		{method: post, path: "/api/v1/users/me/api-keys", access: bearer, handle: s.createAPIKey,
			doc: d("Create an API key (its secret is shown only here)").In(apitype.CreateKeyRequest{}).Out(201, apitype.APIKey{})},
		{method: get, path: "/api/v1/users/me/api-keys", access: bearer, handle: s.listAPIKeys,
			doc: d("List the caller's API keys").Out(200, apitype.List[apitype.APIKey]{})},
		{method: del, path: "/api/v1/users/me/api-keys/{id}", access: bearer, handle: s.revokeAPIKey,
			doc: d("Revoke an API key").Empty(204)},
		{method: get, path: "/api/v1/users/me/preferences", access: bearer, needsRuntime: true, handle: s.getPreferences,
			doc: d("The caller's preferences").Out(200, prefs{})},
		{method: patch, path: "/api/v1/users/me/preferences", access: bearer, needsRuntime: true, handle: s.updatePreferences,
			doc: d("Change preferences (a null value removes one)").In(prefs{}).Out(200, prefs{})},

		{method: get, path: "/api/v1/users/me/invitations", access: bearer, needsRuntime: true, handle: s.listMyInvitations,
			doc: d("The caller's pending invitations to workspaces and organizations").Out(200, apitype.List[apitype.Invitation]{})},
		{method: post, path: "/api/v1/invitations/{id}/accept", access: bearer, needsRuntime: true, handle: s.acceptInvitation,
			doc: d("Accept an invitation: the grant it offers is made").Out(200, apitype.Invitation{}).Fails(409)},
		{method: post, path: "/api/v1/invitations/{id}/decline", access: bearer, needsRuntime: true, handle: s.declineInvitation,
			doc: d("Decline an invitation").Out(200, apitype.Invitation{}).Fails(409)},
		{method: del, path: "/api/v1/invitations/{id}", access: bearer, needsRuntime: true, handle: s.revokeInvitation,
			doc: d("Revoke an invitation (its inviter or the target's admins)").Empty(204).Fails(409)},

		// Users (server admins).
		{method: post, path: "/api/v1/users", access: admin, handle: s.createUser,
			doc: d("Create an account (how accounts are made when sign-up is closed)").In(apitype.CreateUserRequest{}).Out(201, apitype.User{}).Fails(409)},
		{method: get, path: "/api/v1/users", access: admin, needsRuntime: true, handle: s.listUsers,
			doc: d("List accounts").Query("cursor", "limit:integer").Out(200, apitype.UserList{})},
		{method: get, path: "/api/v1/users/{id}", access: admin, needsRuntime: true, handle: s.getUser,
			doc: d("An account").Out(200, apitype.User{})},
		{method: patch, path: "/api/v1/users/{id}", access: admin, needsRuntime: true, handle: s.updateUser,
			doc: d("Change an account's name, role or disabled state").In(apitype.UpdateUserRequest{}).Out(200, apitype.User{}).Fails(409)},

		// Organizations.
		{method: post, path: "/api/v1/organizations", access: bearer, needsRuntime: true, handle: s.createOrganization,
			doc: d("Create an organization").In(apitype.CreateOrganizationRequest{}).Out(201, apitype.Organization{})},
		{method: get, path: "/api/v1/organizations", access: bearer, needsRuntime: true, handle: s.listOrganizations,
			doc: d("List the caller's organizations").Out(200, apitype.List[apitype.Organization]{})},
		{method: get, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.getOrganization,
			doc: d("An organization").Out(200, apitype.Organization{})},
		{method: patch, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.updateOrganization,
			doc: d("Rename an organization").In(apitype.UpdateOrganizationRequest{}).Out(200, apitype.Organization{}).Fails(403)},
		{method: del, path: "/api/v1/organizations/{id}", access: bearer, needsRuntime: true, handle: s.deleteOrganization,
			doc: d("Delete an organization").Empty(204).Fails(403, 409)},
		{method: get, path: "/api/v1/organizations/{id}/members", access: bearer, needsRuntime: true, handle: s.listOrgMembers,
			doc: d("List an organization's members").Out(200, apitype.List[apitype.Member]{})},
		{method: post, path: "/api/v1/organizations/{id}/members", access: bearer, needsRuntime: true, handle: s.addOrgMember,
			doc: d("Add a member to an organization: server admins add directly, others invite (the invitee accepts)").In(apitype.AddMemberRequest{}).Out(201, apitype.AddMemberResult{}).Fails(403, 409)},
		{method: patch, path: "/api/v1/organizations/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.updateOrgMember,
			doc: d("Change an organization member's role").In(apitype.UpdateMemberRequest{}).Out(200, apitype.Member{}).Fails(403, 409)},
		{method: del, path: "/api/v1/organizations/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.removeOrgMember,
			doc: d("Remove an organization member").Empty(204).Fails(403, 409)},

		// Groups.
		{method: post, path: "/api/v1/groups", access: bearer, needsRuntime: true, handle: s.createGroup,
			doc: d("Create a group in an organization").In(apitype.CreateGroupRequest{}).Out(201, apitype.Group{}).Fails(403, 404, 409)},
		{method: get, path: "/api/v1/groups", access: bearer, needsRuntime: true, handle: s.listGroups,
			doc: d("List the groups the caller can see").Query("organization_id").Out(200, apitype.List[apitype.Group]{})},
		{method: get, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.getGroup,
			doc: d("A group").Out(200, apitype.Group{})},
		{method: patch, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.updateGroup,
			doc: d("Change a group").In(apitype.UpdateGroupRequest{}).Out(200, apitype.Group{}).Fails(403, 409)},
		{method: del, path: "/api/v1/groups/{id}", access: bearer, needsRuntime: true, handle: s.deleteGroup,
			doc: d("Delete a group").Empty(204).Fails(403)},
		{method: get, path: "/api/v1/groups/{id}/members", access: bearer, needsRuntime: true, handle: s.listGroupMembers,
			doc: d("List a group's members").Out(200, apitype.List[apitype.Member]{})},
		{method: post, path: "/api/v1/groups/{id}/members", access: bearer, needsRuntime: true, handle: s.addGroupMember,
			doc: d("Add a member to a group").In(apitype.AddMemberRequest{}).Out(201, apitype.Member{}).Fails(403, 409)},
		{method: del, path: "/api/v1/groups/{id}/members/{user_id}", access: bearer, needsRuntime: true, handle: s.removeGroupMember,
			doc: d("Remove a group member").Empty(204).Fails(403)},

		// Workspaces.
		{method: post, path: "/api/v1/workspaces", access: bearer, needsRuntime: true, handle: s.createWorkspace,
			doc: d("Create a workspace").In(apitype.CreateWorkspaceRequest{}).Out(201, apitype.Workspace{}).Fails(403, 404)},
		{method: get, path: "/api/v1/workspaces", access: bearer, needsRuntime: true, handle: s.listWorkspaces,
			doc: d("List the caller's workspaces with their role").Out(200, apitype.List[apitype.Workspace]{})},
		{method: get, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.getWorkspace,
			doc: d("A workspace").Out(200, apitype.Workspace{})},
		{method: patch, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.updateWorkspace,
			doc: d("Rename a workspace").In(apitype.UpdateWorkspaceRequest{}).Out(200, apitype.Workspace{}).Fails(403)},
		{method: del, path: "/api/v1/workspaces/{id}", access: bearer, needsRuntime: true, handle: s.deleteWorkspace,
			doc: d("Delete a workspace and everything in it").Out(200, apitype.DeletedWorkspace{}).Fails(403, 409)},
		{method: get, path: "/api/v1/workspaces/{id}/members", access: bearer, needsRuntime: true, handle: s.listWorkspaceMembers,
			doc: d("List a workspace's members").Out(200, apitype.List[apitype.Member]{})},
		{method: post, path: "/api/v1/workspaces/{id}/members", access: bearer, needsRuntime: true, handle: s.addWorkspaceMember,
			doc: d("Grant a user or group a role in a workspace: outside an organization, only server admins add users directly, others invite").In(apitype.AddMemberRequest{}).Out(201, apitype.AddMemberResult{}).Fails(403, 409)},
		{method: patch, path: "/api/v1/workspaces/{id}/members/{member_id}", access: bearer, needsRuntime: true, handle: s.updateWorkspaceMember,
			doc: d("Change a workspace member's role").In(apitype.UpdateMemberRequest{}).Out(200, apitype.Member{}).Fails(403, 409)},
		{method: del, path: "/api/v1/workspaces/{id}/members/{member_id}", access: bearer, needsRuntime: true, handle: s.removeWorkspaceMember,
			doc: d("Remove a workspace member").Empty(204).Fails(403, 409)},

		// Audit log.
		{method: get, path: "/api/v1/audit/logs", access: bearer, needsRuntime: true, handle: s.listAudit,
			doc: d("List audit entries, newest first").Query("actor_id", "action", "resource_type", "resource_id", "workspace_id", "organization_id", "outcome", "from::RFC 3339 time", "to::RFC 3339 time", "limit:integer", "cursor").Out(200, apitype.AuditList{})},
		{method: get, path: "/api/v1/audit/verify", access: admin, needsRuntime: true, handle: s.verifyAudit,
			doc: d("Verify the audit log's hash chain").Out(200, apitype.AuditVerification{})},

		// Quotas.
		{method: get, path: "/api/v1/quotas", access: bearer, needsRuntime: true, handle: s.myQuotas,
			doc: d("The caller's quotas and usage").Out(200, apitype.List[apitype.Quota]{})},
		{method: get, path: "/api/v1/quotas/{scope}/{id}", access: admin, needsRuntime: true, handle: s.getQuota,
			doc: d("A user's, workspace's or organization's quota").Out(200, apitype.Quota{})},
		{method: put, path: "/api/v1/quotas/{scope}/{id}", access: admin, needsRuntime: true, handle: s.setQuota,
			doc: d("Set a quota's limits (0 is unlimited)").In(apitype.QuotaLimits{}).Out(200, apitype.Quota{})},

		// Sessions.
		{method: post, path: "/api/v1/sessions", access: bearer, needsRuntime: true, handle: s.createSession,
			doc: d("Create a session").In(apitype.CreateSessionRequest{}).Out(201, apitype.Session{}).Fails(403, 404)},
		{method: get, path: "/api/v1/sessions", access: bearer, needsRuntime: true, handle: s.listSessions,
			doc: d("List sessions, newest first; q searches titles and messages").Query("q", "workspace_id", "limit:integer", "cursor").Out(200, apitype.SessionList{})},
		{method: get, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.getSession,
			doc: d("A session with its messages and open requests").Out(200, apitype.Session{})},
		{method: patch, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.updateSession,
			doc: d("Change a session").In(apitype.UpdateSessionRequest{}).Out(200, apitype.Session{}).Fails(403)},
		{method: del, path: "/api/v1/sessions/{id}", access: bearer, needsRuntime: true, handle: s.deleteSession,
			doc: d("Delete a session (a running turn is interrupted first)").Empty(204).Fails(403)},
		{method: post, path: "/api/v1/sessions/{id}/interrupt", access: bearer, needsRuntime: true, handle: s.interruptSession,
			doc: d("Interrupt the running turn").Out(200, apitype.Interrupted{}).Fails(403)},
		{method: post, path: "/api/v1/sessions/{id}/permissions/{request_id}", access: bearer, needsRuntime: true, handle: s.decidePermission,
			doc: d("Allow or deny a tool call").In(apitype.PermissionDecision{}).Out(200, apitype.PermissionDecided{}).Fails(403, 409)},
		{method: post, path: "/api/v1/sessions/{id}/prompts/{request_id}", access: bearer, needsRuntime: true, handle: s.answerPrompt,
			doc: d("Answer the model's question").In(apitype.PromptAnswer{}).Out(200, apitype.PromptAnswered{}).Fails(403, 409)},
		{method: get, path: "/api/v1/sessions/{id}/stream", access: bearer, needsRuntime: true, handle: s.attachStream,
			doc: d("Re-attach to the current or last turn (Last-Event-ID or after=N)").Query("after:integer:replay the events after this id, as Last-Event-ID does").Stream()},

		// Query.
		{method: post, path: "/api/v1/query", access: bearer, needsRuntime: true, handle: s.query,
			doc: d("Run a turn to its end").In(apitype.QueryRequest{}).Out(200, apitype.QueryResponse{}).Fails(403, 404, 409, 502, 503)},
		{method: post, path: "/api/v1/query/stream", access: bearer, needsRuntime: true, handle: s.queryStream,
			doc: d("Run a turn, streaming its events").In(apitype.QueryRequest{}).Stream().Fails(403, 404, 409, 503)},

		// Scheduler jobs.
		{method: post, path: "/api/v1/scheduler/jobs", access: bearer, needsRuntime: true, handle: s.createJob,
			doc: d("Create a scheduled job").In(apitype.CreateJobRequest{}).Out(201, apitype.Job{}).Fails(403, 404)},
		{method: get, path: "/api/v1/scheduler/jobs", access: bearer, needsRuntime: true, handle: s.listJobs,
			doc: d("List the caller's jobs").Out(200, apitype.List[apitype.Job]{})},
		{method: get, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.getJob,
			doc: d("A job").Out(200, apitype.Job{})},
		{method: patch, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.updateJob,
			doc: d("Change a job (it re-arms at once)").In(apitype.UpdateJobRequest{}).Out(200, apitype.Job{}).Fails(403)},
		{method: del, path: "/api/v1/scheduler/jobs/{id}", access: bearer, needsRuntime: true, handle: s.deleteJob,
			doc: d("Delete a job and its runs").Empty(204).Fails(403)},
		{method: post, path: "/api/v1/scheduler/jobs/{id}/run", access: bearer, needsRuntime: true, handle: s.runJobNow,
			doc: d("Run a job now, outside its schedule").Out(202, apitype.RunStarted{}).Fails(403, 409)},
		{method: get, path: "/api/v1/scheduler/jobs/{id}/runs", access: bearer, needsRuntime: true, handle: s.listJobRuns,
			doc: d("List a job's runs, newest first").Out(200, apitype.List[apitype.JobRun]{})},

		// Health & metrics.
		{method: get, path: "/health", access: public, handle: s.health,
			doc: d("Liveness").Out(200, apitype.Health{})},
		{method: get, path: "/ready", access: public, handle: s.ready,
			doc: d("Readiness: 200 while the store answers and the server takes work, else 503").Out(200, apitype.Health{}).Fails(503)},
		{method: get, path: "/metrics", access: public, handle: s.promMetrics,
			doc: d("Metrics in the Prometheus text format").Bytes(200, "text/plain", "Prometheus text exposition format")},
		{method: get, path: "/api/v1/metrics", access: bearer, handle: s.jsonMetrics,
			doc: d("Metrics as JSON").Out(200, apitype.Metrics{})},

		// Files.
		{method: post, path: "/api/v1/files", access: bearer, maxBody: uploadCap, handle: s.uploadFile,
			doc: d("Upload a file into a workspace").Upload("workspace_id", "path").Out(201, apitype.File{}).Fails(403, 404)},
		{method: get, path: "/api/v1/files", access: bearer, handle: s.listFiles,
			doc: d("List a workspace's files").Query("workspace_id").Out(200, apitype.List[apitype.File]{}).Fails(404)},
		{method: get, path: "/api/v1/files/{id}", access: bearer, handle: s.getFile,
			doc: d("A file's metadata").Out(200, apitype.File{})},
		{method: get, path: "/api/v1/files/{id}/content", access: bearer, handle: s.fileContent,
			doc: d("A file's bytes, with its content type").Bytes(200, "*/*", "The file's bytes")},
		{method: del, path: "/api/v1/files/{id}", access: bearer, handle: s.deleteFile,
			doc: d("Delete a file").Empty(204).Fails(403)},

		// Knowledge: corpora, ingestion, search.
		{method: post, path: "/api/v1/corpora", access: bearer, handle: s.createCorpus,
			doc: d("Create a corpus in a workspace the caller edits").In(apitype.CreateCorpusRequest{}).Out(201, apitype.Corpus{}).Fails(403, 404, 503)},
		{method: get, path: "/api/v1/corpora", access: bearer, handle: s.listCorpora,
			doc: d("List corpora, newest first").Query("workspace_id", "limit:integer", "cursor").Out(200, apitype.CorpusList{}).Fails(404, 503)},
		{method: get, path: "/api/v1/corpora/{id}", access: bearer, handle: s.getCorpus,
			doc: d("A corpus").Out(200, apitype.Corpus{}).Fails(503)},
		{method: patch, path: "/api/v1/corpora/{id}", access: bearer, handle: s.updateCorpus,
			doc: d("Rename or re-describe a corpus").In(apitype.UpdateCorpusRequest{}).Out(200, apitype.Corpus{}).Fails(403, 503)},
		{method: del, path: "/api/v1/corpora/{id}", access: bearer, handle: s.deleteCorpus,
			doc: d("Delete a corpus with its chunks and index (the files stay)").Empty(204).Fails(403, 503)},
		{method: post, path: "/api/v1/corpora/{id}/files", access: bearer, handle: s.addCorpusFiles,
			doc: d("Add workspace files to a corpus: an ingestion job lists every file's outcome").In(apitype.AddCorpusFilesRequest{}).Out(202, apitype.IngestJob{}).Fails(403, 503)},
		{method: get, path: "/api/v1/corpora/{id}/files", access: bearer, handle: s.listCorpusFiles,
			doc: d("List a corpus's files with their ingestion status").Out(200, apitype.List[apitype.CorpusFile]{}).Fails(503)},
		{method: get, path: "/api/v1/corpora/{id}/files/{file_id}", access: bearer, handle: s.getCorpusFile,
			doc: d("A file of a corpus").Out(200, apitype.CorpusFile{}).Fails(503)},
		{method: del, path: "/api/v1/corpora/{id}/files/{file_id}", access: bearer, handle: s.removeCorpusFile,
			doc: d("Remove a file from a corpus; its chunks leave search at once").Empty(204).Fails(403, 503)},
		{method: post, path: "/api/v1/corpora/{id}/files/{file_id}/retry", access: bearer, handle: s.retryCorpusFile,
			doc: d("Ingest a failed or cancelled file again").Out(202, apitype.IngestJob{}).Fails(403, 409, 503)},
		{method: get, path: "/api/v1/corpora/{id}/jobs", access: bearer, handle: s.listIngestJobs,
			doc: d("List a corpus's ingestion jobs, newest first").Out(200, apitype.List[apitype.IngestJob]{}).Fails(503)},
		{method: get, path: "/api/v1/corpora/{id}/jobs/{job_id}", access: bearer, handle: s.getIngestJob,
			doc: d("An ingestion job").Out(200, apitype.IngestJob{}).Fails(503)},
		{method: post, path: "/api/v1/corpora/{id}/jobs/{job_id}/cancel", access: bearer, handle: s.cancelIngestJob,
			doc: d("Cancel an ingestion job: its files not yet done become cancelled").Out(200, apitype.IngestJob{}).Fails(403, 503)},
		{method: get, path: "/api/v1/corpora/{id}/events", access: bearer, handle: s.corpusEvents,
			doc: d("Follow a corpus's file changes: numbered `event: corpus` (Last-Event-ID or after=N)").Query("after:integer:replay the events after this id, as Last-Event-ID does").Bytes(200, "text/event-stream", "Numbered `event: corpus` events whose data is a CorpusEvent").Fails(429, 503)},
		{method: post, path: "/api/v1/corpora/{id}/search", access: bearer, noAudit: true, handle: s.searchCorpus,
			doc: d("Search a corpus (bm25, vector, or both fused by reciprocal rank)").In(apitype.SearchCorpusRequest{}).Out(200, apitype.SearchCorpusResponse{}).Fails(503)},
		{method: post, path: "/api/v1/corpora/{id}/reindex", access: bearer, handle: s.reindexCorpus,
			doc: d("Re-embed every file of a corpus with the configured embedder").Out(202, apitype.IngestJob{}).Fails(403, 409, 503)},

		// Memories.
		{method: post, path: "/api/v1/memories", access: bearer, handle: s.createMemory,
			doc: d("Save a memory (a repeat of an active memory is a noop)").In(apitype.CreateMemoryRequest{}).Out(201, apitype.MemoryWrite{}).Out(200, apitype.MemoryWrite{}).Fails(403, 404, 503)},
		{method: get, path: "/api/v1/memories", access: bearer, handle: s.listMemories,
			doc: d("List memories, newest first").Query("scope", "workspace_id", "kind", "status", "q", "limit:integer", "cursor").Out(200, apitype.MemoryList{}).Fails(404, 503)},
		{method: post, path: "/api/v1/memories/search", access: bearer, noAudit: true, handle: s.searchMemories,
			doc: d("Rank memories against a query (superseded ones left out unless asked)").In(apitype.SearchMemoriesRequest{}).Out(200, apitype.List[apitype.MemoryHit]{}).Fails(404, 503)},
		{method: post, path: "/api/v1/memories/extract", access: bearer, handle: s.extractMemories,
			doc: d("Extract memories from a session now (dry_run reports without writing)").In(apitype.ExtractMemoriesRequest{}).Out(200, apitype.ExtractMemoriesResponse{}).Fails(404, 502, 503)},
		{method: get, path: "/api/v1/memories/{id}", access: bearer, handle: s.getMemory,
			doc: d("A memory").Out(200, apitype.Memory{}).Fails(503)},
		{method: patch, path: "/api/v1/memories/{id}", access: bearer, handle: s.updateMemory,
			doc: d("Change a memory: a new memory supersedes it").In(apitype.UpdateMemoryRequest{}).Out(200, apitype.Memory{}).Fails(403, 409, 503)},
		{method: del, path: "/api/v1/memories/{id}", access: bearer, handle: s.deleteMemory,
			doc: d("Delete a memory for good").Empty(204).Fails(403, 503)},
		// Skills.
		// Plans.
		{method: get, path: "/api/v1/plans", access: bearer, handle: s.listPlans,
			doc: d("List plans (their latest versions), newest first").Query("workspace_id", "session_id", "status", "limit:integer", "cursor").Out(200, apitype.PlanList{}).Fails(404, 503)},
		{method: get, path: "/api/v1/plans/{id}", access: bearer, handle: s.getPlan,
			doc: d("A plan: its latest version").Out(200, apitype.Plan{}).Fails(503)},
		{method: get, path: "/api/v1/plans/{id}/versions", access: bearer, handle: s.planVersions,
			doc: d("Every version of a plan, oldest first").Out(200, apitype.List[apitype.Plan]{}).Fails(503)},
		{method: patch, path: "/api/v1/plans/{id}", access: bearer, handle: s.updatePlan,
			doc: d("Edit a proposed plan: a new version, the one before it superseded").In(apitype.UpdatePlanRequest{}).Out(200, apitype.Plan{}).Fails(403, 409, 503)},
		{method: post, path: "/api/v1/plans/{id}/approve", access: bearer, handle: s.approvePlan,
			doc: d("Approve a proposed plan; with execute, start the turn that carries it out (follow it on the session's stream)").In(apitype.ApprovePlanRequest{}).Out(200, apitype.ApprovePlanResponse{}).Fails(403, 409, 429, 503)},
		{method: post, path: "/api/v1/plans/{id}/reject", access: bearer, handle: s.rejectPlan,
			doc: d("Reject a proposed plan, with feedback for the session's next turn").In(apitype.RejectPlanRequest{}).Out(200, apitype.Plan{}).Fails(403, 409, 503)},
		{method: post, path: "/api/v1/skills", access: bearer, maxBody: uploadCap, handle: s.createSkill,
			doc: d("Add a skill: a .zip or .tar.gz of one skill folder, or its name, description and instructions").
				Detail("An archive is checked before anything is stored: no path outside the folder, no link, at most SESHAT_SKILL_MAX_BYTES uncompressed. A broken rule of the Agent Skills format is a 400 that names it. Without workspace_id the skill is global (server admins only).").
				In(apitype.CreateSkillRequest{}).Upload("workspace_id").Out(201, apitype.Skill{}).Fails(403, 404, 409, 413, 415, 503)},
		{method: get, path: "/api/v1/skills", access: bearer, handle: s.listSkills,
			doc: d("List the skills of a workspace and the global ones").Query("workspace_id").Out(200, apitype.List[apitype.Skill]{}).Fails(404, 503)},
		{method: post, path: "/api/v1/skills/repositories", access: admin, handle: s.createSkillRepository,
			doc: d("Add a git repository (https:// or file://) whose skills sync into the global scope").In(apitype.CreateSkillRepositoryRequest{}).Out(201, apitype.SkillRepository{}).Fails(503)},
		{method: get, path: "/api/v1/skills/repositories", access: admin, handle: s.listSkillRepositories,
			doc: d("List the skill repositories").Out(200, apitype.List[apitype.SkillRepository]{}).Fails(503)},
		{method: get, path: "/api/v1/skills/repositories/{id}", access: admin, handle: s.getSkillRepository,
			doc: d("A skill repository").Out(200, apitype.SkillRepository{}).Fails(503)},
		{method: del, path: "/api/v1/skills/repositories/{id}", access: admin, handle: s.deleteSkillRepository,
			doc: d("Delete a skill repository and the skills synced from it").Empty(204).Fails(503)},
		{method: post, path: "/api/v1/skills/repositories/{id}/sync", access: admin, handle: s.syncSkillRepository,
			doc: d("Sync a repository: what it added, updated and removed, and the paths that failed").Out(200, apitype.SkillSyncResult{}).Fails(409, 502, 503)},
		{method: get, path: "/api/v1/skills/{id}", access: bearer, handle: s.getSkill,
			doc: d("A skill with its instructions").Out(200, apitype.Skill{}).Fails(503)},
		{method: patch, path: "/api/v1/skills/{id}", access: bearer, handle: s.updateSkill,
			doc: d("Turn a skill on or off").In(apitype.UpdateSkillRequest{}).Out(200, apitype.Skill{}).Fails(403, 503)},
		{method: del, path: "/api/v1/skills/{id}", access: bearer, handle: s.deleteSkill,
			doc: d("Delete an uploaded skill (a synced one is read-only: 409)").Empty(204).Fails(403, 409, 503)},
		{method: get, path: "/api/v1/skills/{id}/files/{path:*}", access: bearer, handle: s.skillFile,
			doc: d("One file of a skill").Bytes(200, "*/*", "The file's bytes").Fails(503)},

		// Agent profiles.
		{method: post, path: "/api/v1/agents", access: bearer, handle: s.createAgent,
			doc: d("Add an agent profile (version 1)").
				Detail("slug is 1 to 64 characters of a-z, 0-9 and -, unique within its workspace (409). Without workspace_id the profile is server-wide (server admins only). permission_mode accept_all needs a workspace admin; an unknown mcp_servers id is a 400.").
				In(apitype.AgentRequest{}).Out(201, apitype.Agent{}).Fails(403, 404, 409, 503)},
		{method: get, path: "/api/v1/agents", access: bearer, handle: s.listAgents,
			doc: d("List the agent profiles of the caller's workspaces (or one of them) and the server-wide ones").Query("workspace_id", "slug").Out(200, apitype.List[apitype.Agent]{}).Fails(404, 503)},
		{method: get, path: "/api/v1/agents/{id}", access: bearer, handle: s.getAgent,
			doc: d("The current version of an agent profile").Out(200, apitype.Agent{}).Fails(503)},
		{method: patch, path: "/api/v1/agents/{id}", access: bearer, handle: s.updateAgent,
			doc: d("Change an agent profile: the change is a new version; sessions keep the version they started with").In(apitype.AgentRequest{}).Out(200, apitype.Agent{}).Fails(403, 409, 503)},
		{method: del, path: "/api/v1/agents/{id}", access: bearer, handle: s.deleteAgent,
			doc: d("Delete an agent profile; sessions that use one of its versions keep it").Empty(204).Fails(403, 503)},
		{method: get, path: "/api/v1/agents/{id}/versions", access: bearer, handle: s.agentVersions,
			doc: d("Every version of an agent profile, newest first").Out(200, apitype.List[apitype.Agent]{}).Fails(503)},

		// MCP servers.
		{method: post, path: "/api/v1/mcp/servers", access: bearer, handle: s.createMCPServer,
			doc: d("Add an MCP server (stdio and global ones: server admins; HTTP ones: workspace admins)").In(apitype.MCPServerRequest{}).Out(201, apitype.MCPServer{}).Fails(403, 404, 409)},
		{method: get, path: "/api/v1/mcp/servers", access: bearer, handle: s.listMCPServers,
			doc: d("List the MCP servers of a workspace and the global ones").Query("workspace_id").Out(200, apitype.MCPServerList{}).Fails(404)},
		{method: get, path: "/api/v1/mcp/servers/{id}", access: bearer, handle: s.getMCPServer,
			doc: d("An MCP server").Out(200, apitype.MCPServer{})},
		{method: patch, path: "/api/v1/mcp/servers/{id}", access: bearer, handle: s.updateMCPServer,
			doc: d("Change an MCP server; its connections restart").In(apitype.MCPServerRequest{}).Out(200, apitype.MCPServer{}).Fails(403, 409)},
		{method: del, path: "/api/v1/mcp/servers/{id}", access: bearer, handle: s.deleteMCPServer,
			doc: d("Delete an MCP server; its connections and processes end").Empty(204).Fails(403)},
		{method: get, path: "/api/v1/mcp/servers/{id}/tools", access: bearer, handle: s.mcpServerTools,
			doc: d("List an MCP server's tools").Out(200, apitype.MCPToolList{}).Fails(409, 502)},
		{method: post, path: "/api/v1/mcp/servers/{id}/test", access: bearer, noAudit: true, handle: s.testMCPServer,
			doc: d("Connect to an MCP server afresh and report").Out(200, apitype.MCPTestResult{}).Fails(403)},

		// Web search.
		{method: get, path: "/api/v1/web/search/settings", access: bearer, handle: s.getWebSearchSettings,
			doc: d("The web search settings").Out(200, apitype.WebSearchSettings{})},
		{method: put, path: "/api/v1/web/search/settings", access: admin, handle: s.putWebSearchSettings,
			doc: d("Set the web search provider").In(apitype.WebSearchSettingsRequest{}).Out(200, apitype.WebSearchSettings{})},
		{method: post, path: "/api/v1/web/search/settings/test", access: admin, noAudit: true, handle: s.testWebSearchSettings,
			doc: d("Run a test search against the provider").Out(200, apitype.WebSearchTestResult{}).Fails(409)},
		{method: post, path: "/api/v1/web/search", access: bearer, noAudit: true, handle: s.webSearch,
			doc: d("Search the web").In(apitype.WebSearchRequest{}).Out(200, apitype.WebSearchResponse{}).Fails(409, 429, 502)},

		// Provider settings.
		{method: post, path: "/api/v1/settings/providers", access: bearer, needsRuntime: true, handle: s.createProviderSetting,
			doc: d("Create a provider setting").In(apitype.CreateProviderSettingRequest{}).Out(201, apitype.ProviderSetting{}).Fails(403, 404)},
		{method: get, path: "/api/v1/settings/providers", access: bearer, needsRuntime: true, handle: s.listProviderSettings,
			doc: d("List the provider settings the caller may use").Query("workspace_id").Out(200, apitype.ProviderSettingList{})},
		{method: put, path: "/api/v1/settings/providers/default", access: bearer, needsRuntime: true, handle: s.setDefaultProviderSetting,
			doc: d("Set the caller's default provider setting").In(apitype.DefaultProviderSettingRequest{}).Out(200, apitype.DefaultProviderSetting{}).Fails(404)},
		{method: get, path: "/api/v1/settings/providers/oauth/callback", access: public, needsRuntime: true, handle: s.providerOAuthCallback,
			doc: d("OAuth redirect target: completes a provider's authorization").Query("state", "code", "error").Out(200, apitype.ProviderSetting{}).Fails(404)},
		{method: get, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.getProviderSetting,
			doc: d("A provider setting").Out(200, apitype.ProviderSetting{})},
		{method: patch, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.updateProviderSetting,
			doc: d("Change a provider setting").In(apitype.UpdateProviderSettingRequest{}).Out(200, apitype.ProviderSetting{}).Fails(403)},
		{method: del, path: "/api/v1/settings/providers/{id}", access: bearer, needsRuntime: true, handle: s.deleteProviderSetting,
			doc: d("Delete a provider setting").Empty(204).Fails(403)},
		{method: get, path: "/api/v1/settings/providers/{id}/models", access: bearer, needsRuntime: true, handle: s.providerSettingModels,
			doc: d("List a provider setting's models").Out(200, apitype.ProviderModelList{})},
		{method: post, path: "/api/v1/settings/providers/{id}/test", access: bearer, needsRuntime: true, noAudit: true, handle: s.testProviderSetting,
			doc: d("Test a provider setting with a one-token call").In(apitype.TestProviderSettingRequest{}).Out(200, apitype.ProviderTestResult{})},
		{method: post, path: "/api/v1/settings/providers/{id}/oauth/start", access: bearer, needsRuntime: true, handle: s.startProviderOAuth,
			doc: d("Start a provider's OAuth authorization").Out(200, apitype.OAuthStart{}).Fails(400, 403)},

		// Embedder and storage settings.
		{method: get, path: "/api/v1/settings/embedder", access: bearer, handle: s.getEmbedderSettings,
			doc: d("The embedder setting").Out(200, apitype.EmbedderSettings{}).Fails(503)},
		{method: put, path: "/api/v1/settings/embedder", access: admin, handle: s.putEmbedderSettings,
			doc: d("Set the embedder (its dimension is probed); corpora embedded otherwise become needs_reindex").In(apitype.EmbedderSettingsRequest{}).Out(200, apitype.EmbedderSettings{}).Fails(503)},
		{method: post, path: "/api/v1/settings/embedder/test", access: admin, noAudit: true, handle: s.testEmbedder,
			doc: d("Probe the embedder with one request").Out(200, apitype.EmbedderTestResult{}).Fails(503)},
		{method: get, path: "/api/v1/settings/storage", access: admin, handle: s.getStorageSettings,
			doc: d("Storage usage, retention and limits").Out(200, apitype.StorageSettings{}).Fails(503)},
		{method: patch, path: "/api/v1/settings/storage", access: admin, handle: s.updateStorageSettings,
			doc: d("Keep retention and limits in the store (they win over the environment's at the next start)").In(apitype.StorageSettingsRequest{}).Out(200, apitype.StorageSettings{}).Fails(503)},

		// Console and API description.
		{method: get, path: "/", access: public, handle: s.toConsole,
			doc: d("Redirect to the web console").Redirect("To the console, under SESHAT_PUBLIC_URL's path prefix")},
		{method: get, path: "/console/{file:*}", access: public, handle: s.consoleFile,
			doc: d("The web console's files (index.html for /console/)").Bytes(200, "*/*", "The file, with a strict Content-Security-Policy").Empty(304).Fails(404)},
		{method: get, path: "/api/v1/openapi.json", access: public, handle: s.openAPI,
			doc: d("This OpenAPI 3.1 document").Out(200, map[string]any{})},

		// Anthropic-compatible Messages API.
		{method: post, path: "/v1/messages", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.messages,
			doc: d("Anthropic Messages API (JSON, or a stream of Anthropic events with stream: true)").In(anthropic.MessagesRequest{}).Lenient().Out(200, anthropic.MessagesResponse{}).Bytes(200, "text/event-stream", "Anthropic streaming events").ErrorsAs(anthropic.ErrorResponse{}).Fails(403, 404, 409)},
		{method: post, path: "/v1/messages/count_tokens", access: bearer, surface: anthropicSurface, noAudit: true, handle: s.countTokens,
			doc: d("Anthropic token count").In(anthropic.CountTokensRequest{}).Lenient().Out(200, anthropic.CountTokensResponse{}).ErrorsAs(anthropic.ErrorResponse{})},
		{method: get, path: "/v1/models", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.listModels,
			doc: d("Models, as Anthropic and OpenAI list them").Query("limit:integer", "after_id", "before_id").Out(200, anthropic.ModelList{}).ErrorsAs(anthropic.ErrorResponse{})},
		{method: get, path: "/v1/models/{model_id}", access: bearer, surface: anthropicSurface, needsRuntime: true, handle: s.getModel,
			doc: d("A model").Out(200, anthropic.Model{}).ErrorsAs(anthropic.ErrorResponse{})},

		// OpenAI-compatible Chat Completions API.
		{method: post, path: "/v1/chat/completions", access: bearer, surface: openaiSurface, needsRuntime: true, handle: s.chatCompletions,
			doc: d("OpenAI Chat Completions API (JSON, or a stream of chat.completion.chunk data lines ending in [DONE] with stream: true)").In(openai.ChatRequest{}).Lenient().Out(200, openai.ChatResponse{}).Bytes(200, "text/event-stream", "chat.completion.chunk data lines, then data: [DONE]").ErrorsAs(chatcompat.ErrorResponse{}).Fails(403, 404, 409)},
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
	// The pattern is boxed once here, not on every request.
	var pattern any = rt.path
	surf := rt.surface
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
