package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// GatewayConfig shapes the gateway scenario: the host as an Anthropic
// gateway in front of a loopback mock upstream, against that upstream
// called directly.
type GatewayConfig struct {
	// Concurrency is the closed loop's connections. If zero, 64.
	Concurrency int
	// Rates are the open-loop rates at which the added latency is
	// measured. If empty, 200 and 1,000 calls/s.
	Rates []float64
	// StreamConcurrency is the streamed loop's connections. If zero, 32.
	StreamConcurrency int
	// Deltas is the upstream's text deltas per streamed answer. If zero,
	// 32.
	Deltas int
}

func (c GatewayConfig) withDefaults() GatewayConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{200, 1000}
	}
	if c.StreamConcurrency <= 0 {
		c.StreamConcurrency = 32
	}
	if c.Deltas <= 0 {
		c.Deltas = 32
	}
	return c
}

// gatewayModel is the model the host is asked for: its Anthropic
// provider, pointed at the mock upstream.
const gatewayModel = "anthropic:claude-bench"

// upstreamStats is the mock upstream's GET /stats.
type upstreamStats struct {
	Connections int64 `json:"connections"`
	Requests    int64 `json:"requests"`
}

// startUpstream spawns the mock Anthropic upstream.
func (h *Harness) startUpstream(ctx context.Context, deltas int) (*target, error) {
	if len(h.UpstreamCmd) == 0 {
		return nil, errors.New("no upstream command")
	}
	t := &target{
		name:    "upstream",
		sources: h.Sources,
		key:     "sk-bench-upstream",
		argv:    append(slices.Concat(h.UpstreamPin, h.UpstreamCmd), "-addr", "127.0.0.1:0", "-deltas", strconv.Itoa(deltas)),
		env:     serverEnviron(nil),
		logPath: filepath.Join(h.logDir(), "server-upstream.log"),
	}
	return t, t.spawn(ctx)
}

func (t *target) upstreamStats(ctx context.Context) (upstreamStats, error) {
	var s upstreamStats
	err := t.ctl.call(ctxTimeout(ctx, 5*time.Second), "GET", "/stats", nil, &s, 200)
	return s, err
}

// runGateway measures, in one run, calls to the upstream directly and
// through the host: the closed-loop rate and server CPU per call, the
// latency added at fixed rates, streamed calls, the upstream connections
// the host opened, the heap the host keeps per finished one-shot session,
// and the disk's fdatasync time (what a durable turn must wait for).
func (s *Suite) runGateway(ctx context.Context) report.Result {
	cfg := s.Config.Gateway.withDefaults()
	loop := s.Config.Loop.withDefaults()
	res := report.Result{Scenario: Gateway, Status: report.StatusOK, Params: map[string]string{
		"concurrency": strconv.Itoa(cfg.Concurrency), "stream_concurrency": strconv.Itoa(cfg.StreamConcurrency),
		"deltas": strconv.Itoa(cfg.Deltas), "duration": loop.Duration.String(), "model": gatewayModel,
	}}
	if len(s.Harness.UpstreamCmd) == 0 || !s.Harness.Spawned() {
		res.Status = report.StatusUnavailable
		res.Note = "needs -spawn: the bench starts the mock upstream and points a fresh host at it"
		return res
	}
	up, err := s.Harness.startUpstream(ctx, cfg.Deltas)
	if err != nil {
		return failed(res, fmt.Errorf("start upstream: %w", err))
	}
	defer func() { _ = up.stop(context.WithoutCancel(ctx)) }()
	host, err := s.Harness.startHost(ctx, Gateway, map[string]string{
		"ANTHROPIC_API_KEY":    up.key,
		"ANTHROPIC_BASE_URL":   "http://" + up.addr,
		"SESHAT_DEFAULT_MODEL": gatewayModel,
	})
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = host.stop(context.WithoutCancel(ctx)) }()

	if sync, err := fdatasyncTime(host.dataDir, 50); err == nil {
		res.Note = fmt.Sprintf("fdatasync of the data dir's disk: p50 %s, p99 %s", report.FormatDuration(sync.P50), report.FormatDuration(sync.P99))
		res.Steps = append(res.Steps, report.Step{Name: "fdatasync", Count: sync.Count, Latency: []report.Latency{{Name: "fdatasync", Summary: sync}}})
	}

	direct := func(stream bool) func(int) opFunc {
		return func(int) opFunc {
			if stream {
				return messagesStreamOpFor(up, "claude-bench")
			}
			return messagesOpFor(up, "claude-bench")
		}
	}
	via := func(stream bool) func(int) opFunc {
		return func(int) opFunc {
			if stream {
				return messagesStreamOpFor(host, gatewayModel)
			}
			return messagesOpFor(host, gatewayModel)
		}
	}
	runEdges := func(t *target, name string, workers int, rate float64, op func(int) opFunc, atEdge func(bool)) loopStats {
		ops := make([]opFunc, workers)
		for i := range ops {
			ops[i] = op(i)
		}
		return runLoop(ctx, t, loopSpec{
			name: name, workers: workers, rate: rate, warmup: loop.Warmup, duration: loop.Duration,
			maxOps: loop.MaxRequests, ops: ops, atEdge: atEdge,
		}, s.Harness.progress())
	}
	run := func(t *target, name string, workers int, rate float64, op func(int) opFunc) loopStats {
		return runEdges(t, name, workers, rate, op, nil)
	}

	// Closed loop: the most calls each side serves, and what a call
	// costs the host. The upstream's connection count brackets the run.
	c := cfg.Concurrency
	d := run(up, fmt.Sprintf("gateway direct c=%d", c), c, 0, direct(false))
	dStep := d.step(fmt.Sprintf("direct closed c=%d", c), float64(c), "upstream_cpu_per_call")
	dStep.Ratio = 1
	res.Steps = append(res.Steps, dStep)

	// The connections the host opens: over the measured window (the
	// steady state, after the warm-up filled the host's pool) and over
	// the whole run, warm-up included.
	before, err := up.upstreamStats(ctx)
	if err != nil {
		return failed(res, err)
	}
	var win [2]upstreamStats
	var winErr [2]error
	// The finished sessions still in memory as the window ends, while
	// calls still run: sessions in memory less the running turns.
	var atEnd Metrics
	h := runEdges(host, fmt.Sprintf("gateway host c=%d", c), c, 0, via(false), func(start bool) {
		i := 1
		if start {
			i = 0
		}
		win[i], winErr[i] = up.upstreamStats(ctx)
		if !start {
			atEnd, _ = host.ctl.scrape(ctxTimeout(ctx, 5*time.Second))
		}
	})
	after, err := up.upstreamStats(ctx)
	if err != nil {
		return failed(res, err)
	}
	hStep := h.step(fmt.Sprintf("host closed c=%d", c), float64(c), "server_cpu_per_call")
	if dStep.Rate > 0 {
		hStep.Ratio = hStep.Rate / dStep.Rate
	}
	if calls := win[1].Requests - win[0].Requests; calls > 0 && winErr[0] == nil && winErr[1] == nil {
		hStep.Values = append(hStep.Values, report.Value{
			Name: "upstream_conns_per_1000_calls", Value: 1000 * float64(win[1].Connections-win[0].Connections) / float64(calls), Unit: "conns",
		})
		if hStep.Count > 0 {
			// More than one when the host calls the model again after a
			// turn (memory extraction, on by default).
			hStep.Values = append(hStep.Values, report.Value{
				Name: "upstream_calls_per_call", Value: float64(calls) / float64(hStep.Count), Unit: "calls",
			})
		}
	}
	if calls := after.Requests - before.Requests; calls > 0 {
		hStep.Values = append(hStep.Values, report.Value{
			Name: "upstream_conns_per_1000_calls_with_warmup", Value: 1000 * float64(after.Connections-before.Connections) / float64(calls), Unit: "conns",
		}, report.Value{
			Name: "upstream_conns_opened", Value: float64(after.Connections - before.Connections), Unit: "conns",
		})
	}
	if atEnd != nil {
		hStep.Values = append(hStep.Values, report.Value{
			Name: "finished_sessions_in_memory", Value: max(0, atEnd[metricSessions]-atEnd[metricTurns]), Unit: "sessions",
		})
	}
	res.Steps = append(res.Steps, hStep)
	if ctx.Err() != nil {
		return res
	}
	// The host's live heap once warm (its pools and connections grown),
	// against the end of the run: what the one-shot sessions made in
	// between still hold.
	warm, warmErr := host.ctl.minHeapAfterGC(ctxTimeout(ctx, 30*time.Second), 4)

	// Open loop: the latency the host adds at fixed rates.
	for _, rate := range cfg.Rates {
		dr := run(up, fmt.Sprintf("gateway direct %.0f/s", rate), loop.Workers, rate, direct(false))
		hr := run(host, fmt.Sprintf("gateway host %.0f/s", rate), loop.Workers, rate, via(false))
		ds := dr.step(fmt.Sprintf("direct open %.0f/s", rate), 0, "upstream_cpu_per_call")
		hs := hr.step(fmt.Sprintf("host open %.0f/s", rate), 0, "server_cpu_per_call")
		hs.Values = append(hs.Values,
			report.Value{Name: "added_p50", Value: ms(hr.latency.P50 - dr.latency.P50), Unit: "ms"},
			report.Value{Name: "added_p99", Value: ms(hr.latency.P99 - dr.latency.P99), Unit: "ms"},
		)
		res.Steps = append(res.Steps, ds, hs)
		if ctx.Err() != nil {
			return res
		}
	}

	// Streamed calls: rate and time to first event.
	sc := cfg.StreamConcurrency
	ds := run(up, fmt.Sprintf("gateway direct stream c=%d", sc), sc, 0, direct(true)).step(fmt.Sprintf("direct stream c=%d", sc), float64(sc), "upstream_cpu_per_call")
	hs := run(host, fmt.Sprintf("gateway host stream c=%d", sc), sc, 0, via(true)).step(fmt.Sprintf("host stream c=%d", sc), float64(sc), "server_cpu_per_call")
	if ds.Rate > 0 {
		hs.Ratio = hs.Rate / ds.Rate
	}
	res.Steps = append(res.Steps, ds, hs)

	// What the finished one-shot sessions of the run still hold, once
	// their short grace after the turn (about a second) has passed.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		m, err := host.ctl.scrape(ctxTimeout(ctx, 5*time.Second))
		if err != nil || m[metricSessions] == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m, err := host.ctl.minHeapAfterGC(ctxTimeout(ctx, 30*time.Second), 4); err == nil {
		calls := float64(after.Requests - before.Requests)
		st := report.Step{Name: "after the run", Values: []report.Value{
			{Name: "sessions_in_memory", Value: m[metricSessions], Unit: "sessions"},
			{Name: "server_heap_live", Value: heapLive(m) / (1 << 20), Unit: "MiB"},
			{Name: "server_rss", Value: m[metricRSS] / (1 << 20), Unit: "MiB"},
		}}
		if calls > 0 {
			st.Values = append(st.Values, report.Value{Name: "sessions_in_memory_per_call", Value: m[metricSessions] / calls, Unit: "sessions"})
		}
		if n := m[metricActivations] - warm[metricActivations]; warmErr == nil && n > 0 {
			st.Values = append(st.Values,
				report.Value{Name: "sessions_since_warm", Value: n, Unit: "sessions"},
				report.Value{Name: "heap_per_finished_session", Value: (heapLive(m) - heapLive(warm)) / n, Unit: "B"},
			)
		}
		res.Steps = append(res.Steps, st)
	}
	return res
}

// fdatasyncTime measures n appends of 4 KiB, each made durable with
// fdatasync, in a file under dir: the wait a durable commit cannot avoid.
func fdatasyncTime(dir string, n int) (report.Summary, error) {
	f, err := os.CreateTemp(dir, "fdatasync-*")
	if err != nil {
		return report.Summary{}, err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	buf := make([]byte, 4096)
	var rec report.Recorder
	for range n {
		if _, err := f.Write(buf); err != nil {
			return report.Summary{}, err
		}
		start := time.Now()
		if err := fdatasync(f); err != nil {
			return report.Summary{}, err
		}
		rec.Add(time.Since(start))
	}
	return rec.Summary(), nil
}
