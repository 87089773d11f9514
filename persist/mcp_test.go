package persist_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
)

func TestMCPServersSealedScopedAndNamed(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, withKey(masterKey(7)))
	u := newUser(t, s)
	ctx := t.Context()

	global, err := s.CreateMCPServer(ctx, persist.MCPServer{ID: "mcp_g", Name: "files", Transport: "stdio",
		Command: "srv", Scope: persist.MCPScopeGlobal, Enabled: true, RequireApproval: "always", CreatedBy: u.ID},
		persist.MCPSecrets{Env: map[string]string{"TOKEN": "very-secret-env"}})
	require.NoError(t, err)
	require.Equal(t, []string{"TOKEN"}, global.EnvSet)

	ws, err := s.CreateMCPServer(ctx, persist.MCPServer{ID: "mcp_w", Name: "docs", Transport: "streamable_http",
		URL: "https://example.com/mcp", Scope: persist.MCPScopeWorkspace, WorkspaceID: u.DefaultWorkspaceID, CreatedBy: u.ID},
		persist.MCPSecrets{Headers: map[string]string{"Authorization": "Bearer hdr-secret"}})
	require.NoError(t, err)
	require.Equal(t, []string{"Authorization"}, ws.HeadersSet)

	_, err = s.CreateMCPServer(ctx, persist.MCPServer{ID: "mcp_dup", Name: "files", Transport: "streamable_http",
		Scope: persist.MCPScopeWorkspace, WorkspaceID: u.DefaultWorkspaceID}, persist.MCPSecrets{})
	require.ErrorIs(t, err, persist.ErrConflict, "a workspace name may not shadow a global one")
	_, err = s.CreateMCPServer(ctx, persist.MCPServer{ID: "mcp_x", Name: "x", Scope: persist.MCPScopeWorkspace,
		WorkspaceID: "ws_missing"}, persist.MCPSecrets{})
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.MCPServers([]string{u.DefaultWorkspaceID}, false)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "mcp_w", list[0].ID, "workspace servers first, then global")
	other, err := s.MCPServers([]string{"ws_other"}, false)
	require.NoError(t, err)
	require.Len(t, other, 1)

	sec, err := s.MCPServerSecrets("mcp_w")
	require.NoError(t, err)
	require.Equal(t, "Bearer hdr-secret", sec.Headers["Authorization"])

	upd, err := s.UpdateMCPServer(ctx, "mcp_w", func(m *persist.MCPServer, sec *persist.MCPSecrets) error {
		m.Enabled = false
		m.Scope = persist.MCPScopeGlobal // ignored
		sec.Headers = nil
		return nil
	})
	require.NoError(t, err)
	require.False(t, upd.Enabled)
	require.Equal(t, persist.MCPScopeWorkspace, upd.Scope)
	require.Empty(t, upd.HeadersSet)

	_, _, err = s.WebSearch()
	require.NoError(t, err)
	set, err := s.UpdateWebSearch(ctx, func(w *persist.WebSearchSettings, key *persist.Secret) error {
		w.Provider, w.BaseURL, w.MaxResults = "brave", "https://api.search.brave.com", 5
		*key = "brave-key-secret"
		return nil
	})
	require.NoError(t, err)
	require.True(t, set.APIKeySet)
	got, key, err := s.WebSearch()
	require.NoError(t, err)
	require.Equal(t, "brave", got.Provider)
	require.Equal(t, persist.Secret("brave-key-secret"), key)

	require.NoError(t, s.DeleteMCPServer(ctx, "mcp_g"))
	require.ErrorIs(t, s.DeleteMCPServer(ctx, "mcp_g"), persist.ErrNotFound)
	require.NoError(t, s.Close())

	raw, err := os.ReadFile(filepath.Join(dir, "seshat.db"))
	require.NoError(t, err)
	for _, secret := range []string{"very-secret-env", "hdr-secret", "brave-key-secret"} {
		require.False(t, strings.Contains(string(raw), secret), "%s stored in the clear", secret)
	}
}

func TestDeleteWorkspaceRemovesItsMCPServers(t *testing.T) {
	s := openEngine(t)
	u := newUser(t, s)
	ctx := t.Context()
	ws, err := s.CreateWorkspace(ctx, persist.Workspace{Name: "team"}, u.ID)
	require.NoError(t, err)
	_, err = s.CreateMCPServer(ctx, persist.MCPServer{ID: "mcp_t", Name: "t", Transport: "streamable_http",
		URL: "https://example.com", Scope: persist.MCPScopeWorkspace, WorkspaceID: ws.ID}, persist.MCPSecrets{})
	require.NoError(t, err)
	_, err = s.DeleteWorkspace(ctx, ws.ID)
	require.NoError(t, err)
	_, err = s.MCPServer("mcp_t")
	require.ErrorIs(t, err, persist.ErrNotFound)
}
