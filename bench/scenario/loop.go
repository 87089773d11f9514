package scenario

import (
	"context"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// LoopConfig shapes a request loop.
type LoopConfig struct {
	// Concurrency lists the closed-loop levels to measure: that many
	// connections, each sending its next request as soon as the last
	// one is answered. If empty, 1, 16 and 64.
	Concurrency []int
	// Duration is the measured window of each level. If zero, 2s.
	Duration time.Duration
	// Warmup runs the load before the window, unmeasured. If zero,
	// 500ms; negative means none.
	Warmup time.Duration
	// Rate is the open-loop rate in requests per second. If zero, half
	// the best closed-loop rate of the run; negative skips the open loop.
	Rate float64
	// Workers is the open loop's connections: requests due while all of
	// them are busy wait (and their wait counts in their latency). If
	// zero, 128.
	Workers int
	// MaxRequests bounds the requests of one level. If zero, 1,000,000.
	MaxRequests int64
	// TurnsPerSession is how many query turns a connection runs on one
	// session before it starts a new one, which bounds the history each
	// turn carries. If zero, 10; negative keeps one session per
	// connection for the whole run.
	TurnsPerSession int
}

func (c LoopConfig) withDefaults() LoopConfig {
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 16, 64}
	}
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 500 * time.Millisecond
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Workers <= 0 {
		c.Workers = 128
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 1_000_000
	}
	if c.TurnsPerSession == 0 {
		c.TurnsPerSession = 10
	}
	return c
}

// opFunc sends one request on a connection and checks its answer. It
// returns the time from the request's write to the answer's first event
// for streamed answers (0 otherwise), and an error for a failed request;
// the driver then redials.
type opFunc func(c *Conn, deadline time.Time) (time.Duration, error)

// requestTimeout bounds one request of a loop.
const requestTimeout = 30 * time.Second

// loopSpec is one run of the driver.
type loopSpec struct {
	name string
	// workers is the closed loop's concurrency, or the open loop's pool.
	workers int
	// rate, if positive, makes the loop open: request i is due at
	// start + i/rate whatever happened to the others, and its latency
	// counts from then (no coordinated omission).
	rate     float64
	warmup   time.Duration
	duration time.Duration
	maxOps   int64
	// ops returns worker i's operation (its own session, its own
	// prebuilt request), after any setup it needs.
	ops []opFunc
	// atEdge, if set, runs at the measured window's start (start true)
	// and at its end, next to the CPU readings: for figures of the window
	// that the loop does not read itself.
	atEdge func(start bool)
}

// loopStats is what a run of the driver measured.
type loopStats struct {
	count     int64 // requests answered correctly within the window
	window    time.Duration
	latency   report.Summary
	first     report.Summary // streamed answers: time to first event
	errors    map[string]int64
	serverCPU time.Duration // -1 when it could not be read
	clientCPU time.Duration
	missed    int64 // open loop: requests never sent before the deadline
}

// step turns stats into a report step; the server CPU per request is
// named perOp.
func (s loopStats) step(name string, level float64, perOp string) report.Step {
	st := report.Step{
		Name: name, Level: level, Count: s.count, Seconds: s.window.Seconds(),
		Rate:    report.Rate(s.count, s.window),
		Latency: []report.Latency{{Name: "request", Summary: s.latency}},
		Errors:  s.errors,
	}
	if s.first.Count > 0 {
		st.Latency = append(st.Latency, report.Latency{Name: "ttfe", Summary: s.first})
	}
	if s.serverCPU >= 0 && s.count > 0 {
		st.Values = append(st.Values, report.Value{Name: perOp, Value: float64(s.serverCPU.Microseconds()) / float64(s.count), Unit: "µs"})
		st.Values = append(st.Values, report.Value{Name: "server_cpu", Value: 100 * s.serverCPU.Seconds() / s.window.Seconds(), Unit: "% of a core"})
	}
	st.Values = append(st.Values, report.Value{Name: "bench_cpu", Value: 100 * s.clientCPU.Seconds() / s.window.Seconds(), Unit: "% of a core"})
	if s.missed > 0 {
		if st.Errors == nil {
			st.Errors = map[string]int64{}
		}
		st.Errors["not_sent_in_time"] += s.missed
	}
	return st
}

// errCounter counts errors by class.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errCounter) add(class string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[class]++
	e.mu.Unlock()
}

func (e *errCounter) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	return maps.Clone(e.m)
}

// runLoop drives spec against t: warm-up, then the measured window, with
// the server's and the bench's CPU read at the window's edges. Every
// worker stops at the window's end (plus, in the open loop, a grace for
// requests already due) or after maxOps requests, whichever is first.
func runLoop(ctx context.Context, t *target, spec loopSpec, prog Progress) loopStats {
	start := time.Now()
	winStart := start.Add(spec.warmup)
	winEnd := winStart.Add(spec.duration)
	// An open loop's requests due inside the window are still sent and
	// waited for a while after it.
	hardEnd := winEnd
	if spec.rate > 0 {
		hardEnd = winEnd.Add(5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(ctx, hardEnd.Add(requestTimeout))
	defer cancel()

	var (
		lat     report.Recorder
		first   report.Recorder
		errs    errCounter
		count   atomic.Int64
		issued  atomic.Int64
		missed  atomic.Int64
		tickets atomic.Int64
	)
	total := spec.maxOps
	if spec.rate > 0 {
		total = min(total, int64(math.Ceil(spec.rate*(spec.warmup+spec.duration).Seconds())))
	}
	prog.Begin(spec.name, int64((spec.warmup+spec.duration)/time.Millisecond))
	done := make(chan struct{})
	var progWG sync.WaitGroup
	progWG.Add(1)
	go func() {
		defer progWG.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				prog.Add(int64(now.Sub(last) / time.Millisecond))
				last = now
			}
		}
	}()

	// The window's CPU readings, taken on time by their own goroutine:
	// at the window's start, and at its end or when every worker has
	// stopped, whichever is first.
	workersDone := make(chan struct{})
	var cpu0, cpu1, self0, self1 time.Duration
	var winStop time.Time
	cpuErr := false
	var cpuWG sync.WaitGroup
	cpuWG.Add(1)
	go func() {
		defer cpuWG.Done()
		read := func() (time.Duration, time.Duration) {
			c, err := t.serverCPU(ctx)
			if err != nil {
				cpuErr = true
			}
			return c, selfCPU()
		}
		select {
		case <-time.After(time.Until(winStart)):
		case <-workersDone:
			winStop = time.Now()
			return
		}
		cpu0, self0 = read()
		if spec.atEdge != nil {
			spec.atEdge(true)
		}
		select {
		case <-time.After(time.Until(winEnd)):
		case <-workersDone:
		}
		winStop = time.Now()
		cpu1, self1 = read()
		if spec.atEdge != nil {
			spec.atEdge(false)
		}
	}()

	var wg sync.WaitGroup
	for _, op := range spec.ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *Conn
			defer func() {
				if c != nil {
					_ = c.Close()
				}
			}()
			for {
				var due time.Time
				if spec.rate > 0 {
					n := tickets.Add(1) - 1
					if n >= total {
						return
					}
					due = start.Add(time.Duration(float64(n) / spec.rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
					if time.Now().After(hardEnd) {
						if !due.Before(winStart) && due.Before(winEnd) {
							missed.Add(1)
						}
						continue
					}
				} else {
					if !time.Now().Before(winEnd) || issued.Add(1) > total {
						return
					}
				}
				if ctx.Err() != nil {
					return
				}
				if c == nil || c.Closed() {
					var err error
					if c, err = t.cl.Dial(ctx); err != nil {
						errs.add(Classify(err))
						c = nil
						// Back off a little so a refusing server is
						// not spun against.
						select {
						case <-time.After(10 * time.Millisecond):
						case <-ctx.Done():
							return
						}
						continue
					}
				}
				sent := time.Now()
				if spec.rate <= 0 {
					due = sent
				}
				ttfe, err := op(c, sent.Add(requestTimeout))
				end := time.Now()
				inWindow := !end.Before(winStart) && !end.After(winEnd)
				if spec.rate > 0 {
					inWindow = !due.Before(winStart) && due.Before(winEnd)
				}
				if err != nil {
					errs.add(Classify(err))
					_ = c.Close()
					continue
				}
				if inWindow {
					count.Add(1)
					lat.Add(end.Sub(due))
					if ttfe > 0 {
						first.Add(sent.Sub(due) + ttfe)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(workersDone)
	cpuWG.Wait()
	close(done)
	progWG.Wait()
	prog.End()

	window := spec.duration
	if spec.rate <= 0 {
		// A closed loop that stopped early (maxOps) measured less.
		window = max(winStop.Sub(winStart), 0)
	}
	st := loopStats{
		count: count.Load(), window: window, latency: lat.Summary(), first: first.Summary(), errors: errs.snapshot(),
		serverCPU: cpu1 - cpu0, clientCPU: self1 - self0, missed: missed.Load(),
	}
	if cpuErr {
		st.serverCPU = -1
	}
	return st
}
