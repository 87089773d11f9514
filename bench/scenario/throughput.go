package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// baselineRates are the baseline's closed-loop rates of this run, by
// concurrency.
type baselineRates map[int]float64

// ratio returns rate over the baseline's rate at the same concurrency,
// or 0 when the baseline was not measured there.
func (b baselineRates) ratio(c int, rate float64) float64 {
	if r := b[c]; r > 0 {
		return rate / r
	}
	return 0
}

func loopParams(cfg LoopConfig) map[string]string {
	var cs []string
	for _, c := range cfg.Concurrency {
		cs = append(cs, strconv.Itoa(c))
	}
	return map[string]string{
		"concurrency": strings.Join(cs, ","),
		"duration":    cfg.Duration.String(),
		"warmup":      cfg.Warmup.String(),
		"workers":     strconv.Itoa(cfg.Workers),
	}
}

// runBaseline measures the baseline server with the closed-loop levels of
// cfg and the same request the query scenario sends.
func (s *Suite) runBaseline(ctx context.Context) (report.Result, baselineRates) {
	cfg := s.Config.Loop.withDefaults()
	res := report.Result{Scenario: Baseline, Status: report.StatusOK, Params: loopParams(cfg)}
	res.Note = "bare fasthttp handler, same listener settings, same request as query"
	t, err := s.Harness.startBaseline(ctx)
	if err != nil {
		return failed(res, err), nil
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()
	rates := baselineRates{}
	for _, c := range cfg.Concurrency {
		ops := make([]opFunc, c)
		for i := range ops {
			ops[i] = baselineOp(t)
		}
		st := runLoop(ctx, t, loopSpec{
			name: fmt.Sprintf("baseline c=%d", c), workers: c, warmup: cfg.Warmup, duration: cfg.Duration,
			maxOps: cfg.MaxRequests, ops: ops,
		}, s.Harness.progress())
		step := st.step(fmt.Sprintf("closed c=%d", c), float64(c), "server_cpu_per_request")
		step.Ratio = 1
		rates[c] = step.Rate
		res.Steps = append(res.Steps, step)
		if ctx.Err() != nil {
			return failed(res, ctx.Err()), rates
		}
	}
	return res, rates
}

// runQuery measures non-streaming POST /api/v1/query turns: closed loop
// at each concurrency, each connection on its own session, then an open
// loop at a fixed rate.
func (s *Suite) runQuery(ctx context.Context, base baselineRates) report.Result {
	cfg := s.Config.Loop.withDefaults()
	res := report.Result{Scenario: Query, Status: report.StatusOK, Params: loopParams(cfg)}
	res.Params["turns_per_session"] = strconv.Itoa(cfg.TurnsPerSession)
	t, err := s.Harness.startHost(ctx, Query, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()

	// Each connection has its own sessions, so that no turn finds its
	// session busy.
	op := func(int) opFunc { return queryOp(t, cfg.TurnsPerSession) }
	res.Steps = s.loopLevels(ctx, t, cfg, base, "query", "server_cpu_per_turn", op)
	return res
}

// loopLevels runs the closed-loop levels of cfg, then its open loop.
func (s *Suite) loopLevels(ctx context.Context, t *target, cfg LoopConfig, base baselineRates, name, perOp string, op func(i int) opFunc) []report.Step {
	var steps []report.Step
	best := 0.0
	for _, c := range cfg.Concurrency {
		ops := make([]opFunc, c)
		for i := range ops {
			ops[i] = op(i)
		}
		st := runLoop(ctx, t, loopSpec{
			name: fmt.Sprintf("%s c=%d", name, c), workers: c, warmup: cfg.Warmup, duration: cfg.Duration,
			maxOps: cfg.MaxRequests, ops: ops,
		}, s.Harness.progress())
		step := st.step(fmt.Sprintf("closed c=%d", c), float64(c), perOp)
		step.Ratio = base.ratio(c, step.Rate)
		best = max(best, step.Rate)
		steps = append(steps, step)
		if ctx.Err() != nil {
			return steps
		}
	}
	rate := cfg.Rate
	if rate == 0 {
		rate = best / 2
	}
	if rate <= 0 {
		return steps
	}
	ops := make([]opFunc, cfg.Workers)
	for i := range ops {
		ops[i] = op(i)
	}
	st := runLoop(ctx, t, loopSpec{
		name: fmt.Sprintf("%s open %.0f/s", name, rate), workers: cfg.Workers, rate: rate,
		warmup: cfg.Warmup, duration: cfg.Duration, maxOps: cfg.MaxRequests, ops: ops,
	}, s.Harness.progress())
	step := st.step(fmt.Sprintf("open %.0f/s", rate), 0, perOp)
	step.Values = append(step.Values, report.Value{Name: "offered_rate", Value: rate, Unit: "req/s"})
	return append(steps, step)
}

// runMessages measures POST /v1/messages like query, then streaming
// calls in a closed loop at the highest concurrency. A server without the
// endpoint makes the result unavailable, not failed.
func (s *Suite) runMessages(ctx context.Context, base baselineRates) report.Result {
	cfg := s.Config.Loop.withDefaults()
	res := report.Result{Scenario: Messages, Status: report.StatusOK, Params: loopParams(cfg)}
	res.Params["model"] = mockModel
	t, err := s.Harness.startHost(ctx, Messages, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()

	// Probe once: the endpoint may not be served by this build.
	c, err := t.cl.Dial(ctx)
	if err != nil {
		return failed(res, err)
	}
	_, err = messagesOp(t)(c, time.Now().Add(requestTimeout))
	_ = c.Close()
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		res.Status = report.StatusUnavailable
		res.Note = "POST /v1/messages answered 404: this server build does not serve the Messages API yet; rerun when it does"
		return res
	}
	if err != nil {
		return failed(res, fmt.Errorf("probe POST /v1/messages: %w", err))
	}

	res.Steps = s.loopLevels(ctx, t, cfg, base, "messages", "server_cpu_per_call", func(int) opFunc { return messagesOp(t) })
	if ctx.Err() != nil {
		return res
	}
	top := cfg.Concurrency[len(cfg.Concurrency)-1]
	ops := make([]opFunc, top)
	for i := range ops {
		ops[i] = messagesStreamOp(t)
	}
	st := runLoop(ctx, t, loopSpec{
		name: fmt.Sprintf("messages stream c=%d", top), workers: top, warmup: cfg.Warmup, duration: cfg.Duration,
		maxOps: cfg.MaxRequests, ops: ops,
	}, s.Harness.progress())
	step := st.step(fmt.Sprintf("stream c=%d", top), float64(top), "server_cpu_per_call")
	step.Ratio = base.ratio(top, step.Rate)
	res.Steps = append(res.Steps, step)
	return res
}

// failed marks res failed with err.
func failed(res report.Result, err error) report.Result {
	res.Status = report.StatusFailed
	res.Note = err.Error()
	return res
}

// parallel calls fn for 0 … n-1 on up to workers goroutines and returns
// the first error; after an error, or when ctx is done, the calls not yet
// started are skipped.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || inner.Err() != nil {
					return
				}
				if err := fn(inner, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
