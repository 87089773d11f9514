package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// Credentials follow their destination: moving a setting to another host
// without its key again is refused, and the stored key never reaches the
// new host.
func TestProviderSettingKeyFollowsDestination(t *testing.T) {
	good := startOpenAIUpstream(t)
	thief := startOpenAIUpstream(t)
	s := startServer(t, "", nil)
	tok := s.register(t, "owner@example.com", "password123").Token
	const key = "sk-org-SECRET-1234"
	ps := s.createSetting(t, tok, apitype.CreateProviderSettingRequest{
		Name: "org", Provider: "openai", BaseURL: good.srv.URL + "/v1", APIKey: key, DefaultModel: "gpt-test",
	})
	path := settingsPath + "/" + ps.ID
	requireAPIError(t, s.do(t, request{Method: http.MethodPatch, Path: path, Token: tok,
		Body: map[string]any{"base_url": thief.srv.URL + "/v1"}}), http.StatusBadRequest, "secret_required")
	// The same URL again, or another field, needs nothing.
	resp := s.do(t, request{Method: http.MethodPatch, Path: path, Token: tok,
		Body: map[string]any{"base_url": good.srv.URL + "/v1", "name": "renamed"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "hi", ProviderSettingID: ps.ID, Model: "gpt-test"})
	require.NotEmpty(t, r.Content)
	require.Empty(t, thief.Requests("/v1/chat/completions"))
	// A provider_setting_id without a model uses the setting's default model.
	n := len(good.Requests("/v1/chat/completions"))
	r = s.query(t, tok, apitype.QueryRequest{Prompt: "hi", ProviderSettingID: ps.ID})
	require.NotEmpty(t, r.Content)
	calls := good.Requests("/v1/chat/completions")
	require.Greater(t, len(calls), n)
	require.Equal(t, "gpt-test", calls[len(calls)-1].Body["model"])
	// With a key sent again, the move is allowed.
	resp = s.do(t, request{Method: http.MethodPatch, Path: path, Token: tok,
		Body: map[string]any{"base_url": thief.srv.URL + "/v1", "api_key": "sk-new-5678"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	s.query(t, tok, apitype.QueryRequest{Prompt: "hi", ProviderSettingID: ps.ID, Model: "gpt-test"})
	for _, c := range thief.Requests("/v1/chat/completions") {
		require.Equal(t, "Bearer sk-new-5678", c.Header.Get("Authorization"))
	}
}

// The outbound fence: a setting made by a non-admin may not reach
// loopback; a server admin's may; the operator may lift the fence.
func TestProviderSettingOutboundFence(t *testing.T) {
	up := startOpenAIUpstream(t)
	for _, allow := range []string{"false", "true"} {
		s := startServer(t, "", map[string]string{"SESHAT_ALLOW_PRIVATE_UPSTREAMS": allow})
		root := s.register(t, "root@example.com", "password123").Token
		user := s.register(t, "user@example.com", "password123").Token
		before := len(up.Requests("/v1/chat/completions"))
		ps := s.createSetting(t, user, apitype.CreateProviderSettingRequest{
			Name: "local", Provider: "openai", BaseURL: up.srv.URL + "/v1", APIKey: "sk-x", DefaultModel: "gpt-test",
		})
		resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: user,
			Body: apitype.QueryRequest{Prompt: "hi", ProviderSettingID: ps.ID}})
		if allow == "false" {
			require.NotEqual(t, http.StatusOK, resp.Status, "%s", resp.Body)
			require.Len(t, up.Requests("/v1/chat/completions"), before, "the fence let a non-admin reach loopback")
		} else {
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		}
		admin := s.createSetting(t, root, apitype.CreateProviderSettingRequest{
			Name: "local", Provider: "openai", BaseURL: up.srv.URL + "/v1", APIKey: "sk-x", DefaultModel: "gpt-test",
		})
		r := s.query(t, root, apitype.QueryRequest{Prompt: "hi", ProviderSettingID: admin.ID})
		require.NotEmpty(t, r.Content)
	}
}
