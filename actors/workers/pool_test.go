package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// A worker that ran one function takes the next one if it is idle by
// then: 100 functions scheduled one after another, each once the last has
// finished and its worker had a moment to get back, start a few workers,
// not 100.
func TestSequentialWorkReusesWorkers(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(time.Minute, 10)
	for range 100 {
		done := make(chan struct{})
		p.Schedule(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	assert.Less(t, started, 20, "workers started for 100 sequential functions")
	p.Close()
}

// poll reports whether cond holds within 5s. It polls on the test's own
// goroutine (require.Eventually starts goroutines of its own, which
// goleak would see).
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func TestConcurrentWorkNeverWaits(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(time.Minute, 10)
	// 50 functions that block until released: Schedule must start a
	// worker for each instead of waiting for a busy one.
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(50)
	for range 50 {
		p.Schedule(func() { started.Done(); <-release })
	}
	started.Wait()
	close(release)
	p.Close()
}

func TestIdleWorkersExit(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(20*time.Millisecond, 10)
	var ran atomic.Int32
	for range 8 {
		p.Schedule(func() { ran.Add(1) })
	}
	require.True(t, poll(func() bool { return ran.Load() == 8 }))
	// With nothing to do, every worker ends on its own, without Close.
	require.True(t, poll(func() bool { return goleak.Find() == nil }), "idle workers did not exit")
	p.Close()
}

func TestCloseWaitsForBusyWorkersAndLaterWorkStillRuns(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(time.Minute, 7)
	assert.Equal(t, 7, p.Throughput())
	var finished atomic.Bool
	started := make(chan struct{})
	p.Schedule(func() {
		close(started)
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	})
	<-started
	p.Close()
	assert.True(t, finished.Load(), "Close returned before the busy worker's function did")
	p.Close() // a second Close is a no-op

	done := make(chan struct{})
	p.Schedule(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("work scheduled after Close never ran")
	}
}

// BenchmarkSchedule compares a pool with a goroutine per function, for
// functions that need a stack of a few KiB, as an actor's mailbox run does.
func BenchmarkSchedule(b *testing.B) {
	deep := func(done *sync.WaitGroup) func() {
		return func() { stackUser(24); done.Done() }
	}
	b.Run("pool", func(b *testing.B) {
		p := New(time.Minute, 10)
		defer p.Close()
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Add(1)
			p.Schedule(deep(&wg))
			wg.Wait()
		}
	})
	b.Run("go", func(b *testing.B) {
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Add(1)
			go deep(&wg)()
			wg.Wait()
		}
	})
}

//go:noinline
func stackUser(n int) byte {
	var buf [256]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return stackUser(n-1) + buf[n%len(buf)]
}
