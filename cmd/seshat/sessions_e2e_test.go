package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

func TestQueryAndStreamEcho(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "echo@example.com", "password123").Token

	r := s.query(t, tok, apitype.QueryRequest{Prompt: "hello   brave world"})
	require.Equal(t, "echo: hello brave world", r.Content)
	require.Equal(t, "end_turn", r.StopReason)
	require.NotEmpty(t, r.SessionID)
	require.True(t, strings.HasPrefix(r.TurnID, "turn_"))
	require.Equal(t, int64(3), r.Usage.InputTokens)
	require.Equal(t, int64(4), r.Usage.OutputTokens)
	require.NotNil(t, r.ToolUses)
	require.NotNil(t, r.RAGResults)

	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 3", SessionID: r.SessionID})
	events := st.Rest()
	require.GreaterOrEqual(t, len(events), 5)
	for i, ev := range events {
		require.Equal(t, uint64(i+1), eventID(t, ev), "ids are 1, 2, 3, ...")
	}
	first := decodeRuntime(t, events[0])
	require.Equal(t, "session", first.Type)
	require.Equal(t, r.SessionID, first.SessionID)
	var text strings.Builder
	for _, ev := range events[1 : len(events)-1] {
		require.Empty(t, ev.Name)
		var d apitype.Delta
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		require.Equal(t, "text_delta", d.Type)
		text.WriteString(d.Text)
	}
	require.Equal(t, "tok0 tok1 tok2", text.String())
	done := decodeDone(t, events[len(events)-1])
	require.Equal(t, "tok0 tok1 tok2", done.Content)
	require.Equal(t, first.TurnID, done.TurnID)

	// The session keeps both turns.
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+r.SessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 4)
	require.Equal(t, "echo: hello brave world", sess.Messages[1].Content[0].Text)
	require.Equal(t, "idle", sess.Status)
	require.Equal(t, 4, sess.MessageCount)
}

func TestSessionsCRUDSearchAndTenancy(t *testing.T) {
	s := startServer(t, "", nil)
	a := s.register(t, "a@example.com", "password123").Token
	b := s.register(t, "b@example.com", "password123").Token

	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{"title": "Quarterly report", "permission_mode": "accept_all"}})
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	var created apitype.Session
	resp.JSON(t, &created)
	require.True(t, strings.HasPrefix(created.ID, "sess_"))
	require.Equal(t, "Quarterly report", created.Title)
	require.Equal(t, "accept_all", created.PermissionMode)
	require.Equal(t, "mock:echo", created.Model)
	require.Equal(t, "idle", created.Status)

	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{"permission_mode": "yolo"}}), 400, "invalid_request")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{"model": "nope:x"}}), 400, "invalid_request")

	s.query(t, a, apitype.QueryRequest{SessionID: created.ID, Prompt: "budget forecast for marmalade"})
	other := s.query(t, a, apitype.QueryRequest{Prompt: "something else entirely"})

	var list apitype.SessionList
	s.get(t, "/api/v1/sessions", a).JSON(t, &list)
	require.Len(t, list.Data, 2)
	require.Equal(t, other.SessionID, list.Data[0].ID, "newest first")

	s.get(t, "/api/v1/sessions?q="+url.QueryEscape("marmal"), a).JSON(t, &list)
	require.Len(t, list.Data, 1)
	require.Equal(t, created.ID, list.Data[0].ID)
	s.get(t, "/api/v1/sessions?q=quarterly", a).JSON(t, &list)
	require.Len(t, list.Data, 1)

	s.get(t, "/api/v1/sessions?limit=1", a).JSON(t, &list)
	require.Len(t, list.Data, 1)
	require.NotEmpty(t, list.NextCursor)
	var page2 apitype.SessionList
	s.get(t, "/api/v1/sessions?limit=1&cursor="+url.QueryEscape(list.NextCursor), a).JSON(t, &page2)
	require.Len(t, page2.Data, 1)
	require.NotEqual(t, list.Data[0].ID, page2.Data[0].ID)
	requireAPIError(t, s.get(t, "/api/v1/sessions?limit=0", a), 400, "invalid_request")

	// User B sees none of it, and every route says 404.
	s.get(t, "/api/v1/sessions", b).JSON(t, &list)
	require.Empty(t, list.Data)
	s.get(t, "/api/v1/sessions?q=marmalade", b).JSON(t, &list)
	require.Empty(t, list.Data)
	for _, rq := range []request{
		{Method: http.MethodGet, Path: "/api/v1/sessions/" + created.ID},
		{Method: http.MethodPatch, Path: "/api/v1/sessions/" + created.ID, Body: map[string]any{"title": "mine"}},
		{Method: http.MethodDelete, Path: "/api/v1/sessions/" + created.ID},
		{Method: http.MethodPost, Path: "/api/v1/sessions/" + created.ID + "/interrupt"},
		{Method: http.MethodPost, Path: "/api/v1/sessions/" + created.ID + "/permissions/perm_x", Body: map[string]any{"decision": "allow"}},
		{Method: http.MethodPost, Path: "/api/v1/sessions/" + created.ID + "/prompts/prm_x", Body: map[string]any{"answer": "x"}},
		{Method: http.MethodGet, Path: "/api/v1/sessions/" + created.ID + "/stream"},
		{Method: http.MethodPost, Path: "/api/v1/query", Body: map[string]any{"prompt": "hi", "session_id": created.ID}},
		{Method: http.MethodPost, Path: "/api/v1/query/stream", Body: map[string]any{"prompt": "hi", "session_id": created.ID}},
		{Method: http.MethodGet, Path: "/api/v1/sessions/sess_doesnotexist"},
		{Method: http.MethodGet, Path: "/api/v1/sessions/..%2F..%2Fetc"},
	} {
		rq.Token = b
		requireAPIError(t, s.do(t, rq), 404, "not_found")
	}

	// PATCH and DELETE by the owner.
	resp = s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/sessions/" + created.ID, Token: a, Body: map[string]any{"title": "Renamed", "permission_mode": "plan"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var patched apitype.Session
	resp.JSON(t, &patched)
	require.Equal(t, "Renamed", patched.Title)
	require.Equal(t, "plan", patched.PermissionMode)
	requireAPIError(t, s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/sessions/" + created.ID, Token: a, Body: map[string]any{"permission_mode": "bad"}}), 400, "invalid_request")
	resp = s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/sessions/" + created.ID, Token: a})
	require.Equal(t, http.StatusNoContent, resp.Status)
	requireAPIError(t, s.get(t, "/api/v1/sessions/"+created.ID, a), 404, "not_found")
	s.get(t, "/api/v1/sessions?q=marmalade", a).JSON(t, &list)
	require.Empty(t, list.Data)

	// Bad query bodies are rejected before anything runs.
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: a, Body: map[string]any{}}), 400, "invalid_request")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query/stream", Token: a, Body: "{broken"}), 400, "invalid_json")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query/stream", Token: a, Body: map[string]any{"prompt": "x", "model": "nope:x"}}), 400, "invalid_request")
}

func TestPermissionFlowOverHTTP(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "perm@example.com", "password123").Token
	write := `@tool write_file {"path":"reports/out.txt","content":"written by a tool"}`

	// Allowed from a second connection while the stream is open.
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: write})
	sessionID := decodeRuntime(t, st.MustNext()).SessionID
	req := decodeRuntime(t, st.Until(isRuntime("permission_request")))
	require.Equal(t, "write_file", req.ToolName)
	require.True(t, strings.HasPrefix(req.RequestID, "perm_"))

	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &sess)
	require.Equal(t, "waiting", sess.Status)
	require.Len(t, sess.Pending, 1)
	require.Equal(t, "permission", sess.Pending[0].Type)
	require.Equal(t, req.RequestID, sess.Pending[0].RequestID)

	path := "/api/v1/sessions/" + sessionID + "/permissions/"
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: path + "perm_unknown", Token: tok, Body: map[string]any{"decision": "allow"}}), 404, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: path + req.RequestID, Token: tok, Body: map[string]any{"decision": "maybe"}}), 400, "invalid_request")
	resp := s.do(t, request{Method: http.MethodPost, Path: path + req.RequestID, Token: tok, Body: map[string]any{"decision": "allow"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var decided apitype.PermissionDecided
	resp.JSON(t, &decided)
	require.Equal(t, apitype.PermissionDecided{RequestID: req.RequestID, Decision: "allow"}, decided)
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: path + req.RequestID, Token: tok, Body: map[string]any{"decision": "deny"}}), 409, "conflict")

	resolved := decodeRuntime(t, st.Until(isRuntime("permission_resolved")))
	require.Equal(t, "allow", resolved.Decision)
	fin := decodeRuntime(t, st.Until(isRuntime("tool_finished")))
	require.False(t, *fin.IsError)
	done := decodeDone(t, st.Until(isEnd))
	require.Equal(t, "tool write_file returned: "+*fin.Output, done.Content)
	require.False(t, done.ToolResults[0].IsError)

	// The file the tool wrote is in the Files API.
	var files apitype.List[apitype.File]
	s.get(t, "/api/v1/files", tok).JSON(t, &files)
	require.Len(t, files.Data, 1)
	require.Equal(t, "reports/out.txt", files.Data[0].Path)
	content := s.get(t, "/api/v1/files/"+files.Data[0].ID+"/content", tok)
	require.Equal(t, "written by a tool", string(content.Body))

	// Denied, from a non-streaming query answered by another connection.
	type result struct {
		r   apitype.QueryResponse
		err error
	}
	out := make(chan result, 1)
	go func() {
		resp, err := postJSON(s, tok, "/api/v1/query", apitype.QueryRequest{SessionID: sessionID, Prompt: `@tool write_file {"path":"x.txt","content":"no"}`})
		var r apitype.QueryResponse
		if err == nil {
			err = json.Unmarshal(resp, &r)
		}
		out <- result{r, err}
	}()
	var pending apitype.Pending
	require.Eventually(t, func() bool {
		var v apitype.Session
		s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &v)
		if len(v.Pending) == 0 {
			return false
		}
		pending = v.Pending[0]
		return true
	}, 10*time.Second, 10*time.Millisecond)
	// A caller that kept no id finds the waiting session in the listing
	// (which reads the stored status, saved just after the request).
	require.Eventually(t, func() bool {
		var listed apitype.SessionList
		s.get(t, "/api/v1/sessions", tok).JSON(t, &listed)
		var waiting []string
		for _, l := range listed.Data {
			if l.Status == agent.StatusWaiting {
				waiting = append(waiting, l.ID)
			}
		}
		return len(waiting) == 1 && waiting[0] == sessionID
	}, 10*time.Second, 10*time.Millisecond)
	resp = s.do(t, request{Method: http.MethodPost, Path: path + pending.RequestID, Token: tok, Body: map[string]any{"decision": "deny", "remember": true}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	res := <-out
	require.NoError(t, res.err)
	require.True(t, res.r.ToolResults[0].IsError)
	require.Contains(t, res.r.ToolResults[0].Content, "denied")

	// Remembered: the next request for the tool is denied without asking.
	st = s.stream(t, tok, apitype.QueryRequest{SessionID: sessionID, Prompt: write})
	for _, ev := range st.Rest() {
		require.NotEqual(t, "permission_request", runtimeType(ev))
		if ev.Name == "done" {
			require.True(t, decodeDone(t, ev).ToolResults[0].IsError)
		}
	}
}

func TestPermissionTimeoutDenies(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_PERMISSION_TIMEOUT": "100ms"})
	tok := s.register(t, "timeout@example.com", "password123").Token
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: `@tool write_file {"path":"a","content":"x"}`})
	resolved := decodeRuntime(t, st.Until(isRuntime("permission_resolved")))
	require.Equal(t, "deny", resolved.Decision)
	done := decodeDone(t, st.Until(isEnd))
	require.True(t, done.ToolResults[0].IsError)
}

func TestPromptFlowOverHTTP(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "ask@example.com", "password123").Token
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: `@tool ask_user {"question":"Which colour?"}`})
	sessionID := decodeRuntime(t, st.MustNext()).SessionID
	pr := decodeRuntime(t, st.Until(isRuntime("prompt_request")))
	require.Equal(t, "Which colour?", pr.Question)
	require.True(t, strings.HasPrefix(pr.RequestID, "prm_"))
	path := "/api/v1/sessions/" + sessionID + "/prompts/" + pr.RequestID
	resp := s.do(t, request{Method: http.MethodPost, Path: path, Token: tok, Body: map[string]any{"answer": "teal"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: path, Token: tok, Body: map[string]any{"answer": "red"}}), 409, "conflict")
	decodeRuntime(t, st.Until(isRuntime("prompt_resolved")))
	done := decodeDone(t, st.Until(isEnd))
	require.Equal(t, "tool ask_user returned: teal", done.Content)
}

func TestInterruptLongTurn(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "int@example.com", "password123").Token
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 3000\n@delay 5ms"})
	sessionID := decodeRuntime(t, st.MustNext()).SessionID
	st.Until(func(ev eventstream.Event) bool { return ev.Name == "" })

	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: tok, Body: map[string]any{"prompt": "x", "session_id": sessionID}}), 409, "session_busy")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query/stream", Token: tok, Body: map[string]any{"prompt": "x", "session_id": sessionID}}), 409, "session_busy")

	// No body and no Content-Type.
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions/" + sessionID + "/interrupt", Token: tok})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.JSONEq(t, `{"interrupted":true}`, string(resp.Body))
	st.Until(isRuntime("interrupted"))
	done := decodeDone(t, st.Until(isEnd))
	require.Equal(t, "interrupted", done.StopReason)
	_, err := st.Next()
	require.Error(t, err, "the stream ends after done")

	r := s.query(t, tok, apitype.QueryRequest{SessionID: sessionID, Prompt: "after"})
	require.Equal(t, "echo: after", r.Content)
	resp = s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions/" + sessionID + "/interrupt", Token: tok, Body: "", Header: map[string]string{"Content-Type": "text/plain"}})
	require.JSONEq(t, `{"interrupted":false}`, string(resp.Body))
}

func TestDisconnectAndReattach(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "re@example.com", "password123").Token
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 60\n@delay 5ms"})
	sessionID := decodeRuntime(t, st.MustNext()).SessionID
	var k uint64
	for i := 0; i < 6; i++ {
		k = eventID(t, st.MustNext())
	}
	st.Close() // the client vanishes mid-turn; the turn goes on

	for _, hdr := range []map[string]string{{"Last-Event-ID": fmt.Sprint(k)}, nil} {
		path := "/api/v1/sessions/" + sessionID + "/stream"
		if hdr == nil {
			path += fmt.Sprintf("?after=%d", k)
		}
		re := s.openStream(t, http.MethodGet, path, tok, nil, hdr)
		events := re.Rest()
		require.NotEmpty(t, events)
		for i, ev := range events {
			require.Equal(t, k+1+uint64(i), eventID(t, ev), "continues at K+1 without gaps")
		}
		done := decodeDone(t, events[len(events)-1])
		require.Equal(t, "end_turn", done.StopReason)
		require.Len(t, strings.Fields(done.Content), 60)
	}

	// No cursor: the whole turn from its session event.
	re := s.openStream(t, http.MethodGet, "/api/v1/sessions/"+sessionID+"/stream", tok, nil, nil)
	events := re.Rest()
	require.Equal(t, "session", runtimeType(events[0]))
	require.Equal(t, uint64(1), eventID(t, events[0]))
	require.Equal(t, "done", events[len(events)-1].Name)
	requireAPIError(t, s.do(t, request{Method: http.MethodGet, Path: "/api/v1/sessions/" + sessionID + "/stream", Token: tok, Header: map[string]string{"Last-Event-ID": "x"}}), 400, "invalid_request")

	require.Eventually(t, func() bool { return s.metric(t, "seshat_streams_open") == 0 }, 10*time.Second, 10*time.Millisecond)
}

func TestPassivationAndReactivation(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_SESSION_IDLE": "100ms"})
	tok := s.register(t, "idle@example.com", "password123").Token
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "keep me"})
	require.Eventually(t, func() bool { return s.metric(t, "seshat_sessions_active") == 0 }, 10*time.Second, 20*time.Millisecond)
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+r.SessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 2)
	r2 := s.query(t, tok, apitype.QueryRequest{SessionID: r.SessionID, Prompt: "and again"})
	require.Equal(t, "echo: and again", r2.Content)
	require.Equal(t, float64(1), s.metric(t, "seshat_sessions_active"))
}

func TestRestartKeepsHistoryAndCutTurnIsInterrupted(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	tok := s.register(t, "restart@example.com", "password123").Token
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "before restart"})

	// A turn still running at shutdown: its stream ends with an error.
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 5000\n@delay 5ms"})
	long := decodeRuntime(t, st.MustNext()).SessionID
	st.Until(func(ev eventstream.Event) bool { return ev.Name == "" })
	require.NoError(t, s.Stop())
	end := st.Until(isEnd)
	require.Equal(t, "error", end.Name)
	require.Contains(t, string(end.Data), "shutting down")

	s = startServer(t, dir, nil)
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+r.SessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 2)
	require.Equal(t, "echo: before restart", sess.Messages[1].Content[0].Text)
	r2 := s.query(t, tok, apitype.QueryRequest{SessionID: r.SessionID, Prompt: "after restart"})
	require.Equal(t, "echo: after restart", r2.Content)

	s.get(t, "/api/v1/sessions/"+long, tok).JSON(t, &sess)
	require.Equal(t, "idle", sess.Status)
	require.Equal(t, "user", sess.Messages[0].Role)
	re := s.openStream(t, http.MethodGet, "/api/v1/sessions/"+long+"/stream", tok, nil, nil)
	events := re.Rest()
	require.Equal(t, "interrupted", decodeDone(t, events[len(events)-1]).StopReason)
}

// TestSessionKeepsItsTurnContext checks that a session's corpora and
// memory setting are stored and shown, and a bad setting is refused.
func TestSessionKeepsItsTurnContext(t *testing.T) {
	s := startServer(t, "", nil)
	a := s.register(t, "ctx@example.com", "password123").Token
	corp := created[apitype.Corpus](t, s.call(t, http.MethodPost, "/api/v1/corpora", a, apitype.CreateCorpusRequest{Name: "Notes"}), 201)

	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{
		"corpus_ids": []string{"corp_missing"},
	}}), 404, "not_found")

	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{
		"corpus_ids": []string{corp.ID}, "memory": map[string]any{"extract": "off", "inject": true},
	}})
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	var sess apitype.Session
	resp.JSON(t, &sess)
	require.Equal(t, []string{corp.ID}, sess.CorpusIDs)
	require.Equal(t, &apitype.SessionMemory{Extract: "off", Inject: true}, sess.Memory)

	var got apitype.Session
	s.get(t, "/api/v1/sessions/"+sess.ID, a).JSON(t, &got)
	require.Equal(t, []string{corp.ID}, got.CorpusIDs)
	require.Equal(t, sess.Memory, got.Memory)

	var plain apitype.Session
	s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a}).JSON(t, &plain)
	require.Equal(t, []string{}, plain.CorpusIDs)
	require.Nil(t, plain.Memory)

	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{
		"memory": map[string]any{"extract": "sometimes"},
	}}), 400, "invalid_request")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{
		"memory": map[string]any{"extract": "off", "injekt": false},
	}}), 400, "invalid_field")

	// An omitted inject is the preferences' default, true, as gRPC reads it.
	var noInject apitype.Session
	s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{
		"memory": map[string]any{"extract": "off"},
	}}).JSON(t, &noInject)
	require.Equal(t, &apitype.SessionMemory{Extract: "off", Inject: true}, noInject.Memory)
}
