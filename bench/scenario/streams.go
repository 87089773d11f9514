package scenario

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// StreamsConfig shapes the streams scenario.
type StreamsConfig struct {
	// Streams is how many streams the ramp holds at its top. If zero,
	// 200; negative skips the ramp.
	Streams int
	// Steps is the number of plateaus of the ramp; the server's memory
	// and goroutines are read at each. If zero, 4.
	Steps int
	// Ramp is the time over which each step's streams are opened, spread
	// evenly, summed over the steps. If zero, 2s.
	Ramp time.Duration
	// Settle is the pause at each plateau before the server's figures
	// are read. If zero, 1s.
	Settle time.Duration
	// Hold is how long every stream stays open at least after the last
	// plateau. If zero, 1s.
	Hold time.Duration
	// Delay is the mock's delay between the events of a held stream
	// (`@delay`). If zero, 500ms.
	Delay time.Duration
	// Together lists sizes of batches of streams started at the same
	// instant (connections opened first, then every request written at
	// once), to measure time to first event under a burst. If nil, 100
	// and 200; sizes ≤ 0 are skipped.
	Together []int
	// TogetherTokens and TogetherDelay shape those streams. If zero, 5
	// tokens 20ms apart.
	TogetherTokens int
	TogetherDelay  time.Duration
}

func (c StreamsConfig) withDefaults() StreamsConfig {
	if c.Streams == 0 {
		c.Streams = 200
	}
	if c.Steps <= 0 {
		c.Steps = 4
	}
	if c.Streams > 0 && c.Steps > c.Streams {
		c.Steps = c.Streams
	}
	if c.Ramp <= 0 {
		c.Ramp = 2 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	if c.Hold <= 0 {
		c.Hold = time.Second
	}
	if c.Delay <= 0 {
		c.Delay = 500 * time.Millisecond
	}
	if c.Together == nil {
		c.Together = []int{100, 200}
	}
	if c.TogetherTokens <= 0 {
		c.TogetherTokens = 5
	}
	if c.TogetherDelay <= 0 {
		c.TogetherDelay = 20 * time.Millisecond
	}
	return c
}

// streamAgg gathers the outcomes of many streams.
type streamAgg struct {
	ttfb, ttfe, gaps  report.Recorder
	errs              errCounter
	streams, complete atomic.Int64
	events, lost, dup atomic.Int64
	mu                sync.Mutex
	errMsg            string // a sample error event message
}

// first records a stream's time to first byte and event, as soon as it
// has them: a plateau of the ramp reports its streams' while they are
// still open.
func (a *streamAgg) first(times streamTimes) {
	if times.ttfb > 0 {
		a.ttfb.Add(times.ttfb)
	}
	if times.ttfe > 0 {
		a.ttfe.Add(times.ttfe)
	}
}

// add records one stream's outcome at its end: err is the connection's
// error, if any, which takes precedence over what check found. firstDone
// says whether first was called for it.
func (a *streamAgg) add(check *streamCheck, times streamTimes, err error, firstDone bool) {
	a.streams.Add(1)
	if !firstDone {
		a.first(times)
	}
	a.gaps.AddAll(times.gaps)
	a.events.Add(check.events)
	a.lost.Add(check.lost)
	a.dup.Add(check.dup)
	switch {
	case err != nil:
		a.errs.add(Classify(err))
	case check.class != "":
		a.errs.add(check.class)
		if check.errMsg != "" {
			a.mu.Lock()
			a.errMsg = check.errMsg
			a.mu.Unlock()
		}
	default:
		a.complete.Add(1)
	}
}

// step returns the aggregate as a report step.
func (a *streamAgg) step(name string, level float64, gaps bool) report.Step {
	st := report.Step{
		Name: name, Level: level, Count: a.streams.Load(),
		Latency: []report.Latency{{Name: "ttfb", Summary: a.ttfb.Summary()}, {Name: "ttfe", Summary: a.ttfe.Summary()}},
		Errors:  a.errs.snapshot(),
	}
	if gaps {
		st.Latency = append(st.Latency, report.Latency{Name: "gap", Summary: a.gaps.Summary()})
		st.Values = append(st.Values,
			report.Value{Name: "streams_complete", Value: float64(a.complete.Load()), Unit: "streams"},
			report.Value{Name: "events", Value: float64(a.events.Load()), Unit: "events"},
			report.Value{Name: "events_lost", Value: float64(a.lost.Load()), Unit: "events"},
			report.Value{Name: "events_duplicated", Value: float64(a.dup.Load()), Unit: "events"},
		)
	}
	return st
}

// holdStream writes a prebuilt stream request on c (dialling if c is
// nil), reads the stream to its end and records it in aggs. onFirst is
// called once, at the first event or when the stream fails before one.
// open counts the streams with a 200 response not yet ended.
func holdStream(ctx context.Context, t *target, c *Conn, req []byte, want int64, life time.Duration, onFirst func(), open *atomic.Int64, aggs ...*streamAgg) {
	check := newStreamCheck(want)
	var times streamTimes
	var once sync.Once
	recorded := false
	first := func() {
		once.Do(func() {
			if times.ttfe > 0 {
				for _, a := range aggs {
					a.first(times)
				}
				recorded = true
			}
			if onFirst != nil {
				onFirst()
			}
		})
	}
	err := func() error {
		if c == nil {
			var err error
			if c, err = t.cl.Dial(ctx); err != nil {
				return err
			}
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
		defer stop()
		sent := time.Now()
		if err := c.Write(req, sent.Add(life+time.Minute)); err != nil {
			return err
		}
		resp, firstByte, err := c.ReadStream()
		if err != nil {
			return err
		}
		if resp.StatusCode == 200 {
			open.Add(1)
			defer open.Add(-1)
		}
		return readStream(resp, sent, firstByte, check, 0, &times, first)
	}()
	first()
	// A stream that failed lost the events it never got, too; its error
	// class is the connection's.
	check.finish()
	for _, a := range aggs {
		a.add(check, times, err, recorded)
	}
}

// runStreams holds streams: a ramp to Streams in Steps plateaus, reading
// the server's memory and goroutines at each, then batches started
// together.
func (s *Suite) runStreams(ctx context.Context) report.Result {
	cfg := s.Config.Streams.withDefaults()
	res := report.Result{Scenario: Streams, Status: report.StatusOK, Params: map[string]string{
		"streams": strconv.Itoa(cfg.Streams), "steps": strconv.Itoa(cfg.Steps), "ramp": cfg.Ramp.String(),
		"settle": cfg.Settle.String(), "hold": cfg.Hold.String(), "delay": cfg.Delay.String(),
		"together": fmt.Sprint(cfg.Together),
	}}
	t, err := s.Harness.startHost(ctx, Streams, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()

	if cfg.Streams > 0 {
		steps, note, err := s.ramp(ctx, t, cfg)
		res.Steps = append(res.Steps, steps...)
		res.Note = note
		if err != nil {
			return failed(res, err)
		}
	}
	for _, n := range cfg.Together {
		if n <= 0 || ctx.Err() != nil {
			continue
		}
		res.Steps = append(res.Steps, s.together(ctx, t, cfg, n))
	}
	if ctx.Err() != nil {
		return failed(res, ctx.Err())
	}
	return res
}

// plateauStep reads the server's figures at a plateau.
func plateauStep(ctx context.Context, t *target, name string, benchOpen int64) (report.Step, error) {
	m, err := t.ctl.scrape(ctx)
	if err != nil {
		return report.Step{}, fmt.Errorf("read /metrics: %w", err)
	}
	held := m[metricStreamsOpen]
	return report.Step{
		Name: name, Level: held,
		Values: []report.Value{
			{Name: "streams_open_server", Value: held, Unit: "streams"},
			{Name: "streams_open_bench", Value: float64(benchOpen), Unit: "streams"},
			{Name: "server_rss", Value: m[metricRSS] / (1 << 20), Unit: "MiB"},
			{Name: "server_heap_live", Value: heapLive(m) / (1 << 20), Unit: "MiB"},
			{Name: "server_goroutines", Value: m[metricGoroutines], Unit: "goroutines"},
		},
	}, nil
}

// ramp opens cfg.Streams streams in cfg.Steps plateaus and holds them,
// then waits for every one to end.
func (s *Suite) ramp(ctx context.Context, t *target, cfg StreamsConfig) ([]report.Step, string, error) {
	// Every stream must stay open until the last plateau has been read,
	// and Hold after it: a step's streams get the tokens for the steps
	// still to come. A step is planned to take its share of the ramp, the
	// settle and a reading; a server slower than that shows in the held
	// streams it reports.
	perStep := cfg.Ramp/time.Duration(cfg.Steps) + cfg.Settle + 250*time.Millisecond
	tokensFor := func(k int) int {
		left := time.Duration(cfg.Steps-k)*perStep + cfg.Hold
		return int(math.Ceil(float64(left) / float64(cfg.Delay)))
	}
	interval := cfg.Ramp / time.Duration(cfg.Streams)

	var open atomic.Int64
	total := &streamAgg{}
	var all sync.WaitGroup
	prog := s.Harness.progress()

	idle, err := plateauStep(ctx, t, "before the ramp", 0)
	if err != nil {
		return nil, "", err
	}
	steps := []report.Step{idle}
	plateaus := []report.Step{}
	launched := 0
	var longest time.Duration
	prog.Begin(fmt.Sprintf("streams: ramp to %d", cfg.Streams), int64(cfg.Streams))
	for k := range cfg.Steps {
		n := cfg.Streams / cfg.Steps
		if k < cfg.Streams%cfg.Steps {
			n++
		}
		agg := &streamAgg{}
		var started sync.WaitGroup
		stepLaunched := 0
		tokens := tokensFor(k)
		want := int64(tokens + 2) // session, the tokens, done
		life := time.Duration(tokens) * cfg.Delay
		req := streamRequest(t, tokens, cfg.Delay)
		longest = max(longest, life)
		begin := time.Now()
		for j := range n {
			if !sleepUntil(ctx, begin.Add(time.Duration(j)*interval)) {
				break
			}
			started.Add(1)
			all.Add(1)
			launched++
			stepLaunched++
			go func() {
				defer all.Done()
				holdStream(ctx, t, nil, req, want, life, func() { started.Done(); prog.Add(1) }, &open, agg, total)
			}()
		}
		waitTimeout(&started, 30*time.Second)
		sleepUntil(ctx, time.Now().Add(cfg.Settle))
		if ctx.Err() != nil {
			break
		}
		st, err := plateauStep(ctx, t, fmt.Sprintf("ramp to %d", launched), open.Load())
		if err != nil {
			prog.End()
			// The streams are bounded by their deadlines; wait for them
			// so that none outlives the scenario.
			waitTimeout(&all, longest+2*time.Minute)
			return steps, "", err
		}
		ts := agg.step("", 0, false)
		st.Count, st.Latency, st.Errors = int64(stepLaunched), ts.Latency, ts.Errors
		steps = append(steps, st)
		plateaus = append(plateaus, st)
	}
	prog.End()

	prog.Begin(fmt.Sprintf("streams: hold %d to their end", launched), 0)
	finished := waitTimeout(&all, longest+2*time.Minute)
	prog.End()

	st := total.step(fmt.Sprintf("ramp total %d", launched), 0, true)
	if m, err := t.ctl.scrape(ctx); err == nil {
		st.Values = append(st.Values, report.Value{Name: "subscribers_dropped_server", Value: m[metricDropped], Unit: "streams"})
	}
	note := ""
	if !finished {
		note = "some streams had not ended two minutes after their last event was due"
	}
	if total.errMsg != "" {
		note = "sample error event: " + total.errMsg
	}
	// Marginal cost per held stream: the slope between the first and
	// last plateau (the fixed cost of the first streams, pools and
	// buffers that any load allocates, stays out of it).
	lo, hi := idle, idle
	if len(plateaus) > 0 {
		hi = plateaus[len(plateaus)-1]
	}
	if len(plateaus) > 1 {
		lo = plateaus[0]
	}
	for _, f := range []struct{ value, name, unit string }{
		{"server_rss", "rss_per_stream", "KiB"},
		{"server_heap_live", "heap_per_stream", "KiB"},
		{"server_goroutines", "goroutines_per_stream", "goroutines"},
	} {
		y0, _ := lo.Val(f.value)
		y1, _ := hi.Val(f.value)
		scale := 1.0
		if f.unit == "KiB" {
			scale = 1024 // MiB to KiB
		}
		if slope, ok := report.Slope(lo.Level, y0, hi.Level, y1); ok {
			st.Values = append(st.Values, report.Value{Name: f.name, Value: slope * scale, Unit: f.unit})
		}
	}
	st.Values = append(st.Values,
		report.Value{Name: "slope_from", Value: lo.Level, Unit: "streams"},
		report.Value{Name: "slope_to", Value: hi.Level, Unit: "streams"},
	)
	return append(steps, st), note, nil
}

// together opens n connections, then writes n stream requests at the
// same instant and reads every stream to its end.
func (s *Suite) together(ctx context.Context, t *target, cfg StreamsConfig, n int) report.Step {
	name := fmt.Sprintf("together %d", n)
	agg := &streamAgg{}
	prog := s.Harness.progress()
	conns := make([]*Conn, n)
	want := int64(cfg.TogetherTokens + 2)
	prog.Begin(fmt.Sprintf("streams: connect %d", n), int64(n))
	_ = parallel(ctx, n, 64, func(ctx context.Context, i int) error {
		c, err := t.cl.Dial(ctx)
		if err != nil {
			check := newStreamCheck(want)
			check.finish()
			agg.add(check, streamTimes{}, err, false)
		}
		conns[i] = c
		prog.Add(1)
		return nil
	})
	prog.End()

	req := streamRequest(t, cfg.TogetherTokens, cfg.TogetherDelay)
	life := time.Duration(cfg.TogetherTokens) * cfg.TogetherDelay
	var open atomic.Int64
	var all, ready sync.WaitGroup
	gate := make(chan struct{})
	prog.Begin(fmt.Sprintf("streams: %d together", n), int64(n))
	for _, c := range conns {
		if c == nil {
			continue
		}
		all.Add(1)
		ready.Add(1)
		go func() {
			defer all.Done()
			ready.Done()
			<-gate
			holdStream(ctx, t, c, req, want, life, func() { prog.Add(1) }, &open, agg)
		}()
	}
	ready.Wait()
	close(gate)
	waitTimeout(&all, life+2*time.Minute)
	prog.End()
	return agg.step(name, float64(n), true)
}

// sleepUntil waits until t or until ctx is done, and reports whether ctx
// is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitTimeout waits for wg for at most d and reports whether it ended.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
