package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNativeBodiesAreDecodedStrictly sends bodies with misspelt fields,
// at the top and nested: each is a 400 invalid_field naming the field,
// and nothing is created. The Anthropic-compatible surface stays lenient.
func TestNativeBodiesAreDecodedStrictly(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "strict@example.com", "password123").Token

	for _, tc := range []struct {
		name, path, body, field string
	}{
		{"session", "/api/v1/sessions", `{"title":"t","permision_mode":"plan"}`, "permision_mode"},
		{"query", "/api/v1/query", `{"prompt":"hi","modle":"mock:echo"}`, "modle"},
		{"nested", "/api/v1/settings/providers", `{"name":"o","provider":"openai","api_key":"sk-x","oauth":{"client_id":"c","clinet_secret":"s"}}`, "clinet_secret"},
		{"login", "/api/v1/auth/login", `{"email":"strict@example.com","password":"password123","remember_me":true}`, "remember_me"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, request{Method: http.MethodPost, Path: tc.path, Token: tok, Body: tc.body,
				Header: map[string]string{"Content-Type": "application/json"}})
			e := requireAPIError(t, resp, http.StatusBadRequest, "invalid_field")
			require.Contains(t, e.Error, `"`+tc.field+`"`)
		})
	}
	var list struct{ Data []any }
	s.get(t, "/api/v1/sessions", tok).JSON(t, &list)
	require.Empty(t, list.Data, "a refused body creates nothing")

	resp := s.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Body: `{"model":"mock:echo","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"some_new_field":{"x":1}}`,
		Header: map[string]string{"Content-Type": "application/json", "x-api-key": tok, "anthropic-version": "2023-06-01"}})
	require.Equal(t, http.StatusOK, resp.Status, "the Anthropic surface ignores unknown fields: %s", resp.Body)
}

// TestDeepJSONIsRefused sends bodies nested past 256 levels to native and
// Anthropic routes: 400 in each surface's error shape.
func TestDeepJSONIsRefused(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "deep@example.com", "password123").Token
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)

	resp := s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/users/me/preferences", Token: tok,
		Body: `{"theme":` + deep + `}`, Header: map[string]string{"Content-Type": "application/json"}})
	e := requireAPIError(t, resp, http.StatusBadRequest, "invalid_json")
	require.Contains(t, e.Error, "256")

	resp = s.do(t, request{Method: http.MethodPost, Path: "/v1/messages",
		Body:   `{"model":"mock:echo","max_tokens":16,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x","extra":` + deep + `}]}]}`,
		Header: map[string]string{"Content-Type": "application/json", "x-api-key": tok, "anthropic-version": "2023-06-01"}})
	require.Equal(t, http.StatusBadRequest, resp.Status, "body: %s", resp.Body)
	require.Contains(t, string(resp.Body), `"invalid_request_error"`)
}

// TestBadCursorIsAClear400 pages every listing with cursors the server
// never handed out: each is a 400 invalid_cursor in the error shape, with
// a message that says what to do and names no internals.
func TestBadCursorIsAClear400(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "cursor@example.com", "password123").Token // the admin
	for _, path := range []string{"/api/v1/sessions", "/api/v1/corpora", "/api/v1/memories", "/api/v1/plans", "/api/v1/audit/logs", "/api/v1/users"} {
		for _, cursor := range []string{"garbage!", "AAAA", "eyJ4IjoxfQ"} {
			resp := s.get(t, path+"?cursor="+cursor, tok)
			e := requireAPIError(t, resp, http.StatusBadRequest, "invalid_cursor")
			require.NotContains(t, e.Error, "persist", "%s: %s", path, resp.Body)
			require.NotContains(t, e.Error, "malformed", "%s: %s", path, resp.Body)
			require.Contains(t, e.Error, "cursor", path)
		}
	}
}
