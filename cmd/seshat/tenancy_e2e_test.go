package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// tenants is the cast of the tenancy tests: a server admin, and two
// organizations.
//
//	root   the first user: server admin, in no organization
//	alice  owner of org1, admin of its workspace ws1
//	carol  member of org1, viewer of ws1
//	erin   member of org1, editor of ws1 through the group "editors"
//	bob    owner of org2 and its workspace ws2: an outsider to org1
type tenants struct {
	srv                            *testServer
	root, alice, bob, carol, erin  apitype.AuthResponse
	org1, org2, ws1, ws2, editors  string
	sess, sessPerm, sessPrompt     string
	permID, promptID, file, job    string
	wsSetting, ws2Session, ws2File string
}

// call sends a request and returns the response.
func (s *testServer) call(t testing.TB, method, path, token string, body any) response {
	t.Helper()
	return s.do(t, request{Method: method, Path: path, Token: token, Body: body})
}

// created decodes the body of a response that must have status.
func created[T any](t testing.TB, resp response, status int) T {
	t.Helper()
	require.Equal(t, status, resp.Status, "body: %s", resp.Body)
	var v T
	resp.JSON(t, &v)
	return v
}

func newTenants(t *testing.T) *tenants {
	t.Helper()
	srv := startServer(t, "", nil)
	tn := &tenants{srv: srv}
	tn.root = srv.register(t, "root@example.com", "password1")
	tn.alice = srv.register(t, "alice@example.com", "password1")
	tn.bob = srv.register(t, "bob@example.com", "password1")
	tn.carol = srv.register(t, "carol@example.com", "password1")
	tn.erin = srv.register(t, "erin@example.com", "password1")
	a, b := tn.alice.Token, tn.bob.Token

	tn.org1 = created[apitype.Organization](t, srv.call(t, "POST", "/api/v1/organizations", a, apitype.CreateOrganizationRequest{Name: "Org One"}), 201).ID
	tn.org2 = created[apitype.Organization](t, srv.call(t, "POST", "/api/v1/organizations", b, apitype.CreateOrganizationRequest{Name: "Org Two"}), 201).ID
	for _, u := range []apitype.AuthResponse{tn.carol, tn.erin} {
		m := srv.invite(t, "/api/v1/organizations/"+tn.org1+"/members", a, apitype.AddMemberRequest{Email: u.User.Email}, u.Token)
		require.Equal(t, "member", m.Role)
	}
	ws := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", a,
		apitype.CreateWorkspaceRequest{Name: "Team", OrganizationID: tn.org1}), 201)
	require.Equal(t, "admin", ws.Role)
	require.Equal(t, tn.org1, ws.OrganizationID)
	tn.ws1 = ws.ID
	tn.ws2 = created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", b,
		apitype.CreateWorkspaceRequest{Name: "Other", OrganizationID: tn.org2}), 201).ID

	// carol: a direct viewer grant; erin: editor through a group.
	created[apitype.Member](t, srv.call(t, "POST", "/api/v1/workspaces/"+tn.ws1+"/members", a,
		apitype.AddMemberRequest{UserID: tn.carol.User.ID, Role: "viewer"}), 201)
	tn.editors = created[apitype.Group](t, srv.call(t, "POST", "/api/v1/groups", a,
		apitype.CreateGroupRequest{OrganizationID: tn.org1, Name: "editors"}), 201).ID
	created[apitype.Member](t, srv.call(t, "POST", "/api/v1/groups/"+tn.editors+"/members", a,
		apitype.AddMemberRequest{UserID: tn.erin.User.ID}), 201)
	g := created[apitype.Member](t, srv.call(t, "POST", "/api/v1/workspaces/"+tn.ws1+"/members", a,
		apitype.AddMemberRequest{GroupID: tn.editors, Role: "editor"}), 201)
	require.Equal(t, apitype.Member{Type: "group", ID: tn.editors, Role: "editor", Name: "editors"}, g)

	// Resources of ws1, made by alice.
	tn.sess = srv.query(t, a, apitype.QueryRequest{Prompt: "hello", WorkspaceID: tn.ws1}).SessionID
	tn.sessPerm, tn.permID = tn.pending(t, `@tool write_file {"path":"a.txt","content":"x"}`, "permission_request")
	tn.sessPrompt, tn.promptID = tn.pending(t, `@tool ask_user {"question":"why?"}`, "prompt_request")
	up := srv.upload(t, a, "notes.txt", "text/plain", []byte("hello"), map[string]string{"workspace_id": tn.ws1})
	tn.file = created[apitype.File](t, up, 201).ID
	tn.job = created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", a, apitype.CreateJobRequest{
		Name: "nightly", Schedule: "@daily", Prompt: "report", WorkspaceID: tn.ws1}), 201).ID
	tn.wsSetting = created[apitype.ProviderSetting](t, srv.call(t, "POST", "/api/v1/settings/providers", a,
		apitype.CreateProviderSettingRequest{Name: "team mock", Provider: "mock", Scope: "workspace", WorkspaceID: tn.ws1}), 201).ID

	// And of ws2, made by bob.
	tn.ws2Session = srv.query(t, b, apitype.QueryRequest{Prompt: "hi", WorkspaceID: tn.ws2}).SessionID
	tn.ws2File = created[apitype.File](t, srv.upload(t, b, "b.txt", "text/plain", []byte("b"), map[string]string{"workspace_id": tn.ws2}), 201).ID
	return tn
}

// pending starts a turn in a new session of ws1 that stops at an open
// request of kind, and returns the session and request ids.
func (tn *tenants) pending(t *testing.T, prompt, kind string) (string, string) {
	t.Helper()
	st := tn.srv.stream(t, tn.alice.Token, apitype.QueryRequest{Prompt: prompt, WorkspaceID: tn.ws1})
	ev := decodeRuntime(t, st.Until(isRuntime(kind)))
	st.Close()
	return ev.SessionID, ev.RequestID
}

// TestTenancyRoles checks every resource family against every role: an
// outsider gets 404 for another tenant's ids, a viewer 403 for an editor's
// work, an editor 403 for an admin's, an organization member 403 for an
// organization admin's, and the right role gets through.
func TestTenancyRoles(t *testing.T) {
	tn := newTenants(t)
	srv := tn.srv
	a, b, c, e, r := tn.alice.Token, tn.bob.Token, tn.carol.Token, tn.erin.Token, tn.root.Token
	query := func(body apitype.QueryRequest) apitype.QueryRequest { body.Prompt = "@say ok"; return body }
	throwaway := func() string {
		return srv.query(t, a, apitype.QueryRequest{Prompt: "x", WorkspaceID: tn.ws1}).SessionID
	}
	throwawayFile := func() string {
		up := srv.upload(t, a, "t.txt", "text/plain", []byte("t"), map[string]string{"workspace_id": tn.ws1})
		return created[apitype.File](t, up, 201).ID
	}

	type row struct {
		name   string
		method string
		path   string
		body   any
		token  string
		want   int
	}
	var rows []row
	add := func(name, method, path string, body any, want map[string]int) {
		for who, status := range want {
			tok := map[string]string{"alice": a, "bob": b, "carol": c, "erin": e, "root": r}[who]
			rows = append(rows, row{name + "/" + who, method, path, body, tok, status})
		}
	}
	const (
		get, post, patch, del, put = "GET", "POST", "PATCH", "DELETE", "PUT"
	)
	sess, ws1, org1, grp := "/api/v1/sessions/"+tn.sess, "/api/v1/workspaces/"+tn.ws1, "/api/v1/organizations/"+tn.org1, "/api/v1/groups/"+tn.editors

	// Sessions.
	add("get session", get, sess, nil, map[string]int{"carol": 200, "erin": 200, "bob": 404, "root": 404})
	add("list sessions", get, "/api/v1/sessions?workspace_id="+tn.ws1, nil, map[string]int{"carol": 200, "bob": 404})
	add("create session", post, "/api/v1/sessions", apitype.CreateSessionRequest{WorkspaceID: tn.ws1}, map[string]int{"carol": 403, "bob": 404, "erin": 201})
	add("update session", patch, sess, map[string]string{"title": "t"}, map[string]int{"carol": 403, "bob": 404, "erin": 200})
	add("delete session", del, sess, nil, map[string]int{"carol": 403, "bob": 404})
	add("interrupt", post, sess+"/interrupt", nil, map[string]int{"carol": 403, "bob": 404, "erin": 200})
	add("stream", get, "/api/v1/sessions/"+tn.sess+"/stream", nil, map[string]int{"bob": 404})
	add("decide permission", post, "/api/v1/sessions/"+tn.sessPerm+"/permissions/"+tn.permID,
		apitype.PermissionDecision{Decision: "deny"}, map[string]int{"carol": 403, "bob": 404})
	add("answer prompt", post, "/api/v1/sessions/"+tn.sessPrompt+"/prompts/"+tn.promptID,
		apitype.PromptAnswer{Answer: "no"}, map[string]int{"carol": 403, "bob": 404})
	// Another tenant's session, the other way round.
	add("other org's session", get, "/api/v1/sessions/"+tn.ws2Session, nil, map[string]int{"alice": 404, "bob": 200})

	// Query.
	add("query in workspace", post, "/api/v1/query", query(apitype.QueryRequest{WorkspaceID: tn.ws1}), map[string]int{"carol": 403, "bob": 404, "erin": 200})
	add("query in session", post, "/api/v1/query", query(apitype.QueryRequest{SessionID: tn.sess}), map[string]int{"carol": 403, "bob": 404})
	add("query stream", post, "/api/v1/query/stream", query(apitype.QueryRequest{WorkspaceID: tn.ws1}), map[string]int{"carol": 403, "bob": 404})

	// Files.
	add("list files", get, "/api/v1/files?workspace_id="+tn.ws1, nil, map[string]int{"carol": 200, "bob": 404})
	add("get file", get, "/api/v1/files/"+tn.file, nil, map[string]int{"carol": 200, "bob": 404})
	add("file content", get, "/api/v1/files/"+tn.file+"/content", nil, map[string]int{"carol": 200, "bob": 404})
	add("delete file", del, "/api/v1/files/"+tn.file, nil, map[string]int{"carol": 403, "bob": 404})
	add("other org's file", get, "/api/v1/files/"+tn.ws2File, nil, map[string]int{"alice": 404, "carol": 404})

	// Jobs.
	job := "/api/v1/scheduler/jobs/" + tn.job
	add("create job", post, "/api/v1/scheduler/jobs", apitype.CreateJobRequest{Name: "j", Schedule: "@daily", Prompt: "p", WorkspaceID: tn.ws1},
		map[string]int{"carol": 403, "bob": 404, "erin": 201})
	add("get job", get, job, nil, map[string]int{"carol": 200, "bob": 404})
	add("list runs", get, job+"/runs", nil, map[string]int{"carol": 200, "bob": 404})
	add("update job", patch, job, map[string]string{"name": "renamed"}, map[string]int{"carol": 403, "bob": 404, "erin": 200})
	add("run job", post, job+"/run", nil, map[string]int{"carol": 403, "bob": 404})
	add("delete job", del, job, nil, map[string]int{"carol": 403, "bob": 404})
	add("accept_all job", post, "/api/v1/scheduler/jobs", apitype.CreateJobRequest{Name: "j", Schedule: "@daily", Prompt: "p",
		WorkspaceID: tn.ws1, PermissionMode: "accept_all"}, map[string]int{"erin": 403, "alice": 201})

	// Workspace provider settings: admins manage, members use.
	pset := "/api/v1/settings/providers/" + tn.wsSetting
	add("create workspace setting", post, "/api/v1/settings/providers", apitype.CreateProviderSettingRequest{
		Name: "x", Provider: "mock", Scope: "workspace", WorkspaceID: tn.ws1}, map[string]int{"carol": 403, "erin": 403, "bob": 404, "alice": 201})
	add("get workspace setting", get, pset, nil, map[string]int{"carol": 200, "bob": 404})
	add("update workspace setting", patch, pset, map[string]string{"name": "y"}, map[string]int{"carol": 403, "erin": 403, "bob": 404, "alice": 200})
	add("delete workspace setting", del, pset, nil, map[string]int{"erin": 403, "bob": 404})

	// Workspaces.
	add("get workspace", get, ws1, nil, map[string]int{"carol": 200, "erin": 200, "bob": 404, "root": 404})
	add("update workspace", patch, ws1, map[string]string{"name": "Team!"}, map[string]int{"carol": 403, "erin": 403, "bob": 404, "alice": 200})
	add("list workspace members", get, ws1+"/members", nil, map[string]int{"carol": 200, "bob": 404})
	add("add workspace member", post, ws1+"/members", apitype.AddMemberRequest{UserID: tn.bob.User.ID, Role: "viewer"},
		map[string]int{"erin": 403, "bob": 404})
	add("change workspace member", patch, ws1+"/members/"+tn.carol.User.ID, apitype.UpdateMemberRequest{Role: "editor"},
		map[string]int{"carol": 403, "erin": 403, "bob": 404})
	add("delete workspace", del, ws1, nil, map[string]int{"carol": 403, "erin": 403, "bob": 404})
	add("outsider in org workspace", post, ws1+"/members", apitype.AddMemberRequest{UserID: tn.bob.User.ID, Role: "viewer"},
		map[string]int{"alice": 400})
	add("other org's workspace", get, "/api/v1/workspaces/"+tn.ws2, nil, map[string]int{"alice": 404, "carol": 404, "bob": 200})

	// Organizations.
	add("get org", get, org1, nil, map[string]int{"carol": 200, "bob": 404, "root": 404})
	add("update org", patch, org1, map[string]string{"name": "Org 1"}, map[string]int{"carol": 403, "bob": 404, "alice": 200})
	add("list org members", get, org1+"/members", nil, map[string]int{"carol": 200, "bob": 404})
	add("add org member", post, org1+"/members", apitype.AddMemberRequest{UserID: tn.root.User.ID}, map[string]int{"carol": 403, "bob": 404})
	add("change org member", patch, org1+"/members/"+tn.erin.User.ID, apitype.UpdateMemberRequest{Role: "admin"},
		map[string]int{"carol": 403, "bob": 404})
	add("remove org member", del, org1+"/members/"+tn.erin.User.ID, nil, map[string]int{"carol": 403, "bob": 404})
	add("delete org", del, org1, nil, map[string]int{"carol": 403, "erin": 403, "bob": 404})
	add("org workspace by a member", post, "/api/v1/workspaces", apitype.CreateWorkspaceRequest{Name: "w", OrganizationID: tn.org1},
		map[string]int{"carol": 403, "bob": 404})

	// Groups.
	add("create group", post, "/api/v1/groups", apitype.CreateGroupRequest{OrganizationID: tn.org1, Name: "g"},
		map[string]int{"carol": 403, "bob": 404})
	add("get group", get, grp, nil, map[string]int{"carol": 200, "bob": 404})
	add("list group members", get, grp+"/members", nil, map[string]int{"carol": 200, "bob": 404})
	add("update group", patch, grp, map[string]string{"name": "eds"}, map[string]int{"carol": 403, "bob": 404})
	add("add group member", post, grp+"/members", apitype.AddMemberRequest{UserID: tn.carol.User.ID}, map[string]int{"carol": 403, "bob": 404})
	add("remove group member", del, grp+"/members/"+tn.erin.User.ID, nil, map[string]int{"carol": 403, "bob": 404})
	add("delete group", del, grp, nil, map[string]int{"carol": 403, "bob": 404})

	// Server administration.
	add("list users", get, "/api/v1/users", nil, map[string]int{"alice": 403, "root": 200})
	add("change a user", patch, "/api/v1/users/"+tn.carol.User.ID, apitype.UpdateUserRequest{Name: ptrTo("C")}, map[string]int{"alice": 403, "root": 200})
	add("audit log", get, "/api/v1/audit/logs", nil, map[string]int{"alice": 403, "root": 200})
	add("org audit log", get, "/api/v1/audit/logs?organization_id="+tn.org1, nil, map[string]int{"alice": 200, "carol": 403, "bob": 404})
	add("verify audit", get, "/api/v1/audit/verify", nil, map[string]int{"alice": 403, "root": 200})
	add("set quota", put, "/api/v1/quotas/user/"+tn.bob.User.ID, apitype.QuotaLimits{TokensPerDay: 5}, map[string]int{"alice": 403})
	add("get quota", get, "/api/v1/quotas/user/"+tn.bob.User.ID, nil, map[string]int{"alice": 403, "root": 200})
	add("my quotas", get, "/api/v1/quotas?workspace_id="+tn.ws1, nil, map[string]int{"carol": 200, "bob": 404})

	for _, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			resp := srv.call(t, rw.method, rw.path, rw.token, rw.body)
			require.Equal(t, rw.want, resp.Status, "%s %s: %s", rw.method, rw.path, resp.Body)
			switch rw.want {
			case 403:
				requireAPIError(t, resp, 403, "forbidden")
			case 404:
				requireAPIError(t, resp, 404, "not_found")
			}
		})
	}

	// The allowed side of the changes the table only refused, each once.
	for _, rw := range []row{
		{"erin decides the permission", post, "/api/v1/sessions/" + tn.sessPerm + "/permissions/" + tn.permID, apitype.PermissionDecision{Decision: "deny"}, e, 200},
		{"erin answers the prompt", post, "/api/v1/sessions/" + tn.sessPrompt + "/prompts/" + tn.promptID, apitype.PromptAnswer{Answer: "because"}, e, 200},
		{"erin runs the job", post, job + "/run", nil, e, 202},
		{"erin deletes a session", del, "/api/v1/sessions/" + throwaway(), nil, e, 204},
		{"erin deletes a file", del, "/api/v1/files/" + throwawayFile(), nil, e, 204},
		{"erin uploads", "", "", nil, e, 0},
		{"carol re-attaches to a stream", get, "/api/v1/sessions/" + tn.sess + "/stream", nil, c, 200},
	} {
		t.Run(rw.name, func(t *testing.T) {
			if rw.method == "" {
				up := srv.upload(t, e, "e.txt", "text/plain", []byte("e"), map[string]string{"workspace_id": tn.ws1})
				require.Equal(t, 201, up.Status, "body: %s", up.Body)
				return
			}
			resp := srv.call(t, rw.method, rw.path, rw.token, rw.body)
			require.Equal(t, rw.want, resp.Status, "body: %s", resp.Body)
		})
	}

	// Listings show only what a caller can reach.
	var wl apitype.List[apitype.Workspace]
	srv.get(t, "/api/v1/workspaces", c).JSON(t, &wl)
	roles := map[string]string{}
	for _, w := range wl.Data {
		roles[w.ID] = w.Role
	}
	require.Equal(t, map[string]string{tn.carol.User.DefaultWorkspaceID: "admin", tn.ws1: "viewer"}, roles)
	var sl apitype.SessionList
	srv.get(t, "/api/v1/sessions", b).JSON(t, &sl)
	for _, s := range sl.Data {
		require.NotEqual(t, tn.ws1, s.WorkspaceID, "bob lists no session of org1")
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestGroupGrants: a group's role reaches its members at once, goes with a
// membership, and goes for everyone when the group or its grant does.
func TestGroupGrants(t *testing.T) {
	tn := newTenants(t)
	srv, a, e := tn.srv, tn.alice.Token, tn.erin.Token
	ws1 := "/api/v1/workspaces/" + tn.ws1
	role := func(tok string) int { return srv.get(t, ws1, tok).Status }

	w := created[apitype.Workspace](t, srv.get(t, ws1, e), 200)
	require.Equal(t, "editor", w.Role, "erin is an editor through the group")
	require.Equal(t, 200, srv.call(t, "POST", "/api/v1/query", e, apitype.QueryRequest{Prompt: "hi", WorkspaceID: tn.ws1}).Status)

	// A second group with admin wins over the first's editor.
	admins := created[apitype.Group](t, srv.call(t, "POST", "/api/v1/groups", a, apitype.CreateGroupRequest{OrganizationID: tn.org1, Name: "admins"}), 201).ID
	created[apitype.Member](t, srv.call(t, "POST", "/api/v1/groups/"+admins+"/members", a, apitype.AddMemberRequest{Email: "erin@example.com"}), 201)
	created[apitype.Member](t, srv.call(t, "POST", ws1+"/members", a, apitype.AddMemberRequest{GroupID: admins, Role: "admin"}), 201)
	require.Equal(t, "admin", created[apitype.Workspace](t, srv.get(t, ws1, e), 200).Role)

	// Group names are unique per organization; a group cannot be granted
	// outside its organization, nor hold outsiders.
	requireAPIError(t, srv.call(t, "POST", "/api/v1/groups", a, apitype.CreateGroupRequest{OrganizationID: tn.org1, Name: "ADMINS"}), 409, "conflict")
	requireAPIError(t, srv.call(t, "POST", "/api/v1/groups/"+admins+"/members", a, apitype.AddMemberRequest{UserID: tn.bob.User.ID}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "POST", "/api/v1/workspaces/"+tn.alice.User.DefaultWorkspaceID+"/members", a,
		apitype.AddMemberRequest{GroupID: admins, Role: "viewer"}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "POST", ws1+"/members", a, apitype.AddMemberRequest{GroupID: admins, Role: "viewer"}), 409, "conflict")

	// Leaving a group takes its role away at once.
	require.Equal(t, 204, srv.call(t, "DELETE", "/api/v1/groups/"+admins+"/members/"+tn.erin.User.ID, a, nil).Status)
	require.Equal(t, "editor", created[apitype.Workspace](t, srv.get(t, ws1, e), 200).Role)
	// Revoking the grant, too.
	require.Equal(t, 204, srv.call(t, "DELETE", ws1+"/members/"+tn.editors, a, nil).Status)
	require.Equal(t, 404, role(e))
	// A grant back, then deleting the group.
	created[apitype.Member](t, srv.call(t, "POST", ws1+"/members", a, apitype.AddMemberRequest{GroupID: tn.editors, Role: "viewer"}), 201)
	require.Equal(t, "viewer", created[apitype.Workspace](t, srv.get(t, ws1, e), 200).Role)
	requireAPIError(t, srv.call(t, "POST", "/api/v1/query", e, apitype.QueryRequest{Prompt: "hi", WorkspaceID: tn.ws1}), 403, "forbidden")
	require.Equal(t, 204, srv.call(t, "DELETE", "/api/v1/groups/"+tn.editors, a, nil).Status)
	require.Equal(t, 404, role(e))
	var ms apitype.List[apitype.Member]
	srv.get(t, ws1+"/members", a).JSON(t, &ms)
	for _, m := range ms.Data {
		require.NotEqual(t, tn.editors, m.ID, "the deleted group's grant is gone")
	}

	// Leaving the organization takes the org's groups and grants with it.
	created[apitype.Member](t, srv.call(t, "POST", ws1+"/members", a, apitype.AddMemberRequest{UserID: tn.erin.User.ID, Role: "editor"}), 201)
	require.Equal(t, 200, role(e))
	require.Equal(t, 204, srv.call(t, "DELETE", "/api/v1/organizations/"+tn.org1+"/members/"+tn.erin.User.ID, e, nil).Status, "anyone may leave")
	require.Equal(t, 404, role(e))

	// Org admins are admins of every workspace of their organization.
	created[apitype.Member](t, srv.call(t, "PATCH", "/api/v1/organizations/"+tn.org1+"/members/"+tn.carol.User.ID, a,
		apitype.UpdateMemberRequest{Role: "admin"}), 200)
	require.Equal(t, "admin", created[apitype.Workspace](t, srv.get(t, ws1, tn.carol.Token), 200).Role)
}

// TestLastOwner: an organization keeps an owner, the server an active
// admin, and a workspace outside any organization its owner.
func TestLastOwner(t *testing.T) {
	tn := newTenants(t)
	srv, a, c := tn.srv, tn.alice.Token, tn.carol.Token
	org := "/api/v1/organizations/" + tn.org1
	me := tn.alice.User.ID

	requireAPIError(t, srv.call(t, "PATCH", org+"/members/"+me, a, apitype.UpdateMemberRequest{Role: "admin"}), 409, "conflict")
	requireAPIError(t, srv.call(t, "DELETE", org+"/members/"+me, a, nil), 409, "conflict")
	// An admin may not touch owners, nor make one.
	created[apitype.Member](t, srv.call(t, "PATCH", org+"/members/"+tn.carol.User.ID, a, apitype.UpdateMemberRequest{Role: "admin"}), 200)
	requireAPIError(t, srv.call(t, "PATCH", org+"/members/"+me, c, apitype.UpdateMemberRequest{Role: "member"}), 403, "forbidden")
	requireAPIError(t, srv.call(t, "DELETE", org+"/members/"+me, c, nil), 403, "forbidden")
	requireAPIError(t, srv.call(t, "PATCH", org+"/members/"+tn.erin.User.ID, c, apitype.UpdateMemberRequest{Role: "owner"}), 403, "forbidden")
	// With a second owner, the first may step down, and then not the second.
	created[apitype.Member](t, srv.call(t, "PATCH", org+"/members/"+tn.carol.User.ID, a, apitype.UpdateMemberRequest{Role: "owner"}), 200)
	created[apitype.Member](t, srv.call(t, "PATCH", org+"/members/"+me, a, apitype.UpdateMemberRequest{Role: "member"}), 200)
	requireAPIError(t, srv.call(t, "DELETE", org+"/members/"+tn.carol.User.ID, c, nil), 409, "conflict")

	// The organization cannot go while it has workspaces; its owner deletes
	// them first.
	requireAPIError(t, srv.call(t, "DELETE", org, c, nil), 409, "conflict")
	require.Equal(t, 200, srv.call(t, "DELETE", "/api/v1/workspaces/"+tn.ws1, c, nil).Status)
	require.Equal(t, 204, srv.call(t, "DELETE", org, c, nil).Status)
	require.Equal(t, 404, srv.get(t, org, c).Status)

	// The server's last active admin can be neither demoted nor disabled.
	root := "/api/v1/users/" + tn.root.User.ID
	requireAPIError(t, srv.call(t, "PATCH", root, tn.root.Token, apitype.UpdateUserRequest{Role: ptrTo("member")}), 409, "conflict")
	requireAPIError(t, srv.call(t, "PATCH", root, tn.root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(true)}), 409, "conflict")

	// A workspace outside any organization keeps its owner as admin; the
	// personal one cannot be deleted.
	own := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", a, apitype.CreateWorkspaceRequest{Name: "mine"}), 201)
	require.Empty(t, own.OrganizationID)
	requireAPIError(t, srv.call(t, "PATCH", "/api/v1/workspaces/"+own.ID+"/members/"+me, a, apitype.UpdateMemberRequest{Role: "viewer"}), 409, "conflict")
	requireAPIError(t, srv.call(t, "DELETE", "/api/v1/workspaces/"+own.ID+"/members/"+me, a, nil), 409, "conflict")
	requireAPIError(t, srv.call(t, "DELETE", "/api/v1/workspaces/"+tn.alice.User.DefaultWorkspaceID, a, nil), 409, "conflict")
}

// TestDisableUser: a disabled user's tokens and keys stop at once, and
// they cannot log in; enabled again, they work again.
func TestDisableUser(t *testing.T) {
	srv := startServer(t, "", nil)
	root := srv.register(t, "root@example.com", "password1")
	u := srv.register(t, "u@example.com", "password1")
	key := srv.createKey(t, u.Token, "laptop")
	for _, tok := range []string{u.Token, key.Key} {
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", tok).Status)
	}
	path := "/api/v1/users/" + u.User.ID
	after := created[apitype.User](t, srv.call(t, "PATCH", path, root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(true)}), 200)
	require.True(t, after.Disabled)
	for _, tok := range []string{u.Token, key.Key} {
		requireAPIError(t, srv.get(t, "/api/v1/users/me", tok), 401, "unauthorized")
		requireAPIError(t, srv.call(t, "POST", "/api/v1/query", tok, apitype.QueryRequest{Prompt: "hi"}), 401, "unauthorized")
	}
	requireAPIError(t, srv.login(t, "u@example.com", "password1"), 401, "unauthorized")

	created[apitype.User](t, srv.call(t, "PATCH", path, root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(false)}), 200)
	for _, tok := range []string{u.Token, key.Key} {
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", tok).Status)
	}

	// Roles change at once too: a new admin reaches admin routes.
	requireAPIError(t, srv.get(t, "/api/v1/users", u.Token), 403, "forbidden")
	created[apitype.User](t, srv.call(t, "PATCH", path, root.Token, apitype.UpdateUserRequest{Role: ptrTo("admin")}), 200)
	var list apitype.UserList
	resp := srv.get(t, "/api/v1/users?limit=1", u.Token)
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	resp.JSON(t, &list)
	require.Len(t, list.Data, 1)
	require.NotEmpty(t, list.NextCursor)
}

// TestPreferences: any JSON a client keeps, bounded; the default
// workspace and model are honoured.
func TestPreferences(t *testing.T) {
	tn := newTenants(t)
	srv, e := tn.srv, tn.erin.Token
	path := "/api/v1/users/me/preferences"
	var prefs map[string]json.RawMessage
	srv.get(t, path, e).JSON(t, &prefs)
	require.JSONEq(t, fmt.Sprintf(`{"default_workspace_id":%q}`, tn.erin.User.DefaultWorkspaceID), mustJSON(t, prefs))

	resp := srv.call(t, "PATCH", path, e, map[string]any{"theme": "dark", "default_workspace_id": tn.ws1, "default_model": "mock:echo"})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	prefs = nil
	resp.JSON(t, &prefs)
	require.JSONEq(t, fmt.Sprintf(`{"theme":"dark","default_model":"mock:echo","default_workspace_id":%q}`, tn.ws1), mustJSON(t, prefs))
	// A query naming no workspace now runs in ws1.
	q := srv.query(t, e, apitype.QueryRequest{Prompt: "hi"})
	s := created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+q.SessionID, e), 200)
	require.Equal(t, tn.ws1, s.WorkspaceID)
	require.Equal(t, tn.ws1, created[apitype.User](t, srv.get(t, "/api/v1/users/me", e), 200).DefaultWorkspaceID)

	// null removes a key; a workspace the user cannot reach is not found;
	// a model they cannot use is refused; too much is refused.
	resp = srv.call(t, "PATCH", path, e, map[string]any{"theme": nil})
	prefs = nil
	resp.JSON(t, &prefs)
	require.NotContains(t, prefs, "theme")
	requireAPIError(t, srv.call(t, "PATCH", path, e, map[string]any{"default_workspace_id": tn.ws2}), 404, "not_found")
	requireAPIError(t, srv.call(t, "PATCH", path, e, map[string]any{"default_model": "nope:x"}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "PATCH", path, e, map[string]any{"blob": strings.Repeat("x", 17<<10)}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "PATCH", path, e, `[1,2]`), 400, "invalid_request")

	// Losing access to the default workspace falls back to the personal one.
	require.Equal(t, 204, srv.call(t, "DELETE", "/api/v1/workspaces/"+tn.ws1+"/members/"+tn.editors, tn.alice.Token, nil).Status)
	prefs = nil
	srv.get(t, path, e).JSON(t, &prefs)
	require.JSONEq(t, fmt.Sprintf(`%q`, tn.erin.User.DefaultWorkspaceID), string(prefs["default_workspace_id"]))
	q = srv.query(t, e, apitype.QueryRequest{Prompt: "hi"})
	s = created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+q.SessionID, e), 200)
	require.Equal(t, tn.erin.User.DefaultWorkspaceID, s.WorkspaceID)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestDeleteWorkspace: deleting a workspace interrupts its running turn,
// stops its jobs and removes its sessions, files, jobs and settings.
func TestDeleteWorkspace(t *testing.T) {
	tn := newTenants(t)
	srv, a := tn.srv, tn.alice.Token
	// A turn still running: the permission request stays open.
	st := srv.stream(t, a, apitype.QueryRequest{Prompt: "@tool write_file {\"path\":\"b.txt\",\"content\":\"y\"}", SessionID: tn.sess})
	st.Until(isRuntime("permission_request"))

	resp := srv.call(t, "DELETE", "/api/v1/workspaces/"+tn.ws1, a, nil)
	d := created[apitype.DeletedWorkspace](t, resp, 200)
	require.GreaterOrEqual(t, d.Sessions, 3)
	require.Equal(t, 1, d.Files)
	require.Equal(t, 1, d.Jobs)
	require.Equal(t, 1, d.ProviderSettings)
	// The stream ends: the turn was interrupted with its session.
	for {
		ev, err := st.Next()
		if err != nil || isEnd(ev) {
			break
		}
	}
	for _, p := range []string{
		"/api/v1/workspaces/" + tn.ws1, "/api/v1/sessions/" + tn.sess, "/api/v1/files/" + tn.file,
		"/api/v1/scheduler/jobs/" + tn.job, "/api/v1/settings/providers/" + tn.wsSetting,
	} {
		requireAPIError(t, srv.get(t, p, a), 404, "not_found")
	}
	var sl apitype.SessionList
	srv.get(t, "/api/v1/sessions", a).JSON(t, &sl)
	for _, s := range sl.Data {
		require.NotEqual(t, tn.ws1, s.WorkspaceID)
	}
}
