package egress

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPoolReusedAtConcurrency runs rounds of 64 concurrent requests (each
// round's answers held until all 64 are in flight) through a fenced client
// whose pool is sized for them: every round reuses the first round's
// connections. The default pool of 8 redials 56 of them every round.
func TestPoolReusedAtConcurrency(t *testing.T) {
	const concurrency, rounds = 64, 5
	var conns atomic.Int64
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	arrived := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		arrived++
		gen := (arrived - 1) / concurrency
		for arrived < (gen+1)*concurrency {
			cond.Wait()
		}
		cond.Broadcast()
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	count := func(p Policy) int64 {
		c := NewClient(p)
		defer c.CloseIdleConnections()
		before := conns.Load()
		for range rounds {
			var wg sync.WaitGroup
			for range concurrency {
				wg.Go(func() {
					resp, err := c.Get(srv.URL)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					}
				})
			}
			wg.Wait()
		}
		return conns.Load() - before
	}
	sized := count(Policy{AllowPrivate: true, MaxIdleConnsPerHost: concurrency})
	require.LessOrEqual(t, sized, int64(2*concurrency), "a pool sized to the concurrency")
	small := count(Policy{AllowPrivate: true})
	require.Greater(t, small, int64(2*concurrency), "the default pool of 8 redials")
	t.Logf("%d connections with a pool of %d, %d with the default, for %d requests", sized, concurrency, small, concurrency*rounds)
}
