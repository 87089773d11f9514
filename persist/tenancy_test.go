package persist_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestWorkspaceRoles(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	owner, member, outsider := newUser(t, s), newUser(t, s), newUser(t, s)
	org, err := s.CreateOrganization(ctx, persist.Organization{Name: "O"}, owner.ID)
	require.NoError(t, err)
	_, err = s.SetOrgMember(ctx, org.ID, member.ID, persist.OrgMember, true)
	require.NoError(t, err)
	ws, err := s.CreateWorkspace(ctx, persist.Workspace{Name: "W", OrganizationID: org.ID}, owner.ID)
	require.NoError(t, err)

	role := func(u persist.User) string {
		t.Helper()
		r, err := s.WorkspaceRole(u.ID, ws.ID)
		require.NoError(t, err)
		return r
	}
	require.Equal(t, persist.WorkspaceAdmin, role(owner))
	require.Empty(t, role(member), "an organization member has no role by default")
	require.Empty(t, role(outsider))

	// Direct, then a higher group grant, then the group's removal.
	_, err = s.SetWorkspaceGrant(ctx, ws.ID, member.ID, persist.WorkspaceViewer, true)
	require.NoError(t, err)
	require.Equal(t, persist.WorkspaceViewer, role(member))
	g, err := s.CreateGroup(ctx, persist.Group{OrgID: org.ID, Name: "eds"})
	require.NoError(t, err)
	require.NoError(t, s.AddGroupMember(ctx, g.ID, member.ID))
	_, err = s.SetWorkspaceGrant(ctx, ws.ID, g.ID, persist.WorkspaceEditor, true)
	require.NoError(t, err)
	require.Equal(t, persist.WorkspaceEditor, role(member), "the higher role wins")
	require.NoError(t, s.RemoveGroupMember(ctx, g.ID, member.ID))
	require.Equal(t, persist.WorkspaceViewer, role(member))

	// An organization admin is an admin of its workspaces.
	_, err = s.SetOrgMember(ctx, org.ID, member.ID, persist.OrgAdmin, false)
	require.NoError(t, err)
	require.Equal(t, persist.WorkspaceAdmin, role(member))

	_, err = s.AuthorizeWorkspace(outsider.ID, ws.ID, persist.WorkspaceViewer)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.SetOrgMember(ctx, org.ID, member.ID, persist.OrgMember, false)
	require.NoError(t, err)
	_, err = s.AuthorizeWorkspace(member.ID, ws.ID, persist.WorkspaceEditor)
	require.ErrorIs(t, err, persist.ErrForbidden)
	_, err = s.AuthorizeWorkspace(member.ID, "ws_missing", persist.WorkspaceViewer)
	require.ErrorIs(t, err, persist.ErrNotFound)

	reach, err := s.ReachableWorkspaces(member.ID)
	require.NoError(t, err)
	require.Len(t, reach, 2)
	require.Equal(t, member.DefaultWorkspaceID, reach[0].ID)
	require.Equal(t, ws.ID, reach[1].ID)
	require.Equal(t, persist.WorkspaceViewer, reach[1].Role)

	// Outsiders and foreign groups cannot be granted in an organization's
	// workspace; groups cannot be granted outside one.
	_, err = s.SetWorkspaceGrant(ctx, ws.ID, outsider.ID, persist.WorkspaceViewer, true)
	require.ErrorIs(t, err, persist.ErrInvalid)
	_, err = s.SetWorkspaceGrant(ctx, owner.DefaultWorkspaceID, g.ID, persist.WorkspaceViewer, true)
	require.ErrorIs(t, err, persist.ErrInvalid)
	require.ErrorIs(t, s.AddGroupMember(ctx, g.ID, outsider.ID), persist.ErrInvalid)

	// Leaving the organization drops grants and groups in one go.
	require.NoError(t, s.AddGroupMember(ctx, g.ID, member.ID))
	_, err = s.RemoveOrgMember(ctx, org.ID, member.ID)
	require.NoError(t, err)
	require.Empty(t, role(member))
	ids, err := s.GroupMembers(g.ID)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func TestLastOwnerUnderConcurrency(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	a, b := newUser(t, s), newUser(t, s)
	org, err := s.CreateOrganization(ctx, persist.Organization{Name: "O"}, a.ID)
	require.NoError(t, err)
	_, err = s.SetOrgMember(ctx, org.ID, b.ID, persist.OrgOwner, true)
	require.NoError(t, err)
	// Both owners step down at once: one must fail.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []persist.User{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				_, errs[i] = s.SetOrgMember(ctx, org.ID, u.ID, persist.OrgMember, false)
			} else {
				_, errs[i] = s.RemoveOrgMember(ctx, org.ID, u.ID)
			}
		}()
	}
	wg.Wait()
	require.True(t, (errs[0] == nil) != (errs[1] == nil), "exactly one succeeds: %v", errs)
	for _, err := range errs {
		if err != nil {
			require.ErrorIs(t, err, persist.ErrLastOwner)
			require.ErrorIs(t, err, persist.ErrConflict)
		}
	}
	require.ErrorIs(t, s.DeleteOrganization(ctx, "org_missing"), persist.ErrNotFound)
	_, err = s.CreateWorkspace(ctx, persist.Workspace{Name: "W", OrganizationID: org.ID}, a.ID)
	require.NoError(t, err)
	require.ErrorIs(t, s.DeleteOrganization(ctx, org.ID), persist.ErrConflict)

	// The server keeps an active admin.
	first, err := s.UserByEmail(a.Email)
	require.NoError(t, err)
	require.Equal(t, persist.RoleAdmin, first.Role)
	_, _, err = s.UpdateUser(ctx, a.ID, func(u *persist.User) error { u.Disabled = true; return nil })
	require.ErrorIs(t, err, persist.ErrLastOwner)
	_, _, err = s.UpdateUser(ctx, b.ID, func(u *persist.User) error { u.Role = persist.RoleAdmin; return nil })
	require.NoError(t, err)
	_, after, err := s.UpdateUser(ctx, a.ID, func(u *persist.User) error { u.Disabled = true; return nil })
	require.NoError(t, err)
	require.True(t, after.Disabled)
}

func TestDeleteWorkspaceSweeps(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws, err := s.CreateWorkspace(ctx, persist.Workspace{Name: "W"}, u.ID)
	require.NoError(t, err)
	newSession(t, s, ws.ID, time.Now(), "kept nowhere")
	_, err = s.PutFile(ctx, persist.File{WorkspaceID: ws.ID, Path: "a.txt", CreatedBy: u.ID}, strings.NewReader("abc"), 0)
	require.NoError(t, err)
	require.NoError(t, s.CreateJob(ctx, persist.Job{ID: uniq("job"), WorkspaceID: ws.ID, UserID: u.ID, Name: "j", Schedule: "@daily"}))
	_, err = s.UpdateUserPreferences(ctx, u.ID, 0, func(u *persist.User, _ map[string]json.RawMessage) error {
		u.DefaultWorkspaceID = ws.ID
		return nil
	})
	require.NoError(t, err)
	n, err := s.StoredBytes(persist.QuotaUser, u.ID)
	require.NoError(t, err)
	require.Equal(t, int64(3), n)

	_, err = s.DeleteWorkspace(ctx, u.DefaultWorkspaceID)
	require.ErrorIs(t, err, persist.ErrConflict, "a personal workspace stays")
	d, err := s.DeleteWorkspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, persist.DeletedWorkspace{Sessions: 1, Files: 1, Jobs: 1}, d)
	_, err = s.Workspace(ws.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	n, err = s.StoredBytes(persist.QuotaUser, u.ID)
	require.NoError(t, err)
	require.Zero(t, n)
	def, err := s.DefaultWorkspaceFor(u.ID)
	require.NoError(t, err)
	got, err := s.UserByID(u.ID)
	require.NoError(t, err)
	require.Equal(t, got.DefaultWorkspaceID, def, "the default went back to the personal workspace")
	require.NoError(t, s.Check())
}

func TestStoredBytesQuotaUnderConcurrency(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	_, err := s.SetQuotaLimits(ctx, persist.QuotaWorkspace, u.DefaultWorkspaceID, persist.QuotaLimits{StoredBytes: 100})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored []string
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutFile(ctx, persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "f" + strconv.Itoa(i), CreatedBy: u.ID},
				strings.NewReader(strings.Repeat("x", 10)), 0)
			if err != nil {
				var qe *persist.QuotaError
				require.ErrorAs(t, err, &qe)
				require.Equal(t, persist.LimitStoredBytes, qe.Limit)
				require.ErrorIs(t, err, persist.ErrQuotaExceeded)
				return
			}
			mu.Lock()
			stored = append(stored, "f"+strconv.Itoa(i))
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, stored, 10, "exactly the limit")
	n, err := s.StoredBytes(persist.QuotaWorkspace, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, int64(100), n)
	// Replacing a file counts the difference only.
	put := func(content string) error {
		_, err := s.PutFile(ctx, persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: stored[0], CreatedBy: u.ID}, strings.NewReader(content), 0)
		return err
	}
	require.NoError(t, put("y"))
	require.ErrorIs(t, put(strings.Repeat("z", 11)), persist.ErrQuotaExceeded)
	require.NoError(t, put(strings.Repeat("z", 10)))
	n, err = s.StoredBytes(persist.QuotaWorkspace, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, int64(100), n)
}

func TestQuotaUsageDeltas(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	day1, day2 := mustTime(t, "2030-01-31T23:00:00Z"), mustTime(t, "2030-02-01T01:00:00Z")
	add := func(at string, n int64) {
		t.Helper()
		done := make(chan error, 1)
		s.AddQuotaUsage([]persist.UsageDelta{{Scope: persist.QuotaUser, ID: u.ID, At: mustTime(t, at), Tokens: n}}, func(err error) { done <- err })
		require.NoError(t, <-done)
	}
	add("2030-01-31T23:00:00Z", 5)
	add("2030-01-31T23:30:00Z", 7)
	got, err := s.QuotaUsage(persist.QuotaUser, u.ID, day1)
	require.NoError(t, err)
	require.Equal(t, persist.QuotaUsage{Day: "2030-01-31", DayTokens: 12, Month: "2030-01", MonthTokens: 12}, got)
	add("2030-02-01T00:30:00Z", 3)
	got, err = s.QuotaUsage(persist.QuotaUser, u.ID, day2)
	require.NoError(t, err)
	require.Equal(t, persist.QuotaUsage{Day: "2030-02-01", DayTokens: 3, Month: "2030-02", MonthTokens: 3}, got)
	got, err = s.QuotaUsage(persist.QuotaUser, u.ID, mustTime(t, "2030-02-02T00:00:00Z"))
	require.NoError(t, err)
	require.Zero(t, got.DayTokens, "a new day starts empty")
	require.Equal(t, int64(3), got.MonthTokens)
}

// TestMigrateMembershipsToRoles opens a file as version 3 left it: role-
// less memberships become admin grants, and stored bytes get counted.
func TestMigrateMembershipsToRoles(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUser(t, s)
	_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a", CreatedBy: u.ID}, strings.NewReader("abcd"), 0)
	require.NoError(t, err)
	require.NoError(t, s.BoltDB().Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"organizations", "org_members", "org_members_by_user", "groups", "groups_by_org",
			"group_members", "group_members_by_user", "ws_grants", "group_grants", "workspaces_by_org", "user_prefs",
			"audit", "audit_by_actor", "audit_by_resource", "audit_by_workspace", "audit_by_org",
			"quota_limits", "quota_usage", "stored_bytes"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("members")).Put([]byte(u.ID+"\x00"+u.DefaultWorkspaceID), nil); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("3"))
	}))
	require.NoError(t, s.Close())

	s = openAt(t, dir)
	require.Equal(t, persist.LatestSchema(), s.SchemaVersion())
	role, err := s.WorkspaceRole(u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, persist.WorkspaceAdmin, role)
	grants, err := s.WorkspaceGrants(u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, []persist.WorkspaceGrant{{WorkspaceID: u.DefaultWorkspaceID, SubjectID: u.ID, Role: persist.WorkspaceAdmin}}, grants)
	n, err := s.StoredBytes(persist.QuotaWorkspace, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, int64(4), n)
	require.NoError(t, s.Check())
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}
