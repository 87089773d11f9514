package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/http/apitype"
)

// auditLog reads every entry the query matches, following next_cursor in
// pages of two, so that pagination is exercised too.
func (s *testServer) auditLog(t testing.TB, token string, q url.Values) []apitype.AuditEntry {
	t.Helper()
	var out []apitype.AuditEntry
	q.Set("limit", "2")
	for {
		resp := s.get(t, "/api/v1/audit/logs?"+q.Encode(), token)
		require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
		var page apitype.AuditList
		resp.JSON(t, &page)
		require.LessOrEqual(t, len(page.Data), 2)
		out = append(out, page.Data...)
		if page.NextCursor == "" {
			return out
		}
		q.Set("cursor", page.NextCursor)
	}
}

// find returns the entries of action.
func find(entries []apitype.AuditEntry, action string) []apitype.AuditEntry {
	var out []apitype.AuditEntry
	for _, e := range entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestAuditLog: logins, keys, role changes, permission decisions and every
// other change are recorded with the right actor, never with a secret; the
// log filters and pages; organization admins see their organization's
// entries; the chain verifies, and an entry edited in the file is named.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, nil)
	root := srv.register(t, "root@example.com", "password1")
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")
	a := alice.Token

	require.Equal(t, 200, srv.login(t, "alice@example.com", "password1").Status)
	require.Equal(t, 401, srv.login(t, "alice@example.com", "wrong-password").Status)
	key := srv.createKey(t, a, "ci")
	require.Equal(t, 204, srv.call(t, "DELETE", "/api/v1/users/me/api-keys/"+key.ID, a, nil).Status)
	org := created[apitype.Organization](t, srv.call(t, "POST", "/api/v1/organizations", a, apitype.CreateOrganizationRequest{Name: "O"}), 201).ID
	srv.invite(t, "/api/v1/organizations/"+org+"/members", a, apitype.AddMemberRequest{UserID: bob.User.ID}, bob.Token)
	created[apitype.Member](t, srv.call(t, "PATCH", "/api/v1/organizations/"+org+"/members/"+bob.User.ID, a, apitype.UpdateMemberRequest{Role: "admin"}), 200)
	ws := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", a, apitype.CreateWorkspaceRequest{Name: "W", OrganizationID: org}), 201).ID
	st := srv.stream(t, a, apitype.QueryRequest{Prompt: `@tool write_file {"path":"a.txt","content":"x"}`, WorkspaceID: ws})
	perm := decodeRuntime(t, st.Until(isRuntime("permission_request")))
	require.Equal(t, 200, srv.call(t, "POST", "/api/v1/sessions/"+perm.SessionID+"/permissions/"+perm.RequestID, bob.Token,
		apitype.PermissionDecision{Decision: "allow", Remember: true}).Status)
	decodeDone(t, st.Until(isEnd))
	created[apitype.User](t, srv.call(t, "PATCH", "/api/v1/users/"+bob.User.ID, root.Token, apitype.UpdateUserRequest{Role: ptrTo("admin")}), 200)
	requireAPIError(t, srv.call(t, "POST", "/api/v1/organizations", "", apitype.CreateOrganizationRequest{Name: "anon"}), 401, "unauthorized")
	requireAPIError(t, srv.call(t, "DELETE", "/api/v1/organizations/"+org, bob.Token, nil), 403, "forbidden")

	// Entries are written through the group-commit writer after the
	// response: the last one may take a commit to show.
	var all []apitype.AuditEntry
	require.Eventually(t, func() bool {
		all = srv.auditLog(t, root.Token, url.Values{})
		return len(find(all, "DELETE /api/v1/organizations/{id}")) == 1
	}, 10*time.Second, 5*time.Millisecond)
	raw, err := json.Marshal(all)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "password1", "no password in the log")
	require.NotContains(t, string(raw), key.Key, "no API key in the log")
	for i := 1; i < len(all); i++ {
		require.Equal(t, all[i].Seq+1, all[i-1].Seq, "newest first, no gaps")
		require.Equal(t, all[i].Hash, all[i-1].PrevHash, "chained")
	}

	logins := find(all, "POST /api/v1/auth/login")
	require.Len(t, logins, 2)
	require.Equal(t, "failure", logins[0].Outcome)
	require.Equal(t, "anonymous", logins[0].ActorType)
	require.NotContains(t, logins[0].Details, "email", "a failed login keeps nothing typed in the email field")
	require.Equal(t, alice.User.ID, logins[0].ResourceID, "it names the account that was tried")
	require.Equal(t, "401", logins[0].Details["status"])
	require.Equal(t, "success", logins[1].Outcome)
	require.Equal(t, alice.User.ID, logins[1].ActorID)
	require.Equal(t, "user", logins[1].ActorType)

	keyMade := find(all, "POST /api/v1/users/me/api-keys")
	require.Len(t, keyMade, 1)
	require.Equal(t, alice.User.ID, keyMade[0].ActorID)
	require.Equal(t, "api_key", keyMade[0].ResourceType)
	require.Equal(t, key.ID, keyMade[0].ResourceID)
	require.Equal(t, "ci", keyMade[0].Details["name"])
	revoked := find(all, "DELETE /api/v1/users/me/api-keys/{id}")
	require.Len(t, revoked, 1)
	require.Equal(t, key.ID, revoked[0].ResourceID)

	role := find(all, "PATCH /api/v1/organizations/{id}/members/{user_id}")
	require.Len(t, role, 1)
	require.Equal(t, alice.User.ID, role[0].ActorID)
	require.Equal(t, org, role[0].OrganizationID)
	require.Equal(t, map[string]string{"user_id": bob.User.ID, "role": "admin", "status": "200"}, role[0].Details)

	decision := find(all, "POST /api/v1/sessions/{id}/permissions/{request_id}")
	require.Len(t, decision, 1)
	require.Equal(t, bob.User.ID, decision[0].ActorID, "who decided")
	require.Equal(t, perm.SessionID, decision[0].ResourceID)
	require.Equal(t, ws, decision[0].WorkspaceID)
	require.Equal(t, org, decision[0].OrganizationID)
	require.Equal(t, "allow", decision[0].Details["decision"])
	require.Equal(t, "true", decision[0].Details["remember"])
	require.Equal(t, perm.RequestID, decision[0].Details["request_id"])

	userRole := find(all, "PATCH /api/v1/users/{id}")
	require.Len(t, userRole, 1)
	require.Equal(t, root.User.ID, userRole[0].ActorID)
	require.Equal(t, "admin", userRole[0].Details["role"])
	require.Equal(t, "member", userRole[0].Details["previous_role"])

	denied := find(all, "DELETE /api/v1/organizations/{id}")
	require.Len(t, denied, 1)
	require.Equal(t, "failure", denied[0].Outcome)
	require.Equal(t, "forbidden", denied[0].Details["error"])
	require.Len(t, find(all, "POST /api/v1/query/stream"), 1)
	require.Empty(t, find(all, "GET /api/v1/users/me"), "reads are not recorded")
	require.Len(t, find(all, "POST /api/v1/organizations"), 1, "a request without a credential is not recorded")

	// Filters.
	mine := srv.auditLog(t, root.Token, url.Values{"actor_id": {bob.User.ID}})
	require.NotEmpty(t, mine)
	for _, e := range mine {
		require.Equal(t, bob.User.ID, e.ActorID)
	}
	byAction := srv.auditLog(t, root.Token, url.Values{"action": {"POST /api/v1/auth/login"}, "outcome": {"failure"}})
	require.Equal(t, logins[:1], byAction)
	byResource := srv.auditLog(t, root.Token, url.Values{"resource_id": {key.ID}})
	require.Len(t, byResource, 2)
	mid := all[len(all)/2].At
	recent := srv.auditLog(t, root.Token, url.Values{"from": {mid.Format(time.RFC3339Nano)}})
	older := srv.auditLog(t, root.Token, url.Values{"to": {mid.Format(time.RFC3339Nano)}})
	require.GreaterOrEqual(t, len(recent)+len(older), len(all))
	for _, e := range recent {
		require.False(t, e.At.Before(mid))
	}
	for _, e := range older {
		require.False(t, e.At.After(mid))
	}

	// An organization admin sees their organization's entries only.
	orgLog := srv.auditLog(t, a, url.Values{"organization_id": {org}})
	require.NotEmpty(t, orgLog)
	for _, e := range orgLog {
		require.Equal(t, org, e.OrganizationID)
	}
	require.NotEmpty(t, find(orgLog, "POST /api/v1/sessions/{id}/permissions/{request_id}"))

	var v apitype.AuditVerification
	srv.get(t, "/api/v1/audit/verify", root.Token).JSON(t, &v)
	require.True(t, v.OK, "%+v", v)
	require.Equal(t, len(all), v.Entries)

	// Edit one byte of an entry's details in the file, offline.
	victim := decision[0]
	require.NoError(t, srv.Stop())
	db, err := bolt.Open(filepath.Join(dir, "seshat.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, victim.Seq)
		v := bytes.Clone(b.Get(k))
		i := bytes.Index(v, []byte(`"decision":"allow"`))
		require.Positive(t, i)
		v[i+len(`"decision":"`)] = 'A' // "allow" → "Allow": still valid JSON
		return b.Put(k, v)
	}))
	require.NoError(t, db.Close())

	srv = startServer(t, dir, nil)
	srv.get(t, "/api/v1/audit/verify", root.Token).JSON(t, &v)
	require.False(t, v.OK)
	require.NotNil(t, v.Broken)
	require.Equal(t, victim.Seq, v.Broken.Seq)
	require.Equal(t, victim.ID, v.Broken.ID)
	require.Contains(t, v.Broken.Reason, "changed")
	t.Logf("verify after tampering: seq %d: %s", v.Broken.Seq, v.Broken.Reason)
}
