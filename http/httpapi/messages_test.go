package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with the file at path, or rewrites the file with
// -update.
func golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -update")
	require.Equal(t, string(want), string(got), "golden file %s differs; run go test -update if the change is intended", path)
}

// scriptOp is one line of a testdata/messages/*.jsonl script: a runtime
// event as the session hands it to a subscriber, or how the subscription
// ends without one ("close": the session dropped the subscriber;
// "shutdown": the server's base context ended).
type scriptOp struct {
	Kind     string           `json:"kind"`
	Text     string           `json:"text"`
	Type     string           `json:"type"`
	Name     string           `json:"name"`
	Error    string           `json:"error"`
	Stop     agent.StopReason `json:"stop_reason"`
	Usage    agent.Usage      `json:"usage"`
	Messages []agent.Message  `json:"messages"`
	Tools    []string         `json:"client_tools"`
	Skip     int              `json:"skip"`
}

// script is a parsed script: the events, the reply's setup, and how the
// subscription ends.
type script struct {
	events   []agent.Event
	tools    []string
	skip     int
	close    bool
	shutdown bool
}

func readScript(t *testing.T, path string) script {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var sc script
	var id uint64
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var op scriptOp
		require.NoError(t, json.Unmarshal(line, &op), "line %s", line)
		id++
		ev := agent.Event{ID: id}
		switch op.Kind {
		case "setup":
			sc.tools, sc.skip = op.Tools, op.Skip
			continue
		case "delta", "thinking":
			ev.Kind, ev.Delta, ev.Thinking = agent.KindDelta, op.Text, op.Kind == "thinking"
		case "runtime":
			ev.Kind, ev.Runtime = agent.KindRuntime, &agent.RuntimeEvent{Type: op.Type, Name: op.Name, SessionID: "sess_test"}
		case "done":
			res := agent.QueryResult{SessionID: "sess_test", TurnID: "turn_test", StopReason: op.Stop, Usage: op.Usage, Messages: op.Messages}
			ev.Kind, ev.Result = agent.KindDone, &res
		case "error":
			ev.Kind, ev.Error = agent.KindError, op.Error
		case "close":
			sc.close = true
			continue
		case "shutdown":
			sc.shutdown = true
			continue
		default:
			t.Fatalf("unknown op %q", op.Kind)
		}
		ev.Encode()
		sc.events = append(sc.events, ev)
	}
	return sc
}

// runScript drives writeMessageStream with sc and returns the bytes it
// wrote. Events go through the live channel, except for a shutdown script,
// whose events are the replay (so that the end is deterministic).
func runScript(t *testing.T, sc script) []byte {
	t.Helper()
	reply := &anthropic.Reply{ID: "msg_test", Model: "claude-haiku-4-5", Skip: sc.skip, Client: map[string]bool{}}
	for _, n := range sc.tools {
		reply.Client[n] = true
	}
	m := anthropic.NewTurnStream(reply, 12)
	ch := make(chan *agent.Event, len(sc.events))
	done := make(chan struct{})
	var replay []agent.Event
	if sc.shutdown {
		replay = sc.events
		close(done)
	} else {
		for i := range sc.events {
			ch <- &sc.events[i]
		}
	}
	if sc.close {
		close(ch)
	}
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	err := writeMessageStream(done, sse.NewWriter(bw, nil, sse.Config{}), replay, ch, m, time.Hour)
	require.NoError(t, err)
	return buf.Bytes()
}

func TestMessageStreamGolden(t *testing.T) {
	scripts, err := filepath.Glob("testdata/messages/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			got := runScript(t, readScript(t, path))
			golden(t, strings.TrimSuffix(path, ".jsonl")+".sse", got)

			// Every transcript keeps the grammar an SDK enforces: it reads
			// back to a message, or ends in an error event.
			dec := anthropic.NewStreamDecoder(bytes.NewReader(got))
			for {
				_, err := dec.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				var se *anthropic.StreamError
				if errors.As(err, &se) {
					require.Contains(t, name, "error")
					break
				}
				require.NoError(t, err)
			}
		})
	}
}

func TestMessageStreamPingsWhenSilent(t *testing.T) {
	verifyNoLeaks(t)
	pr, pw := io.Pipe()
	// Buffered, so that sending never waits for a writer blocked on the
	// pipe.
	ch := make(chan *agent.Event, 1)
	reply := &anthropic.Reply{ID: "msg_test", Model: "m", Client: map[string]bool{}}
	m := anthropic.NewTurnStream(reply, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- writeMessageStream(make(chan struct{}), sse.NewWriter(bufio.NewWriter(pw), nil, sse.Config{}), nil, ch, m, time.Millisecond)
		pw.Close()
	}()
	dec := eventstream.NewDecoder(pr, 0)
	next := func() eventstream.Event {
		ev, err := dec.Next()
		require.NoError(t, err)
		return ev
	}
	require.Equal(t, anthropic.EventMessageStart, next().Name)
	// Nothing happens: the silence is filled with pings.
	require.Equal(t, anthropic.EventPing, next().Name)
	require.Equal(t, anthropic.EventPing, next().Name)
	res := agent.QueryResult{StopReason: agent.StopEndTurn}
	ch <- &agent.Event{Kind: agent.KindDone, Result: &res}
	for ev := next(); ev.Name != anthropic.EventMessageStop; ev = next() {
		require.Contains(t, []string{anthropic.EventPing, anthropic.EventMessageDelta}, ev.Name)
	}
	_, err := dec.Next()
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, <-errc)
}

func TestTurnInput(t *testing.T) {
	u := func(s string) agent.Message {
		return agent.Message{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(s)}}
	}
	a := func(s string) agent.Message {
		return agent.Message{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock(s)}}
	}
	tests := []struct {
		name  string
		msgs  []agent.Message
		bound bool
		want  []agent.Message
		err   bool
	}{
		{"new session takes the whole conversation", []agent.Message{u("1"), a("2"), u("3")}, false, []agent.Message{u("1"), a("2"), u("3")}, false},
		{"bound session takes the trailing user messages", []agent.Message{u("1"), a("2"), u("3"), u("4")}, true, []agent.Message{u("3"), u("4")}, false},
		{"bound session, only the new message", []agent.Message{u("3")}, true, []agent.Message{u("3")}, false},
		{"prefill", []agent.Message{u("1"), a("2")}, true, nil, true},
		{"prefill in a new session", []agent.Message{u("1"), a("2")}, false, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := turnInput(tc.msgs, tc.bound)
			if tc.err {
				var he *Error
				require.ErrorAs(t, err, &he)
				require.Equal(t, http.StatusBadRequest, he.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestAnthropicSurfaceErrors checks the error envelope, the request-id
// header and both ways of sending a key, on a server without a session
// runtime (so /v1/messages answers 503 once authenticated).
func TestAnthropicSurfaceErrors(t *testing.T) {
	verifyNoLeaks(t)
	s, _ := newTestServer(t, Config{})
	client := serveServer(t, s)
	g, err := s.deps.Auth.Register(t.Context(), "a@example.com", "password123", "A", "127.0.0.1")
	require.NoError(t, err)
	key, err := s.deps.Auth.CreateAPIKey(t.Context(), g.User.ID, "k")
	require.NoError(t, err)
	body := `{"model":"mock:echo","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

	tests := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		errType string
	}{
		{"no credential", "POST", "/v1/messages", nil, body, 401, anthropic.ErrorAuthentication},
		{"wrong x-api-key", "POST", "/v1/messages", map[string]string{"x-api-key": "sk-nope"}, body, 401, anthropic.ErrorAuthentication},
		{"x-api-key wins over a bearer", "POST", "/v1/messages", map[string]string{"x-api-key": "sk-nope", "Authorization": "Bearer " + g.Token}, body, 401, anthropic.ErrorAuthentication},
		{"empty x-api-key falls back to the bearer", "POST", "/v1/messages", map[string]string{"x-api-key": "", "Authorization": "Bearer " + key.Key}, body, 503, anthropic.ErrorOverloaded},
		{"x-api-key with a JWT", "POST", "/v1/messages?beta=true", map[string]string{"x-api-key": g.Token}, body, 503, anthropic.ErrorOverloaded},
		{"unknown version", "POST", "/v1/messages/count_tokens", map[string]string{"x-api-key": key.Key, "anthropic-version": "2023-06-01, 2023-06-01"}, body, 400, anthropic.ErrorInvalidRequest},
		{"bad JSON", "POST", "/v1/messages/count_tokens", map[string]string{"x-api-key": key.Key}, "{", 400, anthropic.ErrorInvalidRequest},
		{"no messages", "POST", "/v1/messages/count_tokens", map[string]string{"x-api-key": key.Key}, `{"model":"m","messages":[]}`, 400, anthropic.ErrorInvalidRequest},
		{"unknown path", "GET", "/v1/nothing", nil, "", 404, anthropic.ErrorNotFound},
		{"wrong method", "GET", "/v1/messages", nil, "", 405, anthropic.ErrorInvalidRequest},
		{"body over the cap", "POST", "/v1/messages", map[string]string{"x-api-key": key.Key}, `{"model":"` + strings.Repeat("x", 5<<20) + `"}`, 413, anthropic.ErrorRequestTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://test"+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode, "body: %s", raw)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var e anthropic.ErrorResponse
			require.NoError(t, json.Unmarshal(raw, &e))
			require.Equal(t, "error", e.Type)
			require.Equal(t, tc.errType, e.Error.Type, "body: %s", raw)
			require.NotEmpty(t, e.Error.Message)
			require.NotEmpty(t, e.RequestID)
			require.Equal(t, e.RequestID, resp.Header.Get("request-id"))
			require.Equal(t, e.RequestID, resp.Header.Get("X-Request-ID"))
		})
	}

	t.Run("count_tokens", func(t *testing.T) {
		req, err := http.NewRequest("POST", "http://test/v1/messages/count_tokens?beta=true", strings.NewReader(
			`{"model":"claude-x","system":"be brief","tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hello there"}]}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key.Key)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out anthropic.CountTokensResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Greater(t, out.InputTokens, int64(3), "system and tools count too")
	})

	t.Run("native routes keep their shape", func(t *testing.T) {
		resp, err := client.Get("http://test/api/v1/nothing")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Empty(t, resp.Header.Get("request-id"))
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(raw), `"code":"not_found"`)
	})
}

// serveServer runs s itself (its error handler and body caps included) on
// an in-memory listener and returns a client for it; s is shut down at
// cleanup.
func serveServer(t testing.TB, s *Server) *http.Client {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	client := inMemoryClient(ln)
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-served)
	})
	return client
}

func TestCheckVersion2026(t *testing.T) {
	temp := 1.0
	user := func(blocks string) anthropic.MessagesRequest {
		var req anthropic.MessagesRequest
		require.NoError(t, json.Unmarshal([]byte(`{"messages":[`+blocks+`]}`), &req))
		return req
	}
	require.NoError(t, checkVersion2026(user(`{"role":"user","content":"hi"}`)))
	require.ErrorContains(t, checkVersion2026(anthropic.MessagesRequest{Temperature: &temp}), "temperature: Extra inputs are not permitted")
	require.Error(t, checkVersion2026(user(`{"role":"assistant","content":[{"type":"document","source":{"type":"text","data":"x"}}]}`)))
	require.Error(t, checkVersion2026(user(`{"role":"user","content":[{"type":"text","text":"x","citations":[{"type":"char_location"}]}]}`)))
	require.NoError(t, checkVersion2026(user(`{"role":"user","content":[{"type":"text","text":"x","citations":null}]}`)))
}
