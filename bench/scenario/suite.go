package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// Scenario names, in the order a suite runs them.
const (
	Baseline = "baseline"
	Query    = "query"
	Messages = "messages"
	Streams  = "streams"
	Reattach = "reattach"
	Idle     = "idle"
	Restore  = "restore"
	Gateway  = "gateway"
	Memory   = "memory"
	// Knowledge is ingestion, retrieval quality and search latency.
	Knowledge = "knowledge"
	// Cluster is the cluster mode: nodes on one etcd and one PostgreSQL.
	Cluster = "cluster"
)

// All lists every scenario in the order a suite runs them.
var All = []string{Baseline, Query, Messages, Streams, Reattach, Idle, Restore, Gateway, Memory, Knowledge}

// OnRequest lists the scenarios that run only when named: "all" leaves
// them out, since they need more than a server binary (the cluster
// scenario needs PostgreSQL and etcd).
var OnRequest = []string{Cluster}

// Config holds every scenario's settings; zero values take the defaults
// each field documents, which make a short suite.
type Config struct {
	// Loop shapes the baseline, query and messages scenarios.
	Loop     LoopConfig
	Streams  StreamsConfig
	Reattach ReattachConfig
	Idle     IdleConfig
	Restore  RestoreConfig
	Gateway  GatewayConfig
	Memory   MemoryConfig
	// Knowledge shapes the knowledge scenario.
	Knowledge KnowledgeConfig
	// Cluster shapes the cluster scenario.
	Cluster ClusterConfig
}

// Suite runs scenarios against the servers its harness reaches.
type Suite struct {
	Harness *Harness
	Config  Config
}

// ParseNames checks a comma-separated list of scenario names ("all" for
// every one) and returns them in run order. The baseline is added when a
// scenario whose figures are ratios to it is asked for.
func ParseNames(list string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case n == "all":
			for _, a := range All {
				want[a] = true
			}
		case slices.Contains(All, n), slices.Contains(OnRequest, n):
			want[n] = true
		default:
			return nil, fmt.Errorf("unknown scenario %q (want some of %s, or all)", n, strings.Join(slices.Concat(All, OnRequest), ","))
		}
	}
	if want[Query] || want[Messages] {
		want[Baseline] = true
	}
	var out []string
	for _, a := range slices.Concat(All, OnRequest) {
		if want[a] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario named in %q", list)
	}
	return out, nil
}

// Run runs the named scenarios in order (see ParseNames) and returns
// their results. A scenario that fails does not stop the others; a done
// ctx does.
func (s *Suite) Run(ctx context.Context, names []string) []report.Result {
	if s.Harness.Progress == nil {
		s.Harness.Progress = nopProgress{}
	}
	var results []report.Result
	var base baselineRates
	for _, name := range names {
		if ctx.Err() != nil {
			results = append(results, report.Result{Scenario: name, Status: report.StatusSkipped, Note: "run interrupted"})
			continue
		}
		s.Harness.logf("scenario %s", name)
		start := time.Now()
		var res report.Result
		res, base = s.runOne(ctx, name, base)
		s.Harness.logf("scenario %s: %s in %s", name, res.Status, time.Since(start).Round(time.Millisecond))
		results = append(results, res)
		if s.wantPostgres(name) && ctx.Err() == nil {
			s.Harness.logf("scenario %s", name+PostgresSuffix)
			start = time.Now()
			res = s.runOnPostgres(name, func() report.Result { r, _ := s.runOne(ctx, name, base); return r })
			s.Harness.logf("scenario %s: %s in %s", res.Scenario, res.Status, time.Since(start).Round(time.Millisecond))
			results = append(results, res)
		}
	}
	return results
}

// runOne runs scenario name; base is the baseline's rates so far, and the
// returned ones are the baseline's after it.
func (s *Suite) runOne(ctx context.Context, name string, base baselineRates) (res report.Result, _ baselineRates) {
	switch name {
	case Baseline:
		res, base = s.runBaseline(ctx)
	case Query:
		res = s.runQuery(ctx, base)
	case Messages:
		res = s.runMessages(ctx, base)
	case Streams:
		res = s.runStreams(ctx)
	case Reattach:
		res = s.runReattach(ctx)
	case Idle:
		res = s.runIdle(ctx)
	case Restore:
		res = s.runRestore(ctx)
	case Gateway:
		res = s.runGateway(ctx)
	case Memory:
		res = s.runMemory(ctx)
	case Knowledge:
		res = s.runKnowledge(ctx)
	case Cluster:
		res = s.runCluster(ctx)
	}
	return res, base
}

// The project's targets (docs/perf.md, "Load bench").
const (
	targetStreams          = 10_000
	targetRSSPerStreamKiB  = 24
	targetTogether         = 1_000
	targetTogetherP99      = 50 * time.Millisecond
	targetQueryRatio       = 0.5
	targetMessagesRate     = 5_000
	targetRestoreSessions  = 100_000
	targetRestoreListen    = time.Second
	targetColdFirstRequest = 5 * time.Millisecond
	// The gateway's: upstream connections the host opens per 1,000
	// calls at 64 concurrent, and the heap a finished one-shot
	// /v1/messages session still holds.
	targetUpstreamConnsPer1000 = 10
	targetGatewayConcurrency   = 64
	targetHeapPerSessionBytes  = 1024
	// targetHeapSessions is how many sessions the heap figure needs: the
	// live-heap estimate moves by a few MiB between collections, about
	// 1 KiB a session over 2,000 sessions.
	targetHeapSessions = 10_000
)

// Targets compares the results with the project's targets. A target
// whose figure was not measured at the size it names has no verdict.
// pinned says whether the server ran alone on a core.
func Targets(results []report.Result, pinned bool) []report.Target {
	r := &report.Report{Results: results}
	verdict := func(ok bool) *bool { return &ok }
	var out []report.Target

	// Held streams.
	held := report.Target{Name: fmt.Sprintf("≥ %s concurrent open streams, all events, 0 errors", report.FormatCount(targetStreams)), Measured: "not run"}
	perStream := report.Target{Name: fmt.Sprintf("≤ %d KiB server RSS per held stream (slope)", targetRSSPerStreamKiB), Measured: "not run"}
	if res, ok := r.Find(Streams); ok && res.Status == report.StatusOK {
		for _, st := range res.Steps {
			if !strings.HasPrefix(st.Name, "ramp total") {
				continue
			}
			top := 0.0
			for _, p := range res.Steps {
				if strings.HasPrefix(p.Name, "ramp to ") {
					top = max(top, p.Level)
				}
			}
			lost, _ := st.Val("events_lost")
			held.Measured = fmt.Sprintf("%s held (server count), %s events lost, %d errors", report.FormatCount(int64(top)), report.FormatCount(int64(lost)), st.ErrorCount())
			if st.Count >= targetStreams {
				held.Met = verdict(top >= targetStreams && lost == 0 && st.ErrorCount() == 0)
			}
			if v, ok := st.Val("rss_per_stream"); ok {
				from, _ := st.Val("slope_from")
				to, _ := st.Val("slope_to")
				perStream.Measured = fmt.Sprintf("%.1f KiB (slope %s → %s streams)", v, report.FormatCount(int64(from)), report.FormatCount(int64(to)))
				if to >= 1000 {
					perStream.Met = verdict(v <= targetRSSPerStreamKiB)
				}
			}
		}
	}
	out = append(out, held, perStream)

	// Time to first event of streams started together.
	tt := report.Target{Name: fmt.Sprintf("p99 time to first event ≤ %s, %s streams started together", report.FormatDuration(targetTogetherP99), report.FormatCount(targetTogether)), Measured: "not run"}
	if res, ok := r.Find(Streams); ok {
		var best *report.Step
		for i, st := range res.Steps {
			if strings.HasPrefix(st.Name, "together") && (best == nil || st.Level >= best.Level) {
				best = &res.Steps[i]
			}
		}
		if best != nil {
			l, _ := best.Lat("ttfe")
			tt.Measured = fmt.Sprintf("p99 %s with %s together, %d errors", report.FormatDuration(l.P99), report.FormatCount(int64(best.Level)), best.ErrorCount())
			if best.Level >= targetTogether {
				tt.Met = verdict(l.P99 <= targetTogetherP99 && l.Count > 0 && best.ErrorCount() == 0)
			}
		}
	}
	out = append(out, tt)

	// Query throughput against the baseline.
	q := report.Target{Name: fmt.Sprintf("non-streaming /api/v1/query ≥ %.0f%% of baseline req/s", 100*targetQueryRatio), Measured: "not run"}
	qBest, bBest := bestRate(r, Query), bestRate(r, Baseline)
	if qBest > 0 && bBest > 0 {
		q.Measured = fmt.Sprintf("%.0f%% (best %s vs baseline best %s req/s)", 100*qBest/bBest, report.FormatCount(int64(qBest)), report.FormatCount(int64(bBest)))
		q.Met = verdict(qBest/bBest >= targetQueryRatio)
	}
	out = append(out, q)

	// Messages throughput.
	m := report.Target{Name: fmt.Sprintf("/v1/messages non-streaming ≥ %s req/s on one pinned core", report.FormatCount(targetMessagesRate)), Measured: "not run"}
	if res, ok := r.Find(Messages); ok && res.Status != report.StatusOK {
		m.Measured = string(res.Status)
	} else if best := bestRate(r, Messages); best > 0 {
		m.Measured = report.FormatCount(int64(best)) + " req/s"
		if pinned {
			m.Met = verdict(best >= targetMessagesRate)
		} else {
			m.Measured += " (server not pinned)"
		}
	}
	out = append(out, m)

	// Restart.
	listen := report.Target{Name: fmt.Sprintf("restart with %s stored sessions: listening < %s", report.FormatCount(targetRestoreSessions), report.FormatDuration(targetRestoreListen)), Measured: "not run"}
	cold := report.Target{Name: fmt.Sprintf("restart with %s stored sessions: cold first request p99 ≤ %s", report.FormatCount(targetRestoreSessions), report.FormatDuration(targetColdFirstRequest)), Measured: "not run"}
	if res, ok := r.Find(Restore); ok && res.Status == report.StatusOK && len(res.Steps) == 4 {
		stored := res.Steps[0].Count
		full := stored >= targetRestoreSessions
		if v, ok := res.Steps[1].Val("time_to_listen"); ok {
			listen.Measured = fmt.Sprintf("%.0f ms with %s sessions", v, report.FormatCount(int64(stored)))
			if full {
				listen.Met = verdict(time.Duration(v*float64(time.Millisecond)) < targetRestoreListen)
			}
		}
		if l, ok := res.Steps[2].Lat("request"); ok {
			cold.Measured = fmt.Sprintf("GET session p99 %s with %s sessions", report.FormatDuration(l.P99), report.FormatCount(int64(stored)))
			if full {
				cold.Met = verdict(l.Count > 0 && l.P99 <= targetColdFirstRequest)
			}
		}
	} else if ok {
		listen.Measured, cold.Measured = string(res.Status), string(res.Status)
	}
	out = append(out, listen, cold)
	return append(out, gatewayTargets(r)...)
}

// gatewayTargets are the targets of the gateway scenario.
func gatewayTargets(r *report.Report) []report.Target {
	verdict := func(ok bool) *bool { return &ok }
	conns := report.Target{Name: fmt.Sprintf("≤ %d upstream connections per 1,000 calls at %d concurrent (gateway)", targetUpstreamConnsPer1000, targetGatewayConcurrency), Measured: "not run"}
	heap := report.Target{Name: fmt.Sprintf("≤ %d B heap per finished one-shot /v1/messages session (gateway)", targetHeapPerSessionBytes), Measured: "not run"}
	res, ok := r.Find(Gateway)
	if !ok {
		return []report.Target{conns, heap}
	}
	if res.Status != report.StatusOK {
		conns.Measured, heap.Measured = string(res.Status), string(res.Status)
		return []report.Target{conns, heap}
	}
	perSession, grown, lingering := 0.0, false, -1.0
	for _, st := range res.Steps {
		switch {
		case strings.HasPrefix(st.Name, "host closed c="):
			if v, ok := st.Val("finished_sessions_in_memory"); ok {
				lingering = v
			}
			if v, ok := st.Val("upstream_conns_per_1000_calls"); ok {
				conns.Measured = fmt.Sprintf("%.1f (%s calls in the window, c=%.0f)", v, report.FormatCount(st.Count), st.Level)
				if st.Level >= targetGatewayConcurrency {
					conns.Met = verdict(v <= targetUpstreamConnsPer1000)
				}
			}
		case st.Name == "after the run":
			if v, ok := st.Val("heap_per_finished_session"); ok {
				n, _ := st.Val("sessions_since_warm")
				perSession, grown = v, n >= targetHeapSessions
				heap.Measured = fmt.Sprintf("%.0f B (live heap growth over %s sessions)", v, report.FormatCount(int64(n)))
			}
		}
	}
	// Met when the sessions leave nothing behind once gone and are gone
	// as soon as they finish: finished sessions still in memory while
	// the calls run would hold heap in proportion to the call rate.
	if lingering >= 0 {
		heap.Measured += fmt.Sprintf("; %.0f finished sessions in memory at the window's end (c=%d)", lingering, targetGatewayConcurrency)
	}
	switch {
	case lingering > targetGatewayConcurrency:
		// Finished sessions held in proportion to the call rate.
		heap.Met = verdict(false)
	case grown && lingering >= 0:
		heap.Met = verdict(perSession <= targetHeapPerSessionBytes)
	}
	return []report.Target{conns, heap}
}

// bestRate is the highest closed-loop rate of a scenario's
// non-streaming steps.
func bestRate(r *report.Report, scenario string) float64 {
	res, ok := r.Find(scenario)
	if !ok {
		return 0
	}
	best := 0.0
	for _, st := range res.Steps {
		if strings.HasPrefix(st.Name, "closed") {
			best = max(best, st.Rate)
		}
	}
	return best
}

// Charts returns the charts of a run: latency against concurrency, time
// to first event against streams started together, and the server's
// memory and goroutines against held streams.
func Charts(results []report.Result) []report.Chart {
	r := &report.Report{Results: results}
	var charts []report.Chart
	closed := func(name string) []report.Step {
		res, _ := r.Find(name)
		var out []report.Step
		for _, st := range res.Steps {
			if strings.HasPrefix(st.Name, "closed") {
				out = append(out, st)
			}
		}
		return out
	}
	q := report.LatencyChart("POST /api/v1/query: latency vs concurrency (closed loop)", "concurrent connections", closed(Query), "request")
	q.LogX = true
	b := report.LatencyChart("", "", closed(Baseline), "request")
	if len(b.Series) == 3 {
		b.Series[2].Name = "baseline p99"
		q.Series = append(q.Series, b.Series[2])
	}
	charts = append(charts, q)
	mc := report.LatencyChart("POST /v1/messages: latency vs concurrency (closed loop)", "concurrent connections", closed(Messages), "request")
	mc.LogX = true
	charts = append(charts, mc)

	res, _ := r.Find(Streams)
	var together, plateaus []report.Step
	for _, st := range res.Steps {
		switch {
		case strings.HasPrefix(st.Name, "together"):
			together = append(together, st)
		case strings.HasPrefix(st.Name, "ramp to "), st.Name == "before the ramp":
			plateaus = append(plateaus, st)
		}
	}
	charts = append(charts,
		report.LatencyChart("Streams started together: time to first event", "streams started at once", together, "ttfe"),
		report.LatencyChart("Streams ramp: time to first event per step", "streams held (server count)", plateaus, "ttfe"),
		report.Chart{
			Title: "Server memory vs held streams", XLabel: "streams held (server count)", YLabel: "MiB",
			Series: []report.Series{
				report.ValueSeries("RSS", plateaus, "server_rss", 1),
				report.ValueSeries("live heap (est.)", plateaus, "server_heap_live", 1),
			},
		},
		report.Chart{
			Title: "Server goroutines vs held streams", XLabel: "streams held (server count)", YLabel: "goroutines",
			Series: []report.Series{report.ValueSeries("goroutines", plateaus, "server_goroutines", 1)},
		},
	)
	return charts
}
