// Package workers runs short functions on reused goroutines.
//
// A new goroutine starts on a small stack and copies it each time it
// grows, so work that runs often and briefly on goroutines of its own —
// an actor's mailbox run, scheduled each time a message reaches an idle
// actor — pays for the same stack growth over and over. A Pool hands
// each function to a goroutine that ran an earlier one and still has its
// stack, and starts a new goroutine only when none is idle, so Go never
// waits for a worker.
package workers

import (
	"sync"
	"time"
)

// DefaultIdle is how long a worker waits for more work before it exits.
const DefaultIdle = 3 * time.Second

// Pool runs functions on reused goroutines. Its zero value is not usable;
// call New. A Pool satisfies protoactor's actor.Dispatcher.
type Pool struct {
	work       chan func()
	quit       chan struct{}
	idle       time.Duration
	throughput int

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	started int // workers started, for tests
}

// New returns a pool whose idle workers exit after idle (DefaultIdle if
// zero). throughput is what Throughput reports: the messages an actor's
// mailbox handles before it yields.
func New(idle time.Duration, throughput int) *Pool {
	if idle <= 0 {
		idle = DefaultIdle
	}
	return &Pool{work: make(chan func()), quit: make(chan struct{}), idle: idle, throughput: throughput}
}

// Schedule runs fn on an idle worker, or on a new one if none is idle. It
// never blocks. After Close, fn runs on a goroutine of its own.
func (p *Pool) Schedule(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go fn()
		return
	}
	p.wg.Add(1)
	p.started++
	p.mu.Unlock()
	go p.worker(fn)
}

// Throughput implements actor.Dispatcher.
func (p *Pool) Throughput() int { return p.throughput }

func (p *Pool) worker(fn func()) {
	defer p.wg.Done()
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		fn()
		fn = nil // not kept alive while idle
		t.Reset(p.idle)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}

// Close makes idle workers exit and waits for every worker to end, the
// busy ones once their function returns.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.quit)
	p.mu.Unlock()
	p.wg.Wait()
}
