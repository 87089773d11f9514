package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// requireStreamEndsWith reads st to its end and checks that its last event
// is an unnumbered `error` event carrying msg.
func requireStreamEndsWith(t *testing.T, st *sseStream, msg string) {
	t.Helper()
	evs := st.Rest()
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	require.Equal(t, "error", last.Name, "events: %v", evs)
	require.Empty(t, last.ID, "the error is the stream's own, not one of the turn's numbered events")
	var e apitype.StreamError
	require.NoError(t, json.Unmarshal(last.Data, &e))
	require.Equal(t, msg, e.Error)
}

// TestDisablingAUserEndsTheirWork: once a server admin disables an
// account, its streams end at once with an `error` event (native and
// Anthropic-compatible, following a turn or waiting for one, and a
// corpus's events), its running
// turn is interrupted for everyone else who follows it, its token and API
// key are refused, and its scheduled job records failed runs that call no
// model.
func TestDisablingAUserEndsTheirWork(t *testing.T) {
	srv := startServer(t, "", nil)
	root := srv.register(t, "root@example.com", "password1")
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")
	ws := sharedWorkspace(t, srv, root.Token, alice, bob)
	key := srv.createKey(t, alice.Token, "cli").Key

	// A scheduled job of alice's that succeeds while she is active.
	job := created[apitype.Job](t, srv.call(t, "POST", "/api/v1/scheduler/jobs", alice.Token, apitype.CreateJobRequest{
		Name: "tick", Schedule: "@every 1s", Prompt: "@say tick", WorkspaceID: ws}), 201)
	require.Eventually(t, func() bool {
		for _, r := range srv.runs(t, bob.Token, job.ID) {
			if r.Status == "succeeded" {
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond)

	// alice runs a long streamed turn in the shared workspace; bob follows it.
	long := "@tokens 2000\n@delay 20ms"
	turn := srv.stream(t, alice.Token, apitype.QueryRequest{Prompt: long, WorkspaceID: ws})
	first := decodeRuntime(t, turn.MustNext())
	require.Equal(t, "session", first.Type)
	turn.Until(func(ev eventstream.Event) bool { return ev.Name == "" })
	follower := srv.openStream(t, http.MethodGet, "/api/v1/sessions/"+first.SessionID+"/stream", bob.Token, nil, nil)
	follower.MustNext()

	// alice also waits on a session that runs nothing, and holds an
	// Anthropic-compatible stream.
	idle := created[apitype.Session](t, srv.call(t, "POST", "/api/v1/sessions", alice.Token, apitype.CreateSessionRequest{Title: "idle"}), 201)
	waiting := srv.openStream(t, http.MethodGet, "/api/v1/sessions/"+idle.ID+"/stream", alice.Token, nil, nil)
	msgs := srv.openAnthropicStream(t, key, map[string]any{
		"model": "mock:echo", "max_tokens": 100, "stream": true,
		"messages": []map[string]any{{"role": "user", "content": long}},
	})
	msgs.Until(func(ev eventstream.Event) bool { return ev.Name == "content_block_delta" })
	corpus := created[apitype.Corpus](t, srv.call(t, "POST", "/api/v1/corpora", alice.Token, apitype.CreateCorpusRequest{Name: "notes"}), 201)
	corpusEvents := srv.openStream(t, http.MethodGet, "/api/v1/corpora/"+corpus.ID+"/events", alice.Token, nil, nil)

	resp := srv.call(t, "PATCH", "/api/v1/users/"+alice.User.ID, root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(true)})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)

	requireStreamEndsWith(t, turn, "account disabled")
	requireStreamEndsWith(t, waiting, "account disabled")
	requireStreamEndsWith(t, corpusEvents, "account disabled")
	var msgErr map[string]any
	for _, ev := range msgs.Rest() {
		if ev.Name == "error" {
			require.NoError(t, json.Unmarshal(ev.Data, &msgErr))
		}
	}
	require.NotNil(t, msgErr, "the Anthropic stream ends with an error event")
	require.Contains(t, string(must(json.Marshal(msgErr))), "account disabled")

	// bob's stream sees the turn interrupted and done.
	var sawInterrupted bool
	var done apitype.QueryResponse
	for _, ev := range follower.Rest() {
		if runtimeType(ev) == "interrupted" {
			sawInterrupted = true
		}
		if ev.Name == "done" {
			done = decodeDone(t, ev)
		}
	}
	require.True(t, sawInterrupted)
	require.Equal(t, "interrupted", done.StopReason)
	sess := created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+first.SessionID, bob.Token), 200)
	require.Equal(t, "idle", sess.Status)

	// Her credentials are refused.
	requireAPIError(t, srv.get(t, "/api/v1/users/me", alice.Token), 401, "unauthorized")
	requireAPIError(t, srv.get(t, "/api/v1/users/me", key), 401, "unauthorized")

	// Her job's next scheduled run fails, naming why, with no turn.
	var failed apitype.JobRun
	require.Eventually(t, func() bool {
		for _, r := range srv.runs(t, bob.Token, job.ID) {
			if r.Status == "failed" {
				failed = r
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond)
	require.NotNil(t, failed.Error)
	require.Contains(t, *failed.Error, "disabled")
	require.Nil(t, failed.SessionID, "no turn ran, so no model was called")
	require.True(t, strings.HasPrefix(failed.ID, "run_"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tryStream opens a stream and returns it, or the refusal.
func (s *testServer) tryStream(t *testing.T, method, path, token string, body any) (*sseStream, response) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(must(json.Marshal(body)))
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, response{Status: resp.StatusCode, Body: b, Header: resp.Header}
	}
	st := &sseStream{t: t, Resp: resp, dec: eventstream.NewDecoder(resp.Body, 0)}
	t.Cleanup(st.Close)
	return st, response{Status: resp.StatusCode}
}

// TestFewUsersCannotFillTheStreamCap: each user holds at most a
// sixteenth of the global stream cap, so users who open idle streams
// until they are refused leave room for everyone else, on the native
// streams and on /v1/messages.
func TestFewUsersCannotFillTheStreamCap(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_MAX_STREAMS": "32"})
	for i := range 3 {
		hog := srv.register(t, fmt.Sprintf("hog%d@example.com", i), "password1").Token
		sess := created[apitype.Session](t, srv.call(t, "POST", "/api/v1/sessions", hog, apitype.CreateSessionRequest{Title: "idle"}), 201)
		held := 0
		for {
			_, resp := srv.tryStream(t, http.MethodGet, "/api/v1/sessions/"+sess.ID+"/stream", hog, nil)
			if resp.Status != http.StatusOK {
				requireAPIError(t, resp, 429, "too_many_streams")
				break
			}
			held++
			require.LessOrEqual(t, held, 32, "one user filled the whole cap")
		}
		require.Equal(t, 2, held, "a sixteenth of 32")
	}

	other := srv.register(t, "other@example.com", "password1")
	evs := srv.stream(t, other.Token, apitype.QueryRequest{Prompt: "@say still here"}).Rest()
	require.Equal(t, "still here", decodeDone(t, evs[len(evs)-1]).Content)
	key := srv.createKey(t, other.Token, "sdk").Key
	msgs := srv.openAnthropicStream(t, key, map[string]any{
		"model": "mock:echo", "max_tokens": 100, "stream": true,
		"messages": []map[string]any{{"role": "user", "content": "hello"}},
	})
	var names []string
	for _, ev := range msgs.Rest() {
		names = append(names, ev.Name)
	}
	require.Contains(t, names, "message_stop")
}

// TestIdleStreamsEnd: a stream that follows a session with no running
// turn ends after SESHAT_SSE_IDLE_LIFETIME with runtime idle_timeout and
// gives its slot back; a stream that follows a turn longer than that is
// not cut.
func TestIdleStreamsEnd(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_SSE_IDLE_LIFETIME": "1s", "SESHAT_MAX_STREAMS": "16"})
	tok := srv.register(t, "idler@example.com", "password1").Token
	sess := created[apitype.Session](t, srv.call(t, "POST", "/api/v1/sessions", tok, apitype.CreateSessionRequest{Title: "idle"}), 201)

	// The cap is 1 stream a user (16 / 16): the idle one holds it.
	idle, resp := srv.tryStream(t, http.MethodGet, "/api/v1/sessions/"+sess.ID+"/stream", tok, nil)
	require.Equal(t, http.StatusOK, resp.Status)
	_, resp = srv.tryStream(t, http.MethodGet, "/api/v1/sessions/"+sess.ID+"/stream", tok, nil)
	requireAPIError(t, resp, 429, "too_many_streams")

	evs := idle.Rest()
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	require.Equal(t, "idle_timeout", runtimeType(last), "events: %v", evs)
	require.Empty(t, last.ID)
	require.Equal(t, sess.ID, decodeRuntime(t, last).SessionID)

	// The slot is free again; a turn that outlives the idle lifetime
	// streams to its end.
	var st *sseStream
	require.Eventually(t, func() bool {
		var resp response
		st, resp = srv.tryStream(t, http.MethodPost, "/api/v1/query/stream", tok,
			apitype.QueryRequest{SessionID: sess.ID, Prompt: "@tokens 30\n@delay 100ms"})
		return resp.Status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	evs = st.Rest()
	for _, ev := range evs {
		require.NotEqual(t, "idle_timeout", runtimeType(ev))
	}
	require.Equal(t, "end_turn", decodeDone(t, evs[len(evs)-1]).StopReason)
}
