package provider

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
)

// countingUpstream is an Anthropic stand-in that counts the connections
// it accepted. Each answer waits until round requests are in flight
// together, so that a round holds that many connections at once.
type countingUpstream struct {
	srv   *httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	cond  *sync.Cond
	// guarded by mu
	arrived int
}

func startCountingUpstream(t *testing.T, round int) *countingUpstream {
	t.Helper()
	u := &countingUpstream{}
	u.cond = sync.NewCond(&u.mu)
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		u.mu.Lock()
		u.arrived++
		gen := (u.arrived - 1) / round
		for u.arrived < (gen+1)*round {
			u.cond.Wait()
		}
		u.cond.Broadcast()
		u.mu.Unlock()
		replaySSE(t, w, "anthropic/text.sse")
	}))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.srv.Start()
	return u
}

// TestUpstreamConnectionsReused runs rounds of concurrent calls through
// the default upstream client: every round's connections are reused by
// the next (a pool smaller than the concurrency redials the difference
// every round), and sequential calls share one connection (an answer is
// read to its end, so its connection goes back to the pool).
func TestUpstreamConnectionsReused(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const concurrency, rounds = 64, 10
	u := startCountingUpstream(t, concurrency)
	client := NewHTTPClient()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		u.srv.Close()
	})
	p := NewAnthropic(AnthropicConfig{BaseURL: u.srv.URL, APIKey: "sk-ant-test", HTTPClient: client})
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, concurrency)
		for range concurrency {
			wg.Go(func() {
				_, err := p.Stream(t.Context(), new(anthropicRequest()), func(agent.ModelChunk) {})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	// Connections go back to the pool from the transport's read loop,
	// so a call may occasionally start before its predecessor's is idle
	// again; a pool of 16 would open 64 + 9 × 48 = 496.
	n := u.conns.Load()
	t.Logf("%d connections for %d calls, %d at once", n, concurrency*rounds, concurrency)
	require.LessOrEqual(t, n, int64(2*concurrency), "connections for %d calls, %d at once", concurrency*rounds, concurrency)

	// One at a time: one connection.
	client.CloseIdleConnections()
	u2 := startCountingUpstream(t, 1)
	t.Cleanup(u2.srv.Close)
	p = NewAnthropic(AnthropicConfig{BaseURL: u2.srv.URL, APIKey: "sk-ant-test", HTTPClient: client})
	for range 20 {
		_, err := p.Stream(t.Context(), new(anthropicRequest()), func(agent.ModelChunk) {})
		require.NoError(t, err)
	}
	require.LessOrEqual(t, u2.conns.Load(), int64(2), "sequential calls share a connection")
}
