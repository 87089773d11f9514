package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

func TestSignupPolicies(t *testing.T) {
	for _, policy := range []string{"closed", "invite"} {
		t.Run(policy, func(t *testing.T) {
			s := startServer(t, "", map[string]string{"SESHAT_SIGNUP": policy})
			root := s.register(t, "root@example.com", "password123")
			require.Equal(t, "admin", root.User.Role, "the first account registers under any policy")

			resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
				Body: apitype.RegisterRequest{Email: "walk-in@example.com", Password: "password123"}})
			e := requireAPIError(t, resp, http.StatusForbidden, "signup_closed")
			require.NotContains(t, e.Error, "sign-up closed: ", "said once")
			require.Equal(t, http.StatusUnauthorized, s.login(t, "walk-in@example.com", "password123").Status, "no account was made")

			// How accounts are made when sign-up is not open.
			resp = s.do(t, request{Method: http.MethodPost, Path: "/api/v1/users", Token: root.Token,
				Body: apitype.CreateUserRequest{Email: "Made@Example.com", Password: "password123", Name: "Made"}})
			require.Equal(t, http.StatusCreated, resp.Status, "body: %s", resp.Body)
			var made apitype.User
			resp.JSON(t, &made)
			require.Equal(t, "made@example.com", made.Email)
			require.Equal(t, "member", made.Role)
			require.NotEmpty(t, made.DefaultWorkspaceID)
			resp = s.login(t, "made@example.com", "password123")
			require.Equal(t, http.StatusOK, resp.Status)
			var g apitype.AuthResponse
			resp.JSON(t, &g)

			requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/users", Token: g.Token,
				Body: apitype.CreateUserRequest{Email: "x@example.com", Password: "password123"}}), http.StatusForbidden, "forbidden")
			requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/users", Token: root.Token,
				Body: apitype.CreateUserRequest{Email: "made@example.com", Password: "password123"}}), http.StatusConflict, "conflict")
			resp = s.do(t, request{Method: http.MethodPost, Path: "/api/v1/users", Token: root.Token,
				Body: apitype.CreateUserRequest{Email: "ops@example.com", Password: "password123", Role: "admin"}})
			require.Equal(t, http.StatusCreated, resp.Status)
			resp.JSON(t, &made)
			require.Equal(t, "admin", made.Role)
		})
	}
}

func TestUpdateOwnAccount(t *testing.T) {
	s := startServer(t, "", nil)
	s.register(t, "root@example.com", "password123")
	me := s.register(t, "me@example.com", "password123")
	patch := func(body string) response {
		return s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/users/me", Token: me.Token, Body: body,
			Header: map[string]string{"Content-Type": "application/json"}})
	}

	resp := patch(`{"name":"Renamed"}`)
	require.Equal(t, http.StatusOK, resp.Status, "a member's own PATCH is not the admin route: %s", resp.Body)
	var u apitype.User
	resp.JSON(t, &u)
	require.Equal(t, "Renamed", u.Name)
	require.Equal(t, me.User.ID, u.ID)

	e := requireAPIError(t, patch(`{"password":{"current":"not-my-password","new":"password456"}}`), http.StatusForbidden, "forbidden")
	require.Contains(t, e.Error, "current password")
	requireAPIError(t, patch(`{"password":{"current":"password123","new":"short"}}`), http.StatusBadRequest, "invalid_request")
	requireAPIError(t, patch(`{"role":"admin"}`), http.StatusBadRequest, "invalid_field")
	requireAPIError(t, patch(`{"email":"root@example.com"}`), http.StatusBadRequest, "invalid_field")
	e = requireAPIError(t, patch(`{"name":"`+strings.Repeat("n", 201)+`"}`), http.StatusBadRequest, "invalid_request")
	require.Contains(t, e.Error, "name")

	require.Equal(t, http.StatusOK, patch(`{"password":{"current":"password123","new":"password456"}}`).Status)
	require.Equal(t, http.StatusUnauthorized, s.login(t, "me@example.com", "password123").Status)
	require.Equal(t, http.StatusOK, s.login(t, "me@example.com", "password456").Status)
	var got apitype.User
	s.get(t, "/api/v1/users/me", me.Token).JSON(t, &got)
	require.Equal(t, "member", got.Role)
}

func TestRegistrationIsRateLimitedPerAddress(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_REGISTER_PER_MINUTE": "3"})
	for i := range 3 {
		s.register(t, string(rune('a'+i))+"@example.com", "password123")
	}
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
		Body: apitype.RegisterRequest{Email: "d@example.com", Password: "password123"}})
	e := requireAPIError(t, resp, http.StatusTooManyRequests, "rate_limited")
	require.Contains(t, e.Error, "registrations")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestLookAlikeEmailsAreOneAccountOrRefused(t *testing.T) {
	s := startServer(t, "", nil)
	ada := s.register(t, "ada@example.com", "password123")
	s.register(t, "ada@bücher.de", "password123")
	for _, tc := range []struct {
		name, email string
		status      int
		code        string
	}{
		{"upper case", "ADA@example.com", http.StatusConflict, "conflict"},
		{"full-width letters", "ａｄａ@example.com", http.StatusConflict, "conflict"},
		{"zero-width space", "ada\u200b@example.com", http.StatusBadRequest, "invalid_request"},
		{"bidi override", "\u202eada@example.com", http.StatusBadRequest, "invalid_request"},
		{"Cyrillic a", "\u0430da@example.com", http.StatusBadRequest, "invalid_request"},
		{"Cyrillic e in a Punycode domain", "ada@xn--xample-2of.com", http.StatusBadRequest, "invalid_request"},
		{"Punycode of a Unicode domain", "ada@xn--bcher-kva.de", http.StatusConflict, "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
				Body: apitype.RegisterRequest{Email: tc.email, Password: "password123"}})
			requireAPIError(t, resp, tc.status, tc.code)
		})
	}
	// The full-width spelling logs in to the one account.
	resp := s.login(t, "ａｄａ@example.com", "password123")
	require.Equal(t, http.StatusOK, resp.Status)
	var g apitype.AuthResponse
	resp.JSON(t, &g)
	require.Equal(t, ada.User.ID, g.User.ID)
}

// TestLoginLockoutIsPerAddress has a stranger on 127.0.0.2 exhaust the
// failed logins of an account (dialling from that source address): the
// stranger is refused, the owner on 127.0.0.1 still logs in.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	s := startServer(t, "", nil)
	s.register(t, "owner@example.com", "password123")
	stranger := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			return d.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(stranger.CloseIdleConnections)
	strangerLogin := func() int {
		b, _ := json.Marshal(apitype.LoginRequest{Email: "owner@example.com", Password: "guess-guess"})
		resp, err := stranger.Post(s.URL+"/api/v1/auth/login", "application/json", strings.NewReader(string(b)))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 5 {
		require.Equal(t, http.StatusUnauthorized, strangerLogin())
	}
	require.Equal(t, http.StatusTooManyRequests, strangerLogin(), "the stranger is held back")
	require.Equal(t, http.StatusOK, s.login(t, "owner@example.com", "password123").Status, "the owner is not locked out")
}

// TestFailedLoginAuditKeepsNoEmail types a password into the email field:
// the audit entry of the failed login does not keep it.
func TestFailedLoginAuditKeepsNoEmail(t *testing.T) {
	s := startServer(t, "", nil)
	root := s.register(t, "root@example.com", "password123")
	require.Equal(t, http.StatusUnauthorized, s.login(t, "Tr0ub4dor&3-my-password", "x").Status)
	require.Equal(t, http.StatusUnauthorized, s.login(t, "root@example.com", "wrong-password").Status)
	var logins []apitype.AuditEntry
	require.Eventually(t, func() bool {
		logins = find(s.auditLog(t, root.Token, url.Values{}), "POST /api/v1/auth/login")
		return len(logins) == 2
	}, 10*time.Second, 10*time.Millisecond)
	raw, err := json.Marshal(logins)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "Tr0ub4dor", "what was typed as the email is not kept")
	require.Equal(t, root.User.ID, logins[0].ResourceID, "a failure on a real account names it")
	require.Empty(t, logins[1].ResourceID)
}
