package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

func TestDeleteInterruptsRunningTurn(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "del@example.com", "password123").Token
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 5000\n@delay 5ms"})
	id := decodeRuntime(t, st.MustNext()).SessionID
	st.Until(func(ev eventstream.Event) bool { return ev.Name == "" })
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+id, tok).JSON(t, &sess)
	require.Equal(t, "running", sess.Status)

	resp := s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/sessions/" + id, Token: tok})
	require.Equal(t, http.StatusNoContent, resp.Status, "%s", resp.Body)
	end := st.Until(isEnd)
	require.Equal(t, "error", end.Name, "the stream of a deleted session ends with an error")
	requireAPIError(t, s.get(t, "/api/v1/sessions/"+id, tok), 404, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions/" + id + "/interrupt", Token: tok}), 404, "not_found")
}

func TestPermissionModesAndMaxTurns(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "modes@example.com", "password123").Token
	write := `@tool write_file {"path":"m.txt","content":"x"}`

	// accept_all: a tool that needs approval runs without asking.
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: write, PermissionMode: "accept_all"})
	for _, ev := range st.Rest() {
		require.NotEqual(t, "permission_request", runtimeType(ev))
		if ev.Name == "done" {
			require.False(t, decodeDone(t, ev).ToolResults[0].IsError)
		}
	}

	// plan: nothing that changes anything runs; what only reads does.
	r := s.query(t, tok, apitype.QueryRequest{Prompt: `@tool write_file {"path":"p.txt","content":"x"}`, PermissionMode: "plan"})
	require.True(t, r.ToolResults[0].IsError)
	r = s.query(t, tok, apitype.QueryRequest{Prompt: `@tool list_files {}`, PermissionMode: "plan"})
	require.False(t, r.ToolResults[0].IsError)
	require.Contains(t, r.ToolResults[0].Content, "m.txt")
	var files apitype.List[apitype.File]
	s.get(t, "/api/v1/files", tok).JSON(t, &files)
	require.Len(t, files.Data, 1, "the plan-mode write did not happen")
	require.Equal(t, "m.txt", files.Data[0].Path)

	// max_turns caps the model calls of a turn: one call that asks for a
	// tool ends the turn once the tool has answered.
	r = s.query(t, tok, apitype.QueryRequest{Prompt: `@tool list_files {}`, MaxTurns: 1})
	require.Equal(t, "max_turns", r.StopReason)
	require.Len(t, r.ToolResults, 1)
	r = s.query(t, tok, apitype.QueryRequest{Prompt: `@tool list_files {}`, MaxTurns: 2})
	require.Equal(t, "end_turn", r.StopReason)
}
