package tenancy_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// recorder is a tenancy.Runtime that notes what it was asked to end.
type recorder struct {
	mu     sync.Mutex
	ended  []persist.WorkspaceContents
	scopes []string
}

func (r *recorder) EndWorkspace(_ context.Context, c persist.WorkspaceContents) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, c)
	return 0
}

func (r *recorder) ScopeDeleted(scope, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scopes = append(r.scopes, scope+"/"+id)
}

// refuseModels accepts only mock:echo.
type refuseModels struct{}

func (refuseModels) CheckModel(_ context.Context, _, _, model string) error {
	if model != "mock:echo" {
		return agent.ErrInvalid
	}
	return nil
}

func newService(t *testing.T) (*tenancy.Service, *persist.Store, *recorder) {
	t.Helper()
	store := persisttest.Open(t)
	s, err := tenancy.New(tenancy.Config{Store: store, Models: refuseModels{}})
	require.NoError(t, err)
	r := &recorder{}
	s.SetRuntime(r)
	return s, store, r
}

func newUser(t *testing.T, store *persist.Store, email string) persist.User {
	t.Helper()
	u, err := store.CreateUser(t.Context(), persist.User{Email: email}, persist.Workspace{Name: email + "'s"})
	require.NoError(t, err)
	return u
}

func TestAuthorizeIsTheOneAccessRule(t *testing.T) {
	s, store, _ := newService(t)
	ctx := t.Context()
	owner, other := newUser(t, store, "owner@example.com"), newUser(t, store, "other@example.com")
	ws, err := s.CreateWorkspace(ctx, owner.ID, "team", "")
	require.NoError(t, err)

	require.NoError(t, s.Authorize(ctx, owner.ID, ws.Workspace.ID, persist.WorkspaceAdmin))
	err = s.Authorize(ctx, other.ID, ws.Workspace.ID, persist.WorkspaceViewer)
	require.ErrorIs(t, err, agent.ErrNotFound, "another tenant's workspace is not found")
	require.NotErrorIs(t, err, persist.ErrNotFound, "the store's error does not leak past Authorize")
	require.ErrorIs(t, s.Authorize(ctx, owner.ID, "ws_nope", persist.WorkspaceViewer), agent.ErrNotFound)
	require.ErrorIs(t, s.Authorize(ctx, owner.ID, "not-an-id", persist.WorkspaceViewer), agent.ErrNotFound)

	_, err = s.AddWorkspaceMember(ctx, owner.ID, ws.Workspace.ID, tenancy.MemberRef{UserRef: tenancy.UserRef{ID: other.ID}}, persist.WorkspaceViewer)
	require.NoError(t, err)
	require.NoError(t, s.Authorize(ctx, other.ID, ws.Workspace.ID, persist.WorkspaceViewer))
	err = s.Authorize(ctx, other.ID, ws.Workspace.ID, persist.WorkspaceEditor)
	require.ErrorIs(t, err, agent.ErrForbidden, "a role below the need is forbidden")
	require.NotErrorIs(t, err, persist.ErrForbidden)
	require.Contains(t, err.Error(), "editor")
}

func TestWorkspaceForDefaultsThenChecks(t *testing.T) {
	s, store, _ := newService(t)
	ctx := t.Context()
	u, other := newUser(t, store, "u@example.com"), newUser(t, store, "o@example.com")

	got, err := s.WorkspaceFor(ctx, u.ID, "", persist.WorkspaceEditor)
	require.NoError(t, err)
	require.Equal(t, u.DefaultWorkspaceID, got, "no workspace named: the user's default")

	_, err = s.WorkspaceFor(ctx, u.ID, other.DefaultWorkspaceID, persist.WorkspaceViewer)
	require.ErrorIs(t, err, agent.ErrNotFound)

	// The default_workspace_id preference moves the default.
	team, err := s.CreateWorkspace(ctx, u.ID, "team", "")
	require.NoError(t, err)
	_, err = s.UpdatePreferences(ctx, u.ID, patch(tenancy.PrefDefaultWorkspace, `"`+team.Workspace.ID+`"`))
	require.NoError(t, err)
	got, err = s.WorkspaceFor(ctx, u.ID, "", persist.WorkspaceEditor)
	require.NoError(t, err)
	require.Equal(t, team.Workspace.ID, got)
}

func TestPreferencesCheckTheirModel(t *testing.T) {
	s, store, _ := newService(t)
	ctx := t.Context()
	u := newUser(t, store, "u@example.com")
	require.Equal(t, "mock:fallback", s.DefaultModel(u.ID, "mock:fallback"))

	_, err := s.UpdatePreferences(ctx, u.ID, patch(tenancy.PrefDefaultModel, `"nope:x"`))
	require.ErrorIs(t, err, agent.ErrInvalid, "a model the user cannot use is refused")
	prefs, err := s.UpdatePreferences(ctx, u.ID, patch(tenancy.PrefDefaultModel, `"mock:echo"`))
	require.NoError(t, err)
	require.JSONEq(t, `"mock:echo"`, string(prefs[tenancy.PrefDefaultModel]))
	require.Equal(t, "mock:echo", s.DefaultModel(u.ID, "mock:fallback"))
}

func TestDeletionsAskTheRuntime(t *testing.T) {
	s, store, r := newService(t)
	ctx := t.Context()
	u := newUser(t, store, "u@example.com")
	org, err := s.CreateOrganization(ctx, u.ID, "acme")
	require.NoError(t, err)
	ws, err := s.CreateWorkspace(ctx, u.ID, "team", org.Org.ID)
	require.NoError(t, err)

	_, err = s.DeleteWorkspace(ctx, u.ID, u.DefaultWorkspaceID)
	require.ErrorIs(t, err, agent.ErrConflict, "a personal workspace stays")
	require.ErrorIs(t, s.DeleteOrganization(ctx, u.ID, org.Org.ID), agent.ErrConflict, "an organization with workspaces stays")

	_, err = s.DeleteWorkspace(ctx, u.ID, ws.Workspace.ID)
	require.NoError(t, err)
	require.NoError(t, s.DeleteOrganization(ctx, u.ID, org.Org.ID))
	require.Len(t, r.ended, 1, "the runtime ends the deleted workspace's work first")
	require.Equal(t, []string{persist.QuotaWorkspace + "/" + ws.Workspace.ID, persist.QuotaOrganization + "/" + org.Org.ID}, r.scopes)

	wsID, orgID := s.Place(ws.Workspace.ID)
	require.Equal(t, ws.Workspace.ID, wsID)
	require.Empty(t, orgID, "a deleted workspace has no organization any more")
}

func TestOrganizationRoles(t *testing.T) {
	s, store, _ := newService(t)
	ctx := t.Context()
	owner, member, outsider := newUser(t, store, "a@example.com"), newUser(t, store, "b@example.com"), newUser(t, store, "c@example.com")
	org, err := s.CreateOrganization(ctx, owner.ID, "acme")
	require.NoError(t, err)
	_, err = s.AddOrgMember(ctx, owner.ID, org.Org.ID, tenancy.UserRef{Email: member.Email}, "")
	require.NoError(t, err)

	_, err = s.GetOrganization(ctx, outsider.ID, org.Org.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = s.AddOrgMember(ctx, member.ID, org.Org.ID, tenancy.UserRef{ID: outsider.ID}, "")
	require.ErrorIs(t, err, agent.ErrForbidden, "a member adds nobody")
	_, err = s.UpdateOrgMember(ctx, owner.ID, org.Org.ID, owner.ID, persist.OrgMember)
	require.ErrorIs(t, err, agent.ErrConflict, "the last owner stays")

	g, err := s.CreateGroup(ctx, owner.ID, org.Org.ID, tenancy.GroupInput{Name: ptr("devs")})
	require.NoError(t, err)
	_, err = s.AddGroupMember(ctx, owner.ID, g.ID, tenancy.UserRef{ID: outsider.ID})
	require.ErrorIs(t, err, agent.ErrInvalid, "a group's members belong to its organization")
	_, err = s.GetGroup(ctx, outsider.ID, g.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	wsID, orgID := s.Place(g.ID)
	require.Empty(t, wsID)
	require.Equal(t, org.Org.ID, orgID)
}

func ptr[T any](v T) *T { return &v }

func patch(key, raw string) map[string]json.RawMessage {
	return map[string]json.RawMessage{key: json.RawMessage(raw)}
}
