package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// The take-over attack: a stranger adds a victim to their own workspace
// or organization and puts a provider setting there. Membership now needs
// the victim's consent, and even once the victim accepts, their turns in
// their own workspace never reach the stranger's upstream.
func TestInvitationsAndTurnProviderTakeOver(t *testing.T) {
	up := startOpenAIUpstream(t)
	// The loopback upstream stands for the attacker's host: let it through
	// the outbound fence (the take-over is about routing, not addresses).
	s := startServer(t, "", map[string]string{"SESHAT_ALLOW_PRIVATE_UPSTREAMS": "true"})
	s.register(t, "root@example.com", "password123")
	mallory := s.register(t, "mallory@example.com", "password123")
	victim := s.register(t, "victim@example.com", "password123")
	m, v := mallory.Token, victim.Token

	turns := func() int { return len(up.Requests("/v1/chat/completions")) }
	victimTurn := func() {
		t.Helper()
		resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: v,
			Body: apitype.QueryRequest{Prompt: "my secret plans", Model: "openai:gpt-test"}})
		// No openai provider serves the victim's own workspace.
		requireAPIError(t, resp, http.StatusBadRequest, "invalid_request")
	}
	trapSetting := func(wsID string) {
		t.Helper()
		s.createSetting(t, m, apitype.CreateProviderSettingRequest{
			Name: "trap", Provider: "openai", BaseURL: up.srv.URL + "/v1", APIKey: "sk-trap",
			DefaultModel: "gpt-test", Scope: "workspace", WorkspaceID: wsID,
		})
	}

	t.Run("workspace", func(t *testing.T) {
		trap := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", m, apitype.CreateWorkspaceRequest{Name: "trap"}), 201)
		members := "/api/v1/workspaces/" + trap.ID + "/members"

		// By email, known or unknown, the answer is an invitation of the
		// same shape; it names no one beyond what was typed.
		inv := created[apitype.Invitation](t, s.call(t, "POST", members, m, apitype.AddMemberRequest{Email: "victim@example.com", Role: "editor"}), 201)
		require.True(t, strings.HasPrefix(inv.ID, "inv_"))
		require.Equal(t, "workspace", inv.Kind)
		require.Equal(t, "pending", inv.Status)
		require.Equal(t, trap.ID, inv.TargetID)
		require.Equal(t, "trap", inv.TargetName)
		require.Equal(t, mallory.User.ID, inv.InvitedBy)
		ghost := s.call(t, "POST", members, m, apitype.AddMemberRequest{Email: "nobody@example.com", Role: "editor"})
		require.Equal(t, 201, ghost.Status, "%s", ghost.Body)
		var g apitype.Invitation
		ghost.JSON(t, &g)
		require.Equal(t, "pending", g.Status)
		// By id, the stranger's email and name stay hidden.
		byID := s.call(t, "POST", "/api/v1/workspaces/"+trap.ID+"/members", m, apitype.AddMemberRequest{UserID: victim.User.ID, Role: "viewer"})
		require.Equal(t, 201, byID.Status, "%s", byID.Body)
		require.NotContains(t, string(byID.Body), "victim@example.com")
		require.NotContains(t, string(byID.Body), "Test victim")

		// Not a member until accepted.
		require.Equal(t, 404, s.get(t, "/api/v1/workspaces/"+trap.ID, v).Status)
		trapSetting(trap.ID)
		victimTurn()

		var mine apitype.List[apitype.Invitation]
		s.get(t, "/api/v1/users/me/invitations", v).JSON(t, &mine)
		require.Len(t, mine.Data, 2)
		// Someone else cannot answer it.
		requireAPIError(t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", m, nil), 404, "not_found")
		accepted := created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", v, nil), 200)
		require.Equal(t, "accepted", accepted.Status)
		require.Equal(t, 200, s.get(t, "/api/v1/workspaces/"+trap.ID, v).Status)
		requireAPIError(t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", v, nil), 409, "conflict")

		// A member now, the victim's turns in their own workspace still
		// never reach the trap's upstream.
		victimTurn()
		require.Zero(t, turns())

		// In the trap workspace itself, its setting serves (so the
		// setting works, and the counts above mean something).
		r := s.query(t, v, apitype.QueryRequest{Prompt: "hello", Model: "openai:gpt-test", WorkspaceID: trap.ID})
		require.NotEmpty(t, r.Content)
		require.NotZero(t, turns())
	})

	t.Run("organization", func(t *testing.T) {
		before := turns()
		org := created[apitype.Organization](t, s.call(t, "POST", "/api/v1/organizations", m, apitype.CreateOrganizationRequest{Name: "trap org"}), 201)
		inv := created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/organizations/"+org.ID+"/members", m, apitype.AddMemberRequest{Email: "VICTIM@example.com"}), 201)
		require.Equal(t, "organization", inv.Kind)
		require.Equal(t, 404, s.get(t, "/api/v1/organizations/"+org.ID, v).Status)
		// Declined, nothing is granted.
		created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/decline", v, nil), 200)
		require.Equal(t, 404, s.get(t, "/api/v1/organizations/"+org.ID, v).Status)
		// Revoked, it cannot be accepted.
		inv2 := created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/organizations/"+org.ID+"/members", m, apitype.AddMemberRequest{Email: "victim@example.com"}), 201)
		require.Equal(t, 204, s.call(t, "DELETE", "/api/v1/invitations/"+inv2.ID, m, nil).Status)
		requireAPIError(t, s.call(t, "POST", "/api/v1/invitations/"+inv2.ID+"/accept", v, nil), 409, "conflict")

		inv3 := created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/organizations/"+org.ID+"/members", m, apitype.AddMemberRequest{Email: "victim@example.com"}), 201)
		created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv3.ID+"/accept", v, nil), 200)
		require.Equal(t, 200, s.get(t, "/api/v1/organizations/"+org.ID, v).Status)
		// An organization's admins grant its members roles on its
		// workspaces directly.
		ows := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", m, apitype.CreateWorkspaceRequest{Name: "org trap", OrganizationID: org.ID}), 201)
		mem := created[apitype.Member](t, s.call(t, "POST", "/api/v1/workspaces/"+ows.ID+"/members", m, apitype.AddMemberRequest{UserID: victim.User.ID, Role: "editor"}), 201)
		require.Equal(t, victim.User.ID, mem.ID)
		trapSetting(ows.ID)
		victimTurn()
		require.Equal(t, before, turns())
	})
}

// Under SESHAT_SIGNUP=invite, a pending invitation lets its email
// register.
func TestSignupByInvitation(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_SIGNUP": "invite"})
	root := s.register(t, "root@example.com", "password123")
	reg := func(email string) response {
		return s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
			Body: apitype.RegisterRequest{Email: email, Password: "password123"}})
	}
	require.Equal(t, 403, reg("new@example.com").Status)
	ws := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", root.Token, apitype.CreateWorkspaceRequest{Name: "team"}), 201)
	// A server admin adding an email with no account makes an invitation.
	inv := created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/workspaces/"+ws.ID+"/members", root.Token,
		apitype.AddMemberRequest{Email: "new@example.com", Role: "editor"}), 201)
	require.Equal(t, "pending", inv.Status)
	require.Equal(t, 201, reg("new@example.com").Status)
	require.Equal(t, 403, reg("other@example.com").Status)
	nu := s.login(t, "new@example.com", "password123")
	var auth apitype.AuthResponse
	nu.JSON(t, &auth)
	created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", auth.Token, nil), 200)
	require.Equal(t, 200, s.get(t, "/api/v1/workspaces/"+ws.ID, auth.Token).Status)
}

// invite adds a member through path as a non-admin does, by an
// invitation, which the invitee (token) accepts.
func (s *testServer) invite(t testing.TB, path, token string, req apitype.AddMemberRequest, invitee string) apitype.Invitation {
	t.Helper()
	inv := created[apitype.Invitation](t, s.call(t, "POST", path, token, req), 201)
	require.Equal(t, "pending", inv.Status)
	return created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", invitee, nil), 200)
}

// TestOrgAdminsCannotProbeAccounts has an organization's admin add
// outsiders to its workspace and its group, by email and by user_id: an
// existing account outside the organization gets the very answer an
// address or id no account has, and that answer names no one.
func TestOrgAdminsCannotProbeAccounts(t *testing.T) {
	s := startServer(t, "", nil)
	s.register(t, "root@example.com", "password123")
	mallory := s.register(t, "mallory@example.com", "password123")
	victim := s.register(t, "victim@example.com", "password123")
	m := mallory.Token
	org := created[apitype.Organization](t, s.call(t, "POST", "/api/v1/organizations", m, apitype.CreateOrganizationRequest{Name: "probe"}), 201)
	ows := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", m, apitype.CreateWorkspaceRequest{Name: "probe ws", OrganizationID: org.ID}), 201)
	grp := created[apitype.Group](t, s.call(t, "POST", "/api/v1/groups", m, apitype.CreateGroupRequest{Name: "probe group", OrganizationID: org.ID}), 201)
	ghostID := "usr_" + strings.Repeat("x", len(victim.User.ID)-len("usr_"))

	for _, path := range []string{"/api/v1/workspaces/" + ows.ID + "/members", "/api/v1/groups/" + grp.ID + "/members"} {
		for _, pair := range [][2]apitype.AddMemberRequest{
			{{Email: "victim@example.com", Role: "editor"}, {Email: "nobody@example.com", Role: "editor"}},
			{{UserID: victim.User.ID, Role: "editor"}, {UserID: ghostID, Role: "editor"}},
		} {
			known := s.call(t, "POST", path, m, pair[0])
			unknown := s.call(t, "POST", path, m, pair[1])
			require.Equal(t, unknown.Status, known.Status, "%s: %s vs %s", path, known.Body, unknown.Body)
			require.Equal(t, http.StatusBadRequest, known.Status, "%s: %s", path, known.Body)
			var ke, ue apitype.Error
			known.JSON(t, &ke)
			unknown.JSON(t, &ue)
			require.Equal(t, ue.Code, ke.Code)
			require.Equal(t, ue.Error, ke.Error, "%s: the same message either way", path)
			require.NotContains(t, string(known.Body), "victim@example.com")
			require.NotContains(t, string(known.Body), victim.User.ID)
		}
	}
}

// TestInvitationsNormaliseEmails invites look-alike spellings: a
// full-width one reaches the account (and, under SESHAT_SIGNUP=invite,
// the registration) of the plain address; a zero-width space is refused
// as registration refuses it.
func TestInvitationsNormaliseEmails(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_SIGNUP": "invite"})
	root := s.register(t, "root@example.com", "password123")
	ws := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", root.Token, apitype.CreateWorkspaceRequest{Name: "team"}), 201)
	members := "/api/v1/workspaces/" + ws.ID + "/members"

	requireAPIError(t, s.call(t, "POST", members, root.Token, apitype.AddMemberRequest{Email: "gu\u200best@example.com", Role: "editor"}),
		http.StatusBadRequest, "invalid_request")
	inv := created[apitype.Invitation](t, s.call(t, "POST", members, root.Token, apitype.AddMemberRequest{Email: "ＧＵＥＳＴ@example.com", Role: "editor"}), 201)
	require.Equal(t, "guest@example.com", inv.Email)

	guest := s.register(t, "guest@example.com", "password123")
	var mine apitype.List[apitype.Invitation]
	s.get(t, "/api/v1/users/me/invitations", guest.Token).JSON(t, &mine)
	require.Len(t, mine.Data, 1)
	require.Equal(t, inv.ID, mine.Data[0].ID)
	created[apitype.Invitation](t, s.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", guest.Token, nil), 200)

	// A server admin adding an account by a look-alike spelling finds it.
	ws2 := created[apitype.Workspace](t, s.call(t, "POST", "/api/v1/workspaces", root.Token, apitype.CreateWorkspaceRequest{Name: "two"}), 201)
	mem := created[apitype.Member](t, s.call(t, "POST", "/api/v1/workspaces/"+ws2.ID+"/members", root.Token,
		apitype.AddMemberRequest{Email: "ｇｕｅｓｔ@EXAMPLE.com", Role: "viewer"}), 201)
	require.Equal(t, guest.User.ID, mem.ID)
}
