package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/http/apitype"
)

// IdleConfig shapes the idle scenario.
type IdleConfig struct {
	// Sessions is how many sessions are created (each with one turn) and
	// left to passivate. If zero, 400.
	Sessions int
	// IdleAfter is the spawned host's SESHAT_SESSION_IDLE: how long a
	// session stays in memory unused. If zero, 2s. A running host keeps
	// its own setting.
	IdleAfter time.Duration
	// Sample is how many passivated sessions are re-activated, one at a
	// time. If zero, all of them up to 1,000.
	Sample int
}

func (c IdleConfig) withDefaults() IdleConfig {
	if c.Sessions <= 0 {
		c.Sessions = 400
	}
	if c.Sessions < 2 {
		c.Sessions = 2
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = 2 * time.Second
	}
	if c.Sample <= 0 {
		c.Sample = min(c.Sessions, 1000)
	}
	c.Sample = min(c.Sample, c.Sessions)
	return c
}

// RestoreConfig shapes the restore scenario.
type RestoreConfig struct {
	// Sessions is how many sessions are stored (each with one turn)
	// before the restart. If zero, 1,000; the project's figure is for
	// 100,000.
	Sessions int
	// Cold is how many stored sessions get a first request after the
	// restart, one at a time, for each of the two kinds of request. If
	// zero, 200.
	Cold int
	// Workers is the concurrency of the seeding. If zero, 64.
	Workers int
	// IdleAfter is the spawned host's SESHAT_SESSION_IDLE: the stored
	// sessions passivate before the restart, as sessions at rest do. If
	// zero, 1s.
	IdleAfter time.Duration
}

func (c RestoreConfig) withDefaults() RestoreConfig {
	if c.Sessions <= 0 {
		c.Sessions = 1000
	}
	if c.Cold <= 0 {
		c.Cold = 200
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = time.Second
	}
	return c
}

// seedTurns runs n turns, each in a new session, with up to workers
// concurrent calls, and returns the sessions' ids.
func seedTurns(ctx context.Context, t *target, n, workers int, prog Progress, desc string) ([]string, error) {
	ids := make([]string, n)
	prog.Begin(desc, int64(n))
	defer prog.End()
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		var qr apitype.QueryResponse
		err := t.ctl.call(ctx, http.MethodPost, "/api/v1/query", apitype.QueryRequest{Model: mockModel, Prompt: prompt}, &qr, http.StatusOK)
		ids[i] = qr.SessionID
		prog.Add(1)
		if err != nil {
			return fmt.Errorf("seed turn: %w", err)
		}
		return nil
	})
	return ids, err
}

// sequential runs ops one after the other on one connection and returns
// their latencies.
func sequential(ctx context.Context, t *target, ops []opFunc) (report.Summary, map[string]int64) {
	var lat report.Recorder
	var errs errCounter
	var c *Conn
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for _, op := range ops {
		if ctx.Err() != nil {
			break
		}
		if c == nil || c.Closed() {
			var err error
			if c, err = t.cl.Dial(ctx); err != nil {
				errs.add(Classify(err))
				c = nil
				continue
			}
		}
		start := time.Now()
		if _, err := op(c, start.Add(requestTimeout)); err != nil {
			errs.add(Classify(err))
			continue
		}
		lat.Add(time.Since(start))
	}
	return lat.Summary(), errs.snapshot()
}

// waitSessions polls the server until it holds at most n session actors
// in memory, or limit has passed, and returns the last reading and
// whether it got there.
func (t *target) waitSessions(ctx context.Context, n float64, limit time.Duration, prog Progress, desc string) (Metrics, bool, error) {
	prog.Begin(desc, 0)
	defer prog.End()
	for start := time.Now(); ; {
		m, err := t.ctl.scrape(ctx)
		if err != nil {
			return nil, false, err
		}
		if m[metricSessions] <= n {
			return m, true, nil
		}
		if time.Since(start) > limit || !sleepUntil(ctx, time.Now().Add(250*time.Millisecond)) {
			return m, false, ctx.Err()
		}
	}
}

// memory reads the server's memory figures.
func memory(m Metrics) []report.Value {
	return []report.Value{
		{Name: "sessions_active", Value: m[metricSessions], Unit: "sessions"},
		{Name: "server_rss", Value: m[metricRSS] / (1 << 20), Unit: "MiB"},
		{Name: "server_heap_live", Value: heapLive(m) / (1 << 20), Unit: "MiB"},
		{Name: "server_goroutines", Value: m[metricGoroutines], Unit: "goroutines"},
	}
}

// perSession is the growth of the memory figures from a to b per session
// of sessions.
func perSession(a, b Metrics, sessions float64, suffix string) []report.Value {
	if sessions == 0 {
		return nil
	}
	return []report.Value{
		{Name: "rss_per_" + suffix, Value: (b[metricRSS] - a[metricRSS]) / sessions / 1024, Unit: "KiB"},
		{Name: "heap_per_" + suffix, Value: (heapLive(b) - heapLive(a)) / sessions / 1024, Unit: "KiB"},
		{Name: "goroutines_per_" + suffix, Value: (b[metricGoroutines] - a[metricGoroutines]) / sessions, Unit: "goroutines"},
	}
}

// runIdle creates sessions in two halves (the memory slope between them
// is the cost of an active idle session), waits for them to passivate
// (what stays is the cost of a passivated one), then re-activates them
// one at a time.
func (s *Suite) runIdle(ctx context.Context) report.Result {
	cfg := s.Config.Idle.withDefaults()
	res := report.Result{Scenario: Idle, Status: report.StatusOK, Params: map[string]string{
		"sessions": strconv.Itoa(cfg.Sessions), "idle_after": cfg.IdleAfter.String(), "sample": strconv.Itoa(cfg.Sample),
	}}
	if !s.Harness.Spawned() {
		res.Params["idle_after"] = "the running host's SESHAT_SESSION_IDLE"
	}
	t, err := s.Harness.startHost(ctx, Idle, map[string]string{"SESHAT_SESSION_IDLE": cfg.IdleAfter.String()})
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()
	prog := s.Harness.progress()

	// Warm the code paths, and let those sessions passivate before the
	// first reading: everything after it is the scenario's.
	before, err := t.ctl.scrape(ctx)
	if err != nil {
		return failed(res, err)
	}
	limit := cfg.IdleAfter*3 + 30*time.Second
	if _, err := seedTurns(ctx, t, 16, 16, prog, "idle: warm up"); err != nil {
		return failed(res, err)
	}
	if _, _, err := t.waitSessions(ctx, before[metricSessions], limit, prog, "idle: let the warm-up sessions passivate"); err != nil {
		return failed(res, err)
	}
	m0, err := t.ctl.scrapeAfterGC(ctx)
	if err != nil {
		return failed(res, err)
	}
	half := cfg.Sessions / 2
	ids1, err := seedTurns(ctx, t, half, 16, prog, fmt.Sprintf("idle: %d sessions", half))
	if err != nil {
		return failed(res, err)
	}
	m1, err := t.ctl.scrapeAfterGC(ctx)
	if err != nil {
		return failed(res, err)
	}
	ids2, err := seedTurns(ctx, t, cfg.Sessions-half, 16, prog, fmt.Sprintf("idle: %d more sessions", cfg.Sessions-half))
	if err != nil {
		return failed(res, err)
	}
	m2, err := t.ctl.scrapeAfterGC(ctx)
	if err != nil {
		return failed(res, err)
	}
	ids := append(ids1, ids2...)
	active := report.Step{Name: fmt.Sprintf("active %d", cfg.Sessions), Level: m2[metricSessions], Count: int64(cfg.Sessions), Values: memory(m2)}
	active.Values = append(active.Values, perSession(m1, m2, m2[metricSessions]-m1[metricSessions], "active_session")...)

	// Wait for the passivation: the actors in memory fall back to what
	// was there before the sessions were made.
	waitStart := time.Now()
	_, _, err = t.waitSessions(ctx, m0[metricSessions], limit, prog, fmt.Sprintf("idle: wait for %d sessions to passivate", cfg.Sessions))
	if err != nil {
		return failed(res, err)
	}
	passivatedAt := time.Now()
	m3, err := t.ctl.scrapeAfterGC(ctx)
	if err != nil {
		return failed(res, err)
	}
	passivated := report.Step{Name: "passivated", Level: m3[metricSessions], Count: int64(cfg.Sessions), Values: memory(m3)}
	passivated.Values = append(passivated.Values, perSession(m0, m3, float64(cfg.Sessions), "passivated_session")...)
	passivated.Values = append(passivated.Values, report.Value{Name: "time_to_passivate", Value: passivatedAt.Sub(waitStart).Seconds(), Unit: "s"})
	if m3[metricSessions] > m0[metricSessions] {
		res.Note = fmt.Sprintf("%.0f sessions were still in memory after %s", m3[metricSessions]-m0[metricSessions], limit)
	}

	// Re-activate a sample one at a time, then read the same sessions
	// again, now in memory, for comparison.
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	sample := ids[:cfg.Sample]
	ops := make([]opFunc, len(sample))
	for i, id := range sample {
		ops[i] = getSessionOp(t, id)
	}
	mr, _ := t.ctl.scrape(ctx)
	prog.Begin(fmt.Sprintf("idle: re-activate %d", len(ops)), 0)
	cold, coldErrs := sequential(ctx, t, ops)
	warm, warmErrs := sequential(ctx, t, ops)
	prog.End()
	after, _ := t.ctl.scrape(ctx)
	react := report.Step{
		Name: "re-activate (GET session)", Count: cold.Count,
		Latency: []report.Latency{{Name: "cold", Summary: cold}, {Name: "in memory", Summary: warm}},
		Errors:  mergeErrors(coldErrs, warmErrs),
		Values:  []report.Value{{Name: "activations", Value: after[metricActivations] - mr[metricActivations], Unit: "sessions"}},
	}
	idle := report.Step{Name: "before", Level: m0[metricSessions], Values: memory(m0)}
	res.Steps = []report.Step{idle, active, passivated, react}
	return res
}

// runRestore stores sessions, restarts the server on the same data and
// measures the time to listen, the time to a first answer, and first
// requests to cold sessions.
func (s *Suite) runRestore(ctx context.Context) report.Result {
	cfg := s.Config.Restore.withDefaults()
	res := report.Result{Scenario: Restore, Status: report.StatusOK, Params: map[string]string{
		"sessions": strconv.Itoa(cfg.Sessions), "cold": strconv.Itoa(cfg.Cold), "workers": strconv.Itoa(cfg.Workers),
	}}
	if !s.Harness.Spawned() {
		res.Status = report.StatusSkipped
		res.Note = "needs to restart the server: run with -spawn"
		return res
	}
	t, err := s.Harness.startHost(ctx, Restore, map[string]string{"SESHAT_SESSION_IDLE": cfg.IdleAfter.String()})
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()
	prog := s.Harness.progress()

	seedStart := time.Now()
	ids, err := seedTurns(ctx, t, cfg.Sessions, cfg.Workers, prog, fmt.Sprintf("restore: store %d sessions", cfg.Sessions))
	if err != nil {
		return failed(res, err)
	}
	seedTime := time.Since(seedStart)
	seeded := report.Step{Name: fmt.Sprintf("store %d", cfg.Sessions), Count: int64(len(ids)), Seconds: seedTime.Seconds(), Rate: report.Rate(int64(len(ids)), seedTime)}

	// The sessions are at rest before the restart: passivated, their
	// state only on disk.
	limit := cfg.IdleAfter*3 + time.Minute + time.Duration(cfg.Sessions)*time.Millisecond
	m, _, err := t.waitSessions(ctx, 0, limit, prog, fmt.Sprintf("restore: wait for %d sessions to passivate", cfg.Sessions))
	if err != nil {
		return failed(res, err)
	}
	seeded.Values = append(seeded.Values,
		report.Value{Name: "data_dir", Value: float64(dirSize(t.dataDir)) / (1 << 20), Unit: "MiB"},
		report.Value{Name: "sessions_active_at_restart", Value: m[metricSessions], Unit: "sessions"},
		report.Value{Name: "server_rss_before_restart", Value: m[metricRSS] / (1 << 20), Unit: "MiB"},
	)
	if strings.HasPrefix(t.store, "postgres") {
		if n, err := PostgresDatabaseBytes(ctx, t.store); err == nil {
			seeded.Values = append(seeded.Values, report.Value{Name: "database", Value: float64(n) / (1 << 20), Unit: "MiB"})
		}
	}

	res.Steps = []report.Step{seeded}
	prog.Begin("restore: restart", 0)
	stopStart := time.Now()
	p, err := t.restart(ctx)
	prog.End()
	if err != nil {
		return failed(res, fmt.Errorf("%w (after %s)", err, time.Since(stopStart).Round(time.Millisecond)))
	}
	stopped := p.started.Sub(stopStart)
	listen := p.listening.Sub(p.started)
	// The first answer: a health check sent the moment the listening
	// line was read (the connection may wait in the accept backlog).
	c, err := t.cl.Dial(ctx)
	if err != nil {
		return failed(res, err)
	}
	health := t.cl.Build(Request{Method: http.MethodGet, Path: "/health"})
	resp, err := c.Do(health, time.Now().Add(requestTimeout))
	firstAnswer := time.Since(p.started)
	_ = c.Close()
	if err == nil && resp.Status != http.StatusOK {
		err = statusError(resp.Status, resp.Body)
	}
	if err != nil {
		return failed(res, fmt.Errorf("first request after restart: %w", err))
	}
	m, _ = t.ctl.scrape(ctx)
	restart := report.Step{Name: "restart", Count: 1, Values: []report.Value{
		{Name: "time_to_stop", Value: ms(stopped), Unit: "ms"},
		{Name: "time_to_listen", Value: ms(listen), Unit: "ms"},
		{Name: "time_to_first_answer", Value: ms(firstAnswer), Unit: "ms"},
		{Name: "server_rss", Value: m[metricRSS] / (1 << 20), Unit: "MiB"},
	}}

	// First requests to cold sessions, one at a time: reads, then turns
	// on other sessions.
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	n := min(cfg.Cold, len(ids)/2)
	gets := make([]opFunc, n)
	turns := make([]opFunc, n)
	for i := range n {
		gets[i] = getSessionOp(t, ids[i])
		turns[i] = sessionQueryOp(t, ids[n+i])
	}
	prog.Begin(fmt.Sprintf("restore: %d cold sessions", 2*n), 0)
	getLat, getErrs := sequential(ctx, t, gets)
	turnLat, turnErrs := sequential(ctx, t, turns)
	prog.End()
	coldGet := report.Step{Name: "cold GET session", Count: getLat.Count, Latency: []report.Latency{{Name: "request", Summary: getLat}}, Errors: getErrs}
	coldTurn := report.Step{Name: "cold query turn", Count: turnLat.Count, Latency: []report.Latency{{Name: "request", Summary: turnLat}}, Errors: turnErrs}
	res.Steps = []report.Step{seeded, restart, coldGet, coldTurn}
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mergeErrors(ms ...map[string]int64) map[string]int64 {
	var out map[string]int64
	for _, m := range ms {
		for k, v := range m {
			if out == nil {
				out = map[string]int64{}
			}
			out[k] += v
		}
	}
	return out
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
