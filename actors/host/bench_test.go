package host

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/session"
)

// createSessions makes n sessions of uid, each with one finished turn when
// withTurn is set (so activation decodes a real snapshot).
func createSessions(b *testing.B, h *Host, uid string, n int, withTurn bool) []string {
	b.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if withTurn {
				res, err := h.Query(context.Background(), uid, TurnRequest{Prompt: "a short conversation to snapshot and load again"})
				require.NoError(b, err)
				ids[i] = res.SessionID
				return
			}
			rec, err := h.CreateSession(context.Background(), uid, SessionOptions{})
			require.NoError(b, err)
			ids[i] = rec.ID
		}()
	}
	wg.Wait()
	return ids
}

func sessionHeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkIdleSessionMemory reports the heap held per idle, activated
// session actor (with an empty history).
func BenchmarkIdleSessionMemory(b *testing.B) {
	const n = 5000
	h, _, uid := newHostB(b, session.Config{Idle: time.Hour})
	ids := createSessions(b, h, uid, n, false)
	b.ResetTimer()
	for range b.N {
		before := sessionHeapInUse()
		for _, id := range ids {
			_, err := h.GetSession(context.Background(), uid, id)
			require.NoError(b, err)
		}
		after := sessionHeapInUse()
		b.ReportMetric(float64(after-before)/n, "B/session")
		b.StopTimer()
		require.NoError(b, h.passivateAll(context.Background()))
		b.StartTimer()
	}
}

// BenchmarkActivation reports cold activation latency: the first request
// to a passivated session, which loads its record and snapshot.
func BenchmarkActivation(b *testing.B) {
	const n = 2000
	h, _, uid := newHostB(b, session.Config{Idle: time.Hour})
	ids := createSessions(b, h, uid, n, true)
	require.NoError(b, h.passivateAll(context.Background()))
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range b.N {
		id := ids[i%n]
		if i > 0 && i%n == 0 {
			b.StopTimer()
			require.NoError(b, h.passivateAll(context.Background()))
			b.StartTimer()
		}
		t0 := time.Now()
		_, err := h.GetSession(context.Background(), uid, id)
		lat = append(lat, time.Since(t0))
		require.NoError(b, err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func newHostB(b *testing.B, sc session.Config) (*Host, any, string) {
	b.Helper()
	su := newStoreUser(b)
	h, err := New(Config{Store: su.s, Providers: mockRegistry(), Session: sc})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, h.Close(context.Background())) })
	return h, su.s, su.uid
}

// passivateAll stops every live session after a final snapshot, as Close
// does, but leaves the host running; the next request re-activates them.
func (h *Host) passivateAll(ctx context.Context) error {
	h.mu.Lock()
	ids := make([]string, 0, len(h.live))
	for id := range h.live {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		pid := actor.NewPID(h.sys.Address(), session.NamePrefix+id)
		if _, err := h.sys.Root.RequestFuture(pid, &session.Passivate{Reason: "passivated"}, h.timeout(ctx)).Result(); err != nil && !errors.Is(err, actor.ErrDeadLetter) {
			return err
		}
	}
	// Wait until the actors are gone so that the next request activates.
	for {
		h.mu.Lock()
		n := len(h.live)
		h.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// BenchmarkCloseWithLiveSessions reports how long Close takes with 20,000
// idle session actors in memory.
func BenchmarkCloseWithLiveSessions(b *testing.B) {
	const n = 20000
	for range b.N {
		b.StopTimer()
		su := newStoreUser(b)
		h, err := New(Config{Store: su.s, Providers: mockRegistry(), Session: session.Config{Idle: time.Hour}})
		require.NoError(b, err)
		ids := createSessions(b, h, su.uid, n, false)
		for _, id := range ids {
			_, err := h.GetSession(context.Background(), su.uid, id)
			require.NoError(b, err)
		}
		b.StartTimer()
		t0 := time.Now()
		require.NoError(b, h.Close(context.Background()))
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "close-ms")
	}
}

func (h *Host) liveSessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkOneShotSessionHeap reports the heap a finished one-shot turn
// (a /v1/messages call without a session header) leaves behind: n turns
// on new sessions from 64 callers, the live heap measured (after GC) as
// soon as the last one returned, per turn, and the session actors still
// in memory then.
func BenchmarkOneShotSessionHeap(b *testing.B) {
	const n, callers = 2000, 64
	h, _, uid := newHostB(b, session.Config{Idle: 5 * time.Minute})
	run := func() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, callers)
		for range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				_, err := h.Query(context.Background(), uid, TurnRequest{Prompt: "a one-shot call whose history the client keeps", OneShot: true})
				require.NoError(b, err)
			}()
		}
		wg.Wait()
	}
	settle := func() {
		for deadline := time.Now().Add(30 * time.Second); h.liveSessions() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	run() // warm the pools, the store and the actor system
	settle()
	b.ResetTimer()
	for range b.N {
		before := liveHeap()
		run()
		live := h.liveSessions()
		after := liveHeap()
		b.ReportMetric(float64(int64(after)-int64(before))/n, "heap-B/session")
		b.ReportMetric(float64(live), "live-sessions")
		b.StopTimer()
		settle()
		b.StartTimer()
	}
}
