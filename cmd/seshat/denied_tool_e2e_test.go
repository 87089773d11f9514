package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestDeniedToolStillFinishes checks that a tool call refused by a mode or
// by the user still closes with tool_finished (is_error true, the reason as
// output) on the stream, and never opens with tool_started.
func TestDeniedToolStillFinishes(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "denied@example.com", "password123").Token
	write := `@tool write_file {"path":"d.txt","content":"x"}`

	for _, mode := range []string{"deny_all", "plan"} {
		st := s.stream(t, tok, apitype.QueryRequest{Prompt: write, PermissionMode: mode})
		var finished *apitype.RuntimeEvent
		for _, ev := range st.Rest() {
			require.NotEqual(t, "tool_started", runtimeType(ev), mode)
			if runtimeType(ev) == "tool_finished" {
				r := decodeRuntime(t, ev)
				finished = &r
			}
		}
		require.NotNil(t, finished, "%s: tool_finished", mode)
		require.Equal(t, "write_file", finished.Name)
		require.NotEmpty(t, finished.ToolUseID)
		require.True(t, *finished.IsError, mode)
		require.NotEmpty(t, *finished.Output, mode)
	}

	// The user's denial of a permission request.
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: write})
	sessionID := decodeRuntime(t, st.MustNext()).SessionID
	req := decodeRuntime(t, st.Until(isRuntime("permission_request")))
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions/" + sessionID + "/permissions/" + req.RequestID,
		Token: tok, Body: map[string]any{"decision": "deny"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	fin := decodeRuntime(t, st.Until(isRuntime("tool_finished")))
	require.Equal(t, req.ToolUseID, fin.ToolUseID)
	require.True(t, *fin.IsError)
	require.Contains(t, *fin.Output, "permission denied")
	done := decodeDone(t, st.Until(isEnd))
	require.True(t, done.ToolResults[0].IsError)

	var files apitype.List[apitype.File]
	s.get(t, "/api/v1/files", tok).JSON(t, &files)
	require.Empty(t, files.Data, "no denied write happened")
}
