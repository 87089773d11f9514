package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// startOAuthAs starts the OAuth authorization of setting id with the
// request's Host header set to host.
func (s *testServer) startOAuthAs(t *testing.T, token, id, host string) response {
	t.Helper()
	hr, err := http.NewRequest(http.MethodPost, s.URL+settingsPath+"/"+id+"/oauth/start", nil)
	require.NoError(t, err)
	hr.Host = host
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.Client.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (s *testServer) oauthSetting(t *testing.T, token string, a *authServer) apitype.ProviderSetting {
	t.Helper()
	secret := "client-secret"
	return s.createSetting(t, token, apitype.CreateProviderSettingRequest{Name: "sso", Provider: "openai", BaseURL: a.srv.URL + "/v1",
		DefaultModel: "gpt-sso",
		OAuth: &apitype.ProviderOAuthRequest{AuthorizeURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token",
			ClientID: "seshat", ClientSecret: &secret}})
}

func redirectURI(t *testing.T, resp response) string {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var start apitype.OAuthStart
	resp.JSON(t, &start)
	u, err := url.Parse(start.AuthorizeURL)
	require.NoError(t, err)
	return u.Query().Get("redirect_uri")
}

// TestOAuthRedirectURIFromTheHostOnlyOnLoopback starts an OAuth
// authorization with a forged Host header: without SESHAT_PUBLIC_URL the
// request's host names the callback only when it is a loopback host, so
// that no one can have the authorization server send the code to a host
// of their choosing.
func TestOAuthRedirectURIFromTheHostOnlyOnLoopback(t *testing.T) {
	a := startAuthServer(t)
	s := startServer(t, "", nil)
	tok := s.register(t, "oauth@example.com", "password123").Token
	ps := s.oauthSetting(t, tok, a)
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]

	for _, host := range []string{"evil.example:" + port, "evil.example", "10.0.0.1:" + port, "localhost.evil.example", "127.0.0.1.nip.io:" + port} {
		e := requireAPIError(t, s.startOAuthAs(t, tok, ps.ID, host), http.StatusBadRequest, "invalid_request")
		require.Contains(t, e.Error, "SESHAT_PUBLIC_URL", "host %s", host)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "127.0.0.1:" + port, "127.1.2.3:" + port, "[::1]:" + port, "localhost"} {
		require.Equal(t, "http://"+strings.ToLower(host)+"/api/v1/settings/providers/oauth/callback", redirectURI(t, s.startOAuthAs(t, tok, ps.ID, host)), "host %s", host)
	}

	// SESHAT_PUBLIC_URL names it whatever the host.
	pub := startServer(t, "", map[string]string{"SESHAT_PUBLIC_URL": "https://seshat.example.com/base/"})
	tok = pub.register(t, "oauth@example.com", "password123").Token
	ps = pub.oauthSetting(t, tok, a)
	for _, host := range []string{"evil.example", "127.0.0.1:" + port} {
		require.Equal(t, "https://seshat.example.com/base/api/v1/settings/providers/oauth/callback", redirectURI(t, pub.startOAuthAs(t, tok, ps.ID, host)))
	}
}
