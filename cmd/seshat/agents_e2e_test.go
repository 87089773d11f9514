package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// listFilesResult runs a turn that calls list_files and returns its tool
// result.
func listFilesResult(t *testing.T, srv *testServer, token string, body map[string]any) apitype.QueryResponse {
	t.Helper()
	body["prompt"] = "@tool list_files {}"
	res := created[apitype.QueryResponse](t, srv.call(t, http.MethodPost, "/api/v1/query", token, body), 200)
	require.Len(t, res.ToolResults, 1, "%+v", res)
	return res
}

func TestAgentProfilesEndToEnd(t *testing.T) {
	srv := startServer(t, "", nil)
	root := srv.register(t, "root@example.com", "password1")
	member := srv.register(t, "member@example.com", "password1")
	other := srv.register(t, "other@example.com", "password1")
	m := member.Token
	ws := member.User.DefaultWorkspaceID

	var prof apitype.Agent
	t.Run("create, get, list", func(t *testing.T) {
		prof = created[apitype.Agent](t, srv.call(t, http.MethodPost, "/api/v1/agents", m, map[string]any{
			"slug": "reviewer", "name": "Reviewer", "workspace_id": ws, "system_prompt": "You review code.",
			"tools": map[string]any{"deny": []string{"list_files"}}, "max_turns": 5,
		}), 201)
		require.Equal(t, 1, prof.Version)
		require.Equal(t, ws, prof.WorkspaceID)
		got := created[apitype.Agent](t, srv.call(t, http.MethodGet, "/api/v1/agents/"+prof.ID, m, nil), 200)
		require.Equal(t, prof.ID, got.ID)
		list := created[apitype.List[apitype.Agent]](t, srv.call(t, http.MethodGet, "/api/v1/agents?slug=reviewer", m, nil), 200)
		require.Len(t, list.Data, 1)
	})

	t.Run("refusals", func(t *testing.T) {
		resp := srv.call(t, http.MethodPost, "/api/v1/agents", m, map[string]any{"slug": "reviewer", "workspace_id": ws})
		require.Equal(t, 409, resp.Status, "a slug is unique within its workspace: %s", resp.Body)
		resp = srv.call(t, http.MethodPost, "/api/v1/agents", m, map[string]any{"slug": "x", "workspace_id": ws, "mcp_servers": []string{"mcp_unknown"}})
		require.Equal(t, 400, resp.Status, "an unknown MCP server: %s", resp.Body)
		resp = srv.call(t, http.MethodPost, "/api/v1/agents", m, map[string]any{"slug": "Bad Slug", "workspace_id": ws})
		require.Equal(t, 400, resp.Status, resp.Body)
		resp = srv.call(t, http.MethodPost, "/api/v1/agents", m, map[string]any{"slug": "global"})
		require.Equal(t, 403, resp.Status, "server-wide profiles are for admins: %s", resp.Body)
		for _, path := range []string{"/api/v1/agents/" + prof.ID, "/api/v1/agents/" + prof.ID + "/versions", "/api/v1/agents/agent_unknown"} {
			require.Equal(t, 404, srv.call(t, http.MethodGet, path, other.Token, nil).Status, path)
		}
		require.Equal(t, 404, srv.call(t, http.MethodPatch, "/api/v1/agents/"+prof.ID, other.Token, map[string]any{"name": "mine"}).Status)
		require.Equal(t, 404, srv.call(t, http.MethodDelete, "/api/v1/agents/"+prof.ID, other.Token, nil).Status)
		resp = srv.call(t, http.MethodPost, "/api/v1/query", other.Token, map[string]any{"prompt": "hi", "agent_slug": "reviewer"})
		require.Equal(t, 404, resp.Status, "a foreign profile's slug does not resolve: %s", resp.Body)
		resp = srv.call(t, http.MethodPost, "/api/v1/sessions", m, map[string]any{"agent_slug": "nobody"})
		require.Equal(t, 404, resp.Status, resp.Body)
	})

	t.Run("a query by agent_slug only narrows the tools", func(t *testing.T) {
		plain := listFilesResult(t, srv, m, map[string]any{})
		require.False(t, plain.ToolResults[0].IsError, "list_files runs without a profile: %+v", plain.ToolResults[0])
		narrowed := listFilesResult(t, srv, m, map[string]any{"agent_slug": "reviewer", "permission_mode": "accept_all"})
		require.True(t, narrowed.ToolResults[0].IsError, "the profile hides list_files whatever the request says: %+v", narrowed.ToolResults[0])
		sess := created[apitype.Session](t, srv.call(t, http.MethodGet, "/api/v1/sessions/"+narrowed.SessionID, m, nil), 200)
		require.Equal(t, prof.ID, sess.AgentID)
		require.Equal(t, 1, sess.AgentVersion)
	})

	var sessID string
	t.Run("a session keeps its version", func(t *testing.T) {
		sess := created[apitype.Session](t, srv.call(t, http.MethodPost, "/api/v1/sessions", m, map[string]any{"agent_slug": "reviewer"}), 201)
		sessID = sess.ID
		require.Equal(t, prof.ID, sess.AgentID)
		require.Equal(t, 1, sess.AgentVersion)
		got := created[apitype.Session](t, srv.call(t, http.MethodGet, "/api/v1/sessions/"+sessID, m, nil), 200)
		require.Equal(t, "You review code.", got.SystemPrompt, "the profile's system prompt")

		v2 := created[apitype.Agent](t, srv.call(t, http.MethodPatch, "/api/v1/agents/"+prof.ID, m, map[string]any{
			"system_prompt": "You write code.", "tools": map[string]any{"deny": []string{"write_file"}},
		}), 200)
		require.Equal(t, 2, v2.Version)
		vs := created[apitype.List[apitype.Agent]](t, srv.call(t, http.MethodGet, "/api/v1/agents/"+prof.ID+"/versions", m, nil), 200)
		require.Len(t, vs.Data, 2)
		require.Equal(t, "You review code.", vs.Data[1].SystemPrompt, "version 1 is kept")

		res := listFilesResult(t, srv, m, map[string]any{"session_id": sessID})
		require.True(t, res.ToolResults[0].IsError, "the session still uses version 1, which hides list_files")
		fresh := listFilesResult(t, srv, m, map[string]any{"agent_slug": "reviewer"})
		require.False(t, fresh.ToolResults[0].IsError, "version 2 no longer hides list_files")

		require.Equal(t, 204, srv.call(t, http.MethodDelete, "/api/v1/agents/"+prof.ID, m, nil).Status)
		require.Equal(t, 404, srv.call(t, http.MethodGet, "/api/v1/agents/"+prof.ID, m, nil).Status)
		res = listFilesResult(t, srv, m, map[string]any{"session_id": sessID})
		require.True(t, res.ToolResults[0].IsError, "a deleted profile's version stays with its sessions")
	})

	t.Run("server-wide profiles", func(t *testing.T) {
		g := created[apitype.Agent](t, srv.call(t, http.MethodPost, "/api/v1/agents", root.Token, map[string]any{"slug": "shared", "web_search": false}), 201)
		require.Empty(t, g.WorkspaceID)
		require.Equal(t, 200, srv.call(t, http.MethodGet, "/api/v1/agents/"+g.ID, other.Token, nil).Status, "every user reads a server-wide profile")
		require.Equal(t, 403, srv.call(t, http.MethodPatch, "/api/v1/agents/"+g.ID, other.Token, map[string]any{"name": "x"}).Status)
		res := created[apitype.QueryResponse](t, srv.call(t, http.MethodPost, "/api/v1/query", other.Token, map[string]any{"prompt": "hello", "agent_slug": "shared"}), 200)
		require.NotEmpty(t, res.SessionID)
	})
}
