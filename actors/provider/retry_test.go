package provider

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
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

// upstreamCall is one request an upstream received.
type upstreamCall struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// upstream is an httptest server standing in for a model API. answer
// gets the 0-based number of the call.
type upstream struct {
	srv *httptest.Server
	mu  sync.Mutex
	// guarded by mu
	calls []upstreamCall
}

// startUpstream starts an upstream and registers its shutdown and a
// goroutine leak check (which runs last) with t.
func startUpstream(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *upstream {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		n := len(u.calls)
		u.calls = append(u.calls, upstreamCall{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) Calls() []upstreamCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamCall(nil), u.calls...)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// replaySSE writes a recorded stream event by event, flushing after each,
// as a real upstream does.
func replaySSE(t testing.TB, w http.ResponseWriter, name string) {
	w.Header().Set("content-type", "text/event-stream; charset=utf-8")
	w.Header().Set("cache-control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for _, ev := range strings.SplitAfter(string(readTestdata(t, name)), "\n\n") {
		if _, err := io.WriteString(w, ev); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

// answerJSON writes a recorded JSON body with status and extra headers
// given as name, value pairs.
func answerJSON(t testing.TB, w http.ResponseWriter, status int, name string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(readTestdata(t, name))
}

// collect runs one call and returns the chunks it emitted.
func collect(ctx context.Context, p Provider, req agent.ModelRequest) ([]agent.ModelChunk, agent.ModelResponse, error) {
	var chunks []agent.ModelChunk
	resp, err := p.Stream(ctx, &req, func(c agent.ModelChunk) { chunks = append(chunks, c) })
	return chunks, resp, err
}

func chunkTexts(chunks []agent.ModelChunk, typ agent.ChunkType) []string {
	var out []string
	for _, c := range chunks {
		if c.Type == typ {
			out = append(out, c.Text)
		}
	}
	return out
}

// fastRetries makes p's backoff tiny so retry tests do not wait.
func fastRetries(p Provider) {
	switch p := p.(type) {
	case *anthropicProvider:
		p.retry.base, p.retry.max = time.Millisecond, time.Millisecond
	case *openaiProvider:
		p.retry.base, p.retry.max = time.Millisecond, time.Millisecond
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
		ok      bool
	}{
		{name: "none", headers: nil},
		{name: "seconds", headers: map[string]string{"retry-after": "2"}, want: 2 * time.Second, ok: true},
		{name: "fractional seconds", headers: map[string]string{"retry-after": "0.25"}, want: 250 * time.Millisecond, ok: true},
		{name: "zero", headers: map[string]string{"retry-after": "0"}, want: 0, ok: true},
		{name: "capped", headers: map[string]string{"retry-after": "3600"}, want: 30 * time.Second, ok: true},
		{name: "http date", headers: map[string]string{"retry-after": now.Add(7 * time.Second).Format(http.TimeFormat)}, want: 7 * time.Second, ok: true},
		{name: "date in the past", headers: map[string]string{"retry-after": now.Add(-time.Minute).Format(http.TimeFormat)}, want: 0, ok: true},
		{name: "milliseconds win", headers: map[string]string{"retry-after-ms": "150", "retry-after": "9"}, want: 150 * time.Millisecond, ok: true},
		{name: "bad milliseconds fall back", headers: map[string]string{"retry-after-ms": "soon", "retry-after": "1"}, want: time.Second, ok: true},
		{name: "garbage", headers: map[string]string{"retry-after": "later"}},
		{name: "negative", headers: map[string]string{"retry-after": "-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			d, ok := retryAfter(h, now, 30*time.Second)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, d)
		})
	}
}

func TestShouldRetry(t *testing.T) {
	tests := []struct {
		status int
		header string
		want   bool
	}{
		{400, "", false}, {401, "", false}, {403, "", false}, {404, "", false}, {413, "", false},
		{408, "", true}, {409, "", true}, {429, "", true}, {500, "", true}, {502, "", true}, {503, "", true}, {529, "", true},
		{500, "false", false}, {400, "true", true}, {429, "FALSE", false},
	}
	for _, tc := range tests {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("x-should-retry", tc.header)
		}
		require.Equal(t, tc.want, shouldRetry(resp), "%d x-should-retry=%q", tc.status, tc.header)
	}
}

func TestBackoffBounds(t *testing.T) {
	r := newRetrier("test", 0, nil)
	require.Equal(t, defaultMaxRetries, r.maxRetries)
	require.Zero(t, newRetrier("test", -1, nil).maxRetries)
	for attempt := range 40 {
		limit := retryMaxDelay
		if attempt < 5 {
			limit = retryBaseDelay << attempt
		}
		for range 20 {
			d := r.backoff(attempt)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, limit)
		}
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled, "a cancelled wait ends at once")
	require.ErrorIs(t, sleepCtx(ctx, 0), context.Canceled)
	require.NoError(t, sleepCtx(t.Context(), 0))
	require.NoError(t, sleepCtx(t.Context(), time.Millisecond))
}

func TestErrorMessage(t *testing.T) {
	require.Equal(t, "Bad Gateway", errorMessage(502, nil))
	require.Equal(t, "upstream connect error", errorMessage(503, []byte("  upstream connect error\n<html>…")))
	require.Equal(t, "status 599", errorMessage(599, nil))
	long := errorMessage(500, []byte(strings.Repeat("é", 300)))
	require.True(t, strings.HasSuffix(long, "…"))
	require.LessOrEqual(t, len(long), 204)
}

func TestUpstreamErrorString(t *testing.T) {
	require.Equal(t, "upstream error 529 overloaded_error: Overloaded", (&UpstreamError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}).Error())
	require.Equal(t, "upstream error 502: Bad Gateway", (&UpstreamError{Status: 502, Message: "Bad Gateway"}).Error())
	var ue *UpstreamError
	require.True(t, errors.As(errors.Join(errors.New("x"), &UpstreamError{Status: 1}), &ue))
}

func TestDefaultHTTPClient(t *testing.T) {
	c := NewHTTPClient()
	require.Zero(t, c.Timeout, "streams are bounded by ctx, not by an overall timeout")
	tr, ok := c.Transport.(*http.Transport)
	require.True(t, ok)
	require.NotZero(t, tr.TLSHandshakeTimeout)
	require.NotZero(t, tr.ResponseHeaderTimeout)
	require.NotZero(t, tr.IdleConnTimeout)
}
