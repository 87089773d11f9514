package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// The tests and benchmarks here run the whole host (store, actors, HTTP
// server) on loopback with its "anthropic" provider pointed at an
// httptest upstream that replays a recorded Anthropic stream, and compare
// /v1/messages with calling that upstream directly.

// upstream is an httptest server speaking the Anthropic Messages stream.
type upstream struct {
	*httptest.Server
	// hold, while open, pauses every stream after its first text delta.
	hold chan struct{}
}

// recordedStream is a real text answer (from the provider's testdata).
func recordedStream(tb testing.TB) []byte {
	b, err := os.ReadFile("../../actors/provider/testdata/anthropic/text.sse")
	require.NoError(tb, err)
	return b
}

func newUpstream(tb testing.TB, hold bool) *upstream {
	tb.Helper()
	body := recordedStream(tb)
	// The stream pauses after this event when held.
	cut := bytes.Index(body, []byte("event: content_block_delta"))
	cut += bytes.Index(body[cut:], []byte("\n\n")) + 2
	u := &upstream{}
	if hold {
		u.hold = make(chan struct{})
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("request-id", "req_upstream")
		if u.hold == nil {
			_, _ = w.Write(body)
			return
		}
		_, _ = w.Write(body[:cut])
		w.(http.Flusher).Flush()
		select {
		case <-u.hold:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(body[cut:])
	}))
	tb.Cleanup(u.Close)
	return u
}

// stack is the host serving /v1/messages on loopback.
type stack struct {
	URL string
	Key string
	// Resolutions counts the model resolutions (provider selections) of
	// the host and the routes.
	Resolutions *atomic.Int64
}

// countingRoutes is routing.Service with every selection counted, both
// the host's and those of the Anthropic routes' model resolution.
type countingRoutes struct {
	*routing.Service
	n *atomic.Int64
}

func (c countingRoutes) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	c.n.Add(1)
	return c.Service.Select(ctx, userID, settingID, model)
}

func (c countingRoutes) ResolveModel(ctx context.Context, userID, settingID, name string) (string, *routing.Route, error) {
	return routing.ResolveModel(ctx, c, userID, settingID, name)
}

// newStack starts a host whose "anthropic" provider calls up, plus any
// extra providers, and returns its URL and an sk- key of a user. Turn and
// stream caps are lifted so that benchmarks can hold many streams.
func newStack(tb testing.TB, up *upstream, extra map[string]provider.Provider) *stack {
	tb.Helper()
	store, err := persist.Open(persist.Config{Dir: tb.TempDir()})
	require.NoError(tb, err)
	reg := provider.NewRegistry()
	if up != nil {
		reg.Register("anthropic", provider.NewAnthropic(provider.AnthropicConfig{BaseURL: up.URL, APIKey: "sk-ant-upstream"}))
		reg.SetModels("anthropic", provider.ModelInfo{ID: "claude-haiku-4-5"})
	}
	for name, p := range extra {
		reg.Register(name, p)
	}
	svc, err := routing.New(routing.Config{Store: store, Registry: reg})
	require.NoError(tb, err)
	rt := countingRoutes{Service: svc, n: new(atomic.Int64)}
	ten, err := tenancy.New(tenancy.Config{Store: store, Models: rt})
	require.NoError(tb, err)
	ledger, err := quota.New(quota.Config{Store: store, MaxTurnsPerUser: 1 << 16, MaxStreamsPerUser: 1 << 16, MaxStreams: 1 << 20})
	require.NoError(tb, err)
	h, err := host.New(host.Config{
		Store: store, Providers: rt, Tenancy: ten, Ledger: ledger, Session: session.Config{DefaultModel: "mock:echo"},
	})
	require.NoError(tb, err)
	authSvc, err := auth.New(auth.Config{Secret: bytes.Repeat([]byte("k"), 32), Store: store, BcryptCost: bcrypt.MinCost})
	require.NoError(tb, err)
	srv, err := httpapi.New(httpapi.Config{}, httpapi.Deps{Store: store, Auth: authSvc, Runtime: h, Tenancy: ten, Providers: rt, Quotas: ledger})
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(tb, srv.Shutdown(ctx))
		require.NoError(tb, <-served)
		require.NoError(tb, h.Close(ctx))
		require.NoError(tb, store.Close())
	})
	g, err := authSvc.Register(context.Background(), "bench@example.com", "password123", "Bench", "127.0.0.1")
	require.NoError(tb, err)
	k, err := authSvc.CreateAPIKey(context.Background(), g.User.ID, "bench")
	require.NoError(tb, err)
	return &stack{URL: "http://" + ln.Addr().String(), Key: k.Key, Resolutions: rt.n}
}

// newClient is an HTTP client that keeps up to conns connections per host
// and closes them at cleanup.
func newClient(tb testing.TB, conns int) *http.Client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

const streamBody = `{"model":"%s","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Plan a trip to Paris"}]}`

// target is one endpoint a benchmark drives: the upstream itself or the
// host in front of it.
type target struct {
	name, url, key, model string
}

func targets(up *upstream, st *stack) []target {
	return []target{
		{"direct", up.URL + "/v1/messages", "sk-ant-upstream", "claude-haiku-4-5"},
		{"host", st.URL + "/v1/messages", st.Key, "anthropic:claude-haiku-4-5"},
	}
}

// post sends one streaming request and returns the response, checked for
// status 200.
func (tg target) post(c *http.Client) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, tg.url, strings.NewReader(fmt.Sprintf(streamBody, tg.model)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", tg.key)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("%s: status %d: %s", tg.name, resp.StatusCode, b)
	}
	return resp, nil
}

// roundTrip sends one streaming request and reads it to message_stop.
func (tg target) roundTrip(c *http.Client) (time.Duration, error) {
	start := time.Now()
	resp, err := tg.post(c)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if !bytes.Contains(b, []byte("event: message_stop")) || !bytes.Contains(b, []byte("a trip to Paris.")) {
		return 0, fmt.Errorf("%s: incomplete stream: %s", tg.name, b)
	}
	return time.Since(start), nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkMessagesLatency sends streaming requests at a fixed rate (an open
// loop: each starts on schedule, whatever the others do), first to the
// upstream directly, then through the host's /v1/messages, and reports the
// p50 and p99 time to message_stop of each and what the host adds. Each
// iteration is latencyRequests requests per target.
func BenchmarkMessagesLatency(b *testing.B) {
	const (
		rate            = 100 // requests per second
		latencyRequests = 300
	)
	up := newUpstream(b, false)
	st := newStack(b, up, nil)
	c := newClient(b, 256)
	res := map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, tg := range targets(up, st) {
			var (
				mu   sync.Mutex
				wg   sync.WaitGroup
				errs atomic.Int64
			)
			tick := time.NewTicker(time.Second / rate)
			for range latencyRequests {
				<-tick.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := tg.roundTrip(c)
					if err != nil {
						errs.Add(1)
						b.Error(err)
						return
					}
					mu.Lock()
					res[tg.name] = append(res[tg.name], d)
					mu.Unlock()
				}()
			}
			tick.Stop()
			wg.Wait()
		}
	}
	b.StopTimer()
	p := map[string][2]time.Duration{}
	for name, ds := range res {
		slices.Sort(ds)
		p[name] = [2]time.Duration{percentile(ds, 0.50), percentile(ds, 0.99)}
		b.ReportMetric(ms(p[name][0]), name+"_p50_ms")
		b.ReportMetric(ms(p[name][1]), name+"_p99_ms")
	}
	b.ReportMetric(ms(p["host"][0]-p["direct"][0]), "added_p50_ms")
	b.ReportMetric(ms(p["host"][1]-p["direct"][1]), "added_p99_ms")
}

// BenchmarkMessagesThroughput runs a closed loop of 64 clients for
// throughputWindow against each target and reports completed streaming
// requests per second.
func BenchmarkMessagesThroughput(b *testing.B) {
	const (
		clients          = 64
		throughputWindow = 3 * time.Second
	)
	up := newUpstream(b, false)
	st := newStack(b, up, nil)
	c := newClient(b, clients)
	b.ResetTimer()
	for range b.N {
		for _, tg := range targets(up, st) {
			var done atomic.Int64
			deadline := time.Now().Add(throughputWindow)
			start := time.Now()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						if _, err := tg.roundTrip(c); err != nil {
							b.Error(err)
							return
						}
						done.Add(1)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), tg.name+"_req/s")
		}
	}
}

// BenchmarkMessagesStreamMemory holds openStreams streams open at once
// (the upstream pauses each after its first text delta), first directly,
// then through the host, and reports the heap and stack in use per open
// stream (client and upstream included) and what the host adds per
// stream, with its goroutines.
func BenchmarkMessagesStreamMemory(b *testing.B) {
	const openStreams = 500
	for range b.N {
		up := newUpstream(b, true)
		st := newStack(b, up, nil)
		c := newClient(b, openStreams)
		perStream := map[string]float64{}
		goroutines := map[string]float64{}
		for _, tg := range targets(up, st) {
			up.hold = make(chan struct{})
			before, gBefore := inUse()
			var (
				opened sync.WaitGroup
				wg     sync.WaitGroup
			)
			opened.Add(openStreams)
			for range openStreams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := tg.post(c)
					if err != nil {
						opened.Done()
						b.Error(err)
						return
					}
					defer resp.Body.Close()
					// Open means the first text delta arrived.
					r := bufio.NewReader(resp.Body)
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							opened.Done()
							b.Error(err)
							return
						}
						if strings.Contains(line, "text_delta") {
							break
						}
					}
					opened.Done()
					_, _ = io.Copy(io.Discard, r)
				}()
			}
			opened.Wait()
			after, gAfter := inUse()
			perStream[tg.name] = float64(after-before) / openStreams
			goroutines[tg.name] = float64(gAfter-gBefore) / openStreams
			close(up.hold)
			wg.Wait()
		}
		b.ReportMetric(perStream["direct"], "direct_B/stream")
		b.ReportMetric(perStream["host"], "host_B/stream")
		b.ReportMetric(perStream["host"]-perStream["direct"], "added_B/stream")
		b.ReportMetric(goroutines["host"]-goroutines["direct"], "added_goroutines/stream")
	}
}

// inUse returns the heap and stack bytes in use after a collection, and the
// number of goroutines.
func inUse() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
}

// toolThenFail is a provider whose first call asks for list_files (a
// server tool that runs without approval) and whose next call fails.
type toolThenFail struct{}

func (toolThenFail) Stream(_ context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	last := req.Messages[len(req.Messages)-1]
	if last.Content[0].Type == agent.BlockToolResult {
		return agent.ModelResponse{}, errors.New("upstream fell over")
	}
	use := agent.Block{Type: agent.BlockToolUse, ID: agent.NewID(agent.PrefixToolUse), Name: "list_files", Input: []byte(`{}`)}
	emit(agent.ModelChunk{Type: agent.ChunkToolUse, Block: use})
	return agent.ModelResponse{Content: []agent.Block{use}, StopReason: agent.StopToolUse}, nil
}

// TestMessagesNoRetryAfterTool checks that a non-streaming request whose
// turn failed after a server tool ran tells the client not to retry, and
// that one that failed before any tool ran leaves the retry to the client.
func TestMessagesNoRetryAfterTool(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t,
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			// bleve's process-wide analysis queue, started when the
			// package is loaded.
			goleak.IgnoreAnyFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"),
			// protoactor's dead-letter log throttle: a one-shot 1s timer that
			// messages to sessions stopped by host.Close start; it ends by
			// itself.
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
	st := newStack(t, nil, map[string]provider.Provider{"script": toolThenFail{}})
	c := newClient(t, 4)
	send := func(model, prompt string) *http.Response {
		body := fmt.Sprintf(`{"model":%q,"max_tokens":64,"messages":[{"role":"user","content":%q}]}`, model, prompt)
		req, err := http.NewRequest(http.MethodPost, st.URL+"/v1/messages", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("x-api-key", st.Key)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		return resp
	}
	resp := send("script:x", "list my files")
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Equal(t, "false", resp.Header.Get("x-should-retry"))

	resp = send("mock:echo", "@error nothing ran")
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Empty(t, resp.Header.Get("x-should-retry"))
}

// TestMessagesResolveTheModelOnce checks that a /v1/messages turn selects
// its model's provider once, from the request's model name to the turn's
// model calls (each selection reads the caller's provider settings).
func TestMessagesResolveTheModelOnce(t *testing.T) {
	st := newStack(t, nil, nil)
	c := newClient(t, 1)
	for _, tc := range []struct{ model, want string }{
		{"mock:echo", "echo: hi"},
		{"claude-haiku-4-5", "echo: hi"}, // unknown here: the session's model (mock:echo)
	} {
		before := st.Resolutions.Load()
		body := fmt.Sprintf(`{"model":%q,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, tc.model)
		req, err := http.NewRequest(http.MethodPost, st.URL+"/v1/messages", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", st.Key)
		resp, err := c.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.Contains(t, string(b), tc.want)
		n := st.Resolutions.Load() - before
		if tc.model == "mock:echo" {
			require.Equal(t, int64(1), n, "%s: one selection from request to model call", tc.model)
		} else {
			// The bare name's candidates are each tried once (no model
			// of that name is listed here: the name as is, then
			// anthropic:name); then the session's model, once.
			require.Equal(t, int64(3), n, "%s", tc.model)
		}
	}

	// Streamed, in the Chat Completions shape, and on a session the
	// client names: one selection each.
	var sessionID string
	for _, tc := range []struct{ name, path, body string }{
		{"messages streamed", "/v1/messages", `{"model":"mock:echo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"chat completions", "/v1/chat/completions", `{"model":"mock:echo","messages":[{"role":"user","content":"hi"}]}`},
		{"chat completions streamed", "/v1/chat/completions", `{"model":"mock:echo","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"messages on a session", "/v1/messages", `{"model":"mock:echo","max_tokens":64,"messages":[{"role":"user","content":"again"}]}`},
	} {
		before := st.Resolutions.Load()
		req, err := http.NewRequest(http.MethodPost, st.URL+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+st.Key)
		if sessionID != "" && tc.name == "messages on a session" {
			req.Header.Set("x-seshat-session-id", sessionID)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", tc.name, b)
		require.Contains(t, string(b), "echo:", tc.name)
		sessionID = resp.Header.Get("x-seshat-session-id")
		require.Equal(t, int64(1), st.Resolutions.Load()-before, "%s: one selection from request to model call", tc.name)
	}
}
