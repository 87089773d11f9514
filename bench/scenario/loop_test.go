package scenario

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowTarget is a server that takes service to answer, one request at a
// time, as a target of this process (whose CPU the loop reads).
func slowTarget(t *testing.T, service time.Duration) (*target, *atomic.Int64) {
	var served atomic.Int64
	busy := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		busy <- struct{}{}
		time.Sleep(service)
		<-busy
		served.Add(1)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	cl, err := NewClient(addr, 0)
	require.NoError(t, err)
	return &target{name: "test", addr: addr, pid: os.Getpid(), cl: cl, ctl: newControl(addr, "")}, &served
}

func plainOp(tg *target, path string) opFunc {
	req := tg.cl.Build(Request{Method: http.MethodGet, Path: path})
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		resp, err := c.Do(req, deadline)
		if err == nil && resp.Status != http.StatusOK {
			err = statusError(resp.Status, resp.Body)
		}
		return 0, err
	}
}

// TestOpenLoopCountsFromDue checks the open loop has no coordinated
// omission: against a server slower than the offered rate, the closed
// loop's latency stays at the service time while the open loop's grows
// with the backlog, because it counts from when each request was due.
func TestOpenLoopCountsFromDue(t *testing.T) {
	const service = 20 * time.Millisecond // 50 requests/s at most
	tg, _ := slowTarget(t, service)
	op := plainOp(tg, "/")

	closed := runLoop(t.Context(), tg, loopSpec{name: "closed", workers: 1, duration: time.Second, maxOps: 1000, ops: []opFunc{op}}, nopProgress{})
	require.Empty(t, closed.errors)
	require.Positive(t, closed.count)
	require.GreaterOrEqual(t, closed.latency.P50, service)
	require.GreaterOrEqual(t, closed.serverCPU, time.Duration(0), "CPU read from /proc")

	// 100/s offered for 1s to a server that does 50/s: the last requests
	// wait about a second behind the others.
	open := runLoop(t.Context(), tg, loopSpec{name: "open", workers: 1, rate: 100, duration: time.Second, maxOps: 1000, ops: []opFunc{plainOp(tg, "/")}}, nopProgress{})
	require.Empty(t, open.errors)
	require.EqualValues(t, 100, open.count, "every request due in the window is sent and counted")
	require.Greater(t, open.latency.P99, 300*time.Millisecond)
	require.Greater(t, open.latency.P99, 5*closed.latency.P50)
}

func TestLoopBounds(t *testing.T) {
	tg, served := slowTarget(t, time.Millisecond)

	// A request bound ends the closed loop early; its window shrinks to
	// match.
	st := runLoop(t.Context(), tg, loopSpec{name: "bounded", workers: 2, duration: 10 * time.Second, maxOps: 20, ops: []opFunc{plainOp(tg, "/"), plainOp(tg, "/")}}, nopProgress{})
	require.EqualValues(t, 20, served.Load())
	require.EqualValues(t, 20, st.count)
	require.Less(t, st.window, 5*time.Second)

	// Failed requests are counted by class and not as answered ones.
	st = runLoop(t.Context(), tg, loopSpec{name: "failing", workers: 1, duration: 200 * time.Millisecond, maxOps: 5, ops: []opFunc{plainOp(tg, "/fail")}}, nopProgress{})
	require.Zero(t, st.count)
	require.Equal(t, map[string]int64{"http_503": 5}, st.errors)

	// The warm-up is not measured.
	st = runLoop(t.Context(), tg, loopSpec{name: "warm", workers: 1, warmup: 300 * time.Millisecond, duration: 200 * time.Millisecond, maxOps: 1_000_000, ops: []opFunc{plainOp(tg, "/")}}, nopProgress{})
	require.Positive(t, st.count)
	require.Less(t, st.count, int64(300), "fewer than the requests of warm-up and window together")

	// A done context stops the loop.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	st = runLoop(ctx, tg, loopSpec{name: "cancelled", workers: 1, duration: 10 * time.Second, maxOps: 1_000_000, ops: []opFunc{plainOp(tg, "/")}}, nopProgress{})
	require.Zero(t, st.count)
}

func TestParallel(t *testing.T) {
	var n atomic.Int64
	require.NoError(t, parallel(t.Context(), 100, 8, func(context.Context, int) error { n.Add(1); return nil }))
	require.EqualValues(t, 100, n.Load())

	boom := errors.New("boom")
	n.Store(0)
	err := parallel(t.Context(), 1000, 4, func(_ context.Context, i int) error {
		n.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Less(t, n.Load(), int64(1000), "calls after the error are skipped")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, parallel(ctx, 10, 2, func(context.Context, int) error { return nil }), context.Canceled)
}
