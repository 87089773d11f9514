package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestDeepToolInputReadsBackAfterRestart has the model ask for a tool
// with an input nested 10,000 levels deep: the call is a tool error, and
// after a restart the session comes back whole, with every message.
func TestDeepToolInputReadsBackAfterRestart(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir, nil)
	tok := first.register(t, "deep-tool@example.com", "password123").Token

	const depth = 9_999 // the deepest a Go decoder reads at all
	deep := `{"path":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	r := first.query(t, tok, apitype.QueryRequest{Prompt: "@tool list_files " + deep})
	require.Len(t, r.ToolResults, 1)
	require.True(t, r.ToolResults[0].IsError)
	require.Contains(t, r.ToolResults[0].Content, "256")
	var before apitype.Session
	first.get(t, "/api/v1/sessions/"+r.SessionID, tok).JSON(t, &before)
	require.Len(t, before.Messages, 4)
	require.NoError(t, first.Stop())

	second := startServer(t, dir, nil)
	var after apitype.Session
	resp := second.get(t, "/api/v1/sessions/"+r.SessionID, tok)
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	resp.JSON(t, &after)
	require.Len(t, after.Messages, 4, "the session comes back whole")
	require.Equal(t, before.Messages[3].Content[0].Text, after.Messages[3].Content[0].Text)
	// The session goes on.
	r2 := second.query(t, tok, apitype.QueryRequest{Prompt: "@say still here", SessionID: r.SessionID})
	require.Equal(t, "still here", r2.Content)
}

// TestDeepToolArgumentsAreRefusedOnChatCompletions sends an assistant
// message whose tool call's arguments, a JSON string, nest past 256
// levels: the body's own depth is shallow, so the arguments are checked
// on their own, and the request is a 400 before anything is stored.
func TestDeepToolArgumentsAreRefusedOnChatCompletions(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "deep-chat@example.com", "password123").Token
	args := `{"path":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`
	resp := s.do(t, request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: tok,
		Body: map[string]any{"model": "mock:echo", "messages": []any{
			map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{
				"id": "call_1", "type": "function", "function": map[string]any{"name": "list_files", "arguments": args}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "x"},
		}}})
	require.Equal(t, http.StatusBadRequest, resp.Status, "body: %s", resp.Body)
	require.Contains(t, string(resp.Body), "256")
	var list apitype.List[apitype.Session]
	s.get(t, "/api/v1/sessions", tok).JSON(t, &list)
	require.Empty(t, list.Data, "a refused request stores nothing")
}

// TestToolUsesPerResponseAndTurnAreCapped has one model response ask for
// more tools than SESHAT_MAX_TOOL_USES_PER_RESPONSE, then a turn ask for
// more than SESHAT_MAX_TOOL_USES_PER_TURN: the calls past each cap get
// error results (and close their tool cards) but do not run.
func TestToolUsesPerResponseAndTurnAreCapped(t *testing.T) {
	t.Run("per response, default 64", func(t *testing.T) {
		s := startServer(t, "", nil)
		tok := s.register(t, "many-tools@example.com", "password123").Token
		prompt := strings.Repeat("@tool write_file {\"path\":\"f.txt\",\"content\":\"x\"}\n", 70)
		st := s.stream(t, tok, apitype.QueryRequest{Prompt: prompt, PermissionMode: "accept_all"})
		started, finished := 0, 0
		var done apitype.QueryResponse
		for _, ev := range st.Rest() {
			switch {
			case ev.Name == "done":
				done = decodeDone(t, ev)
			case runtimeType(ev) == "tool_started":
				started++
			case runtimeType(ev) == "tool_finished":
				finished++
			}
		}
		require.Equal(t, 64, started, "only the first 64 calls run")
		require.Equal(t, 70, finished, "every call's card closes")
		require.Len(t, done.ToolResults, 70)
		for i, r := range done.ToolResults {
			require.Equal(t, i >= 64, r.IsError, "result %d: %s", i, r.Content)
		}
		require.Contains(t, done.ToolResults[64].Content, "at most 64 tools")
	})
	t.Run("per turn", func(t *testing.T) {
		s := startServer(t, "", map[string]string{"SESHAT_MAX_TOOL_USES_PER_TURN": "3"})
		tok := s.register(t, "turn-tools@example.com", "password123").Token
		r := s.query(t, tok, apitype.QueryRequest{Prompt: strings.Repeat("@tool list_files {}\n", 5)})
		require.Len(t, r.ToolResults, 5)
		for i, res := range r.ToolResults {
			require.Equal(t, i >= 3, res.IsError, "result %d: %s", i, res.Content)
		}
		require.Contains(t, r.ToolResults[3].Content, "at most 3 tools")
	})
}

// TestWriteFileByAToolCountsTowardStoredBytes has a tool write files for a
// user with a stored_bytes quota: what it writes counts toward the user's
// and the workspace's stored bytes, and a write past the quota is a tool
// error the model reads, with nothing stored.
func TestWriteFileByAToolCountsTowardStoredBytes(t *testing.T) {
	s := startServer(t, "", nil)
	admin := s.register(t, "admin@example.com", "password123").Token
	u := s.register(t, "writer@example.com", "password123")
	tok := u.Token
	created[apitype.Quota](t, s.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, admin, apitype.QuotaLimits{StoredBytes: 10}), 200)

	write := func(path, content string) apitype.ToolResult {
		t.Helper()
		input, err := json.Marshal(map[string]string{"path": path, "content": content})
		require.NoError(t, err)
		r := s.query(t, tok, apitype.QueryRequest{Prompt: "@tool write_file " + string(input), PermissionMode: "accept_all"})
		require.Len(t, r.ToolResults, 1)
		return r.ToolResults[0]
	}
	require.False(t, write("a.txt", "12345678").IsError)
	require.Equal(t, int64(8), s.quotaOf(t, tok, "", "user").Usage.StoredBytes)
	require.Equal(t, int64(8), s.quotaOf(t, tok, u.User.DefaultWorkspaceID, "workspace").Usage.StoredBytes)

	res := write("b.txt", "12345")
	require.True(t, res.IsError, "over the quota: %s", res.Content)
	require.Contains(t, res.Content, "stored_bytes")
	var files apitype.List[apitype.File]
	s.get(t, "/api/v1/files", tok).JSON(t, &files)
	require.Len(t, files.Data, 1, "nothing was stored")
	require.Equal(t, int64(8), s.quotaOf(t, tok, "", "user").Usage.StoredBytes)

	// Replacing a file counts its new size only; an upload then sees
	// what the tool wrote.
	require.False(t, write("a.txt", "1234").IsError)
	require.Equal(t, int64(4), s.quotaOf(t, tok, "", "user").Usage.StoredBytes)
	requireQuotaError(t, s.upload(t, tok, "c.txt", "text/plain", []byte("1234567"), nil), "user", "stored_bytes")
}

// TestPerFieldCaps sends titles, system prompts, prompts and job prompts
// one past their caps (200 characters, 64 KiB, 1 MiB): each is a 400
// naming the field, at the cap it is accepted, and a session listing
// leaves the system prompts out while GET /sessions/{id} keeps them.
func TestPerFieldCaps(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "caps@example.com", "password123").Token
	title := strings.Repeat("é", 200) // characters, not bytes
	system := strings.Repeat("s", 64<<10)
	sess := created[apitype.Session](t, s.call(t, "POST", "/api/v1/sessions", tok,
		apitype.CreateSessionRequest{Title: title, SystemPrompt: system}), 201)

	for _, tc := range []struct {
		name, method, path, field string
		body                      any
	}{
		{"session title", "POST", "/api/v1/sessions", "title", apitype.CreateSessionRequest{Title: title + "é"}},
		{"session system prompt", "POST", "/api/v1/sessions", "system_prompt", apitype.CreateSessionRequest{SystemPrompt: system + "s"}},
		{"new title", "PATCH", "/api/v1/sessions/" + sess.ID, "title", map[string]string{"title": title + "x"}},
		{"new system prompt", "PATCH", "/api/v1/sessions/" + sess.ID, "system_prompt", map[string]string{"system_prompt": system + "x"}},
		{"query prompt", "POST", "/api/v1/query", "prompt", apitype.QueryRequest{Prompt: strings.Repeat("p", 1<<20+1)}},
		{"query system prompt", "POST", "/api/v1/query", "system_prompt", apitype.QueryRequest{Prompt: "hi", SystemPrompt: system + "s"}},
		{"job prompt", "POST", "/api/v1/scheduler/jobs", "prompt", apitype.CreateJobRequest{Name: "j", Schedule: "@hourly", Prompt: strings.Repeat("p", 1<<20+1)}},
		{"job name", "POST", "/api/v1/scheduler/jobs", "name", apitype.CreateJobRequest{Name: title + "x", Schedule: "@hourly", Prompt: "p"}},
		{"agent name", "POST", "/api/v1/agents", "name", map[string]string{"slug": "a", "name": title + "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := requireAPIError(t, s.call(t, tc.method, tc.path, tok, tc.body), http.StatusBadRequest, "invalid_request")
			require.Contains(t, e.Error, tc.field)
		})
	}

	var list apitype.SessionList
	s.get(t, "/api/v1/sessions", tok).JSON(t, &list)
	require.Len(t, list.Data, 1, "nothing refused was created")
	require.Empty(t, list.Data[0].SystemPrompt, "listings leave system prompts out")
	require.Equal(t, title, list.Data[0].Title)
	var full apitype.Session
	s.get(t, "/api/v1/sessions/"+sess.ID, tok).JSON(t, &full)
	require.Equal(t, system, full.SystemPrompt)
}

// TestDefaultUserStoredBytesIsEnforced sets the storage setting's
// default_user_stored_bytes: a user with no stored_bytes limit of their
// own is held to it, by uploads and by write_file alike; a limit of their
// own wins.
func TestDefaultUserStoredBytesIsEnforced(t *testing.T) {
	s := startServer(t, "", nil)
	admin := s.register(t, "admin@example.com", "password123").Token
	u := s.register(t, "default-quota@example.com", "password123")
	created[apitype.StorageSettings](t, s.call(t, "PATCH", "/api/v1/settings/storage", admin, apitype.StorageSettingsRequest{
		Limits: &apitype.StorageLimitsRequest{DefaultUserStoredBytes: new(int64(10))}}), 200)

	require.Equal(t, 201, s.upload(t, u.Token, "a.txt", "text/plain", []byte("12345678"), nil).Status)
	requireQuotaError(t, s.upload(t, u.Token, "b.txt", "text/plain", []byte("12345"), nil), "user", "stored_bytes")
	input, err := json.Marshal(map[string]string{"path": "c.txt", "content": "12345"})
	require.NoError(t, err)
	r := s.query(t, u.Token, apitype.QueryRequest{Prompt: "@tool write_file " + string(input), PermissionMode: "accept_all"})
	require.True(t, r.ToolResults[0].IsError, "write_file is held to it too: %s", r.ToolResults[0].Content)
	require.Contains(t, r.ToolResults[0].Content, "stored_bytes")

	created[apitype.Quota](t, s.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, admin, apitype.QuotaLimits{StoredBytes: 100}), 200)
	require.Equal(t, 201, s.upload(t, u.Token, "b.txt", "text/plain", []byte("12345"), nil).Status, "the user's own limit wins")
}
