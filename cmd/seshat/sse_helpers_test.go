package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// sseStream is an open event stream read by a real SSE decoder.
type sseStream struct {
	t    testing.TB
	Resp *http.Response
	dec  *eventstream.Decoder
}

// openStream sends a request expected to answer 200 text/event-stream.
func (s *testServer) openStream(t testing.TB, method, path, token string, body any, header map[string]string) *sseStream {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream %s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "1", resp.Header.Get("X-SSE-Version"))
	st := &sseStream{t: t, Resp: resp, dec: eventstream.NewDecoder(resp.Body, 0)}
	t.Cleanup(st.Close)
	return st
}

// stream starts a streamed query.
func (s *testServer) stream(t testing.TB, token string, q apitype.QueryRequest) *sseStream {
	t.Helper()
	return s.openStream(t, http.MethodPost, "/api/v1/query/stream", token, q, nil)
}

// Close drops the connection.
func (st *sseStream) Close() { st.Resp.Body.Close() }

// Next returns the next event; io.EOF once the server closed the stream.
func (st *sseStream) Next() (eventstream.Event, error) {
	type res struct {
		ev  eventstream.Event
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ev, err := st.dec.Next()
		ch <- res{ev, err}
	}()
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-time.After(20 * time.Second):
		st.Close()
		r := <-ch
		return r.ev, fmt.Errorf("no event within 20s (then: %v)", r.err)
	}
}

// MustNext returns the next event or fails the test.
func (st *sseStream) MustNext() eventstream.Event {
	st.t.Helper()
	ev, err := st.Next()
	require.NoError(st.t, err)
	return ev
}

// Until reads events until f accepts one and returns it.
func (st *sseStream) Until(f func(eventstream.Event) bool) eventstream.Event {
	st.t.Helper()
	for {
		if ev := st.MustNext(); f(ev) {
			return ev
		}
	}
}

// Rest reads events until the server ends the stream, checking that it does
// end (EOF after a done or error event).
func (st *sseStream) Rest() []eventstream.Event {
	st.t.Helper()
	var out []eventstream.Event
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(st.t, err)
		out = append(out, ev)
	}
}

func runtimeType(ev eventstream.Event) string {
	if ev.Name != "runtime" {
		return ""
	}
	var r apitype.RuntimeEvent
	if json.Unmarshal(ev.Data, &r) != nil {
		return ""
	}
	return r.Type
}

func isRuntime(typ string) func(eventstream.Event) bool {
	return func(ev eventstream.Event) bool { return runtimeType(ev) == typ }
}

func isEnd(ev eventstream.Event) bool { return ev.Name == "done" || ev.Name == "error" }

func eventID(t testing.TB, ev eventstream.Event) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(ev.ID, 10, 64)
	require.NoError(t, err, "event id %q", ev.ID)
	return n
}

func decodeRuntime(t testing.TB, ev eventstream.Event) apitype.RuntimeEvent {
	t.Helper()
	require.Equal(t, "runtime", ev.Name)
	var r apitype.RuntimeEvent
	require.NoError(t, json.Unmarshal(ev.Data, &r))
	return r
}

func decodeDone(t testing.TB, ev eventstream.Event) apitype.QueryResponse {
	t.Helper()
	require.Equal(t, "done", ev.Name, "data: %s", ev.Data)
	var r apitype.QueryResponse
	require.NoError(t, json.Unmarshal(ev.Data, &r))
	return r
}

// query runs a non-streaming query and decodes its response.
func (s *testServer) query(t testing.TB, token string, q apitype.QueryRequest) apitype.QueryResponse {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: token, Body: q})
	require.Equal(t, http.StatusOK, resp.Status, "body: %s", resp.Body)
	var r apitype.QueryResponse
	resp.JSON(t, &r)
	return r
}

// metric reads one unlabelled series from /metrics.
func (s *testServer) metric(t testing.TB, name string) float64 {
	t.Helper()
	resp := s.get(t, "/metrics", "")
	for _, line := range bytes.Split(resp.Body, []byte("\n")) {
		if f := bytes.Fields(line); len(f) == 2 && string(f[0]) == name {
			v, err := strconv.ParseFloat(string(f[1]), 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// postJSON posts v and returns the body of a 200 answer; it is safe to call
// from a goroutine other than the test's.
func postJSON(s *testServer, token, path string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return body, nil
}
