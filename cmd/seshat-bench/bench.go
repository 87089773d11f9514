package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/bench/scenario"
)

// options are the bench's flags.
type options struct {
	spawn      bool
	server     string
	etcd       string
	url        string
	key        string
	pin        bool
	serverCPUs string
	benchCPUs  string
	out        string
	scenarios  string
	sources    int
	timeout    time.Duration
	progress   string
	keep       bool
	cpuProfile string
	postgres   string
	pgNames    []string
	serverEnv  envFlag
	cfg        scenario.Config
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("seshat-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: seshat-bench -spawn [flags]   or   seshat-bench -url http://127.0.0.1:PORT -key sk-… [flags]\n\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.spawn, "spawn", false, "start the server binary (-server) for each scenario, on a temporary data dir")
	fs.StringVar(&o.server, "server", "bin/seshat", "server binary for -spawn (make build)")
	fs.StringVar(&o.etcd, "etcd", "bin/seshat-etcd", "etcd helper binary for the cluster scenario (go build -o bin/seshat-etcd ./cmd/seshat-etcd)")
	fs.StringVar(&o.url, "url", "", "base URL of a running host on this machine, instead of -spawn")
	fs.StringVar(&o.key, "key", "", "API key of the running host (-url); if empty, the bench registers a user")
	fs.BoolVar(&o.pin, "pin", true, "with -spawn, pin the servers and the bench to separate cores with taskset")
	fs.StringVar(&o.serverCPUs, "server-cpus", "0", "taskset CPU list of the servers")
	fs.StringVar(&o.benchCPUs, "bench-cpus", "1", "taskset CPU list of the bench")
	fs.StringVar(&o.out, "out", "bench/results", "directory for report.json, report.txt, report.svg and server logs")
	fs.StringVar(&o.scenarios, "scenarios", "all", "comma-separated scenarios: "+strings.Join(scenario.All, ",")+" (or all), and "+strings.Join(scenario.OnRequest, ",")+" (only when named; needs -postgres and -etcd)")
	fs.IntVar(&o.sources, "sources", 16, "loopback source addresses for load connections (127.0.0.2 and up); 0 for one")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on the whole run")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar: auto (on a terminal), on or off")
	fs.BoolVar(&o.keep, "keep", false, "keep the spawned servers' data dirs")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile to this file")
	fs.StringVar(&o.postgres, "postgres", "", "with -spawn, a postgres:// URL of a server on which the scenarios of -postgres-scenarios run a second time, each host on a database of its own (created and dropped), beside their run on bbolt")
	pgScenarios := fs.String("postgres-scenarios", strings.Join(scenario.PostgresScenarios, ","), "scenarios run on -postgres too: some of "+strings.Join(scenario.PostgresScenarios, ","))
	o.serverEnv = envFlag{}
	fs.Var(o.serverEnv, "server-env", "KEY=VALUE for every spawned host's environment (repeatable), e.g. SESHAT_SSE_KEEPALIVE=5s")

	l := &o.cfg.Loop
	var conc string
	fs.StringVar(&conc, "concurrency", "1,16,64", "closed-loop concurrencies (baseline, query, messages)")
	fs.DurationVar(&l.Duration, "duration", 2*time.Second, "measured window of each level")
	fs.DurationVar(&l.Warmup, "warmup", 500*time.Millisecond, "unmeasured load before each window")
	fs.Float64Var(&l.Rate, "rate", 0, "open-loop rate in req/s; 0 for half the best closed-loop rate, negative to skip")
	fs.IntVar(&l.Workers, "workers", 128, "open-loop connections")
	fs.Int64Var(&l.MaxRequests, "max-requests", 1_000_000, "bound on the requests of one level")
	fs.IntVar(&l.TurnsPerSession, "turns-per-session", 10, "query turns a connection runs on one session before starting a new one (negative: one session throughout)")

	st := &o.cfg.Streams
	var together string
	fs.IntVar(&st.Streams, "streams", 200, "streams held at the top of the ramp (negative: no ramp)")
	fs.IntVar(&st.Steps, "steps", 4, "plateaus of the ramp (memory is read at each)")
	fs.DurationVar(&st.Ramp, "ramp", 2*time.Second, "time to open the ramp's streams")
	fs.DurationVar(&st.Settle, "settle", time.Second, "pause at each plateau before reading the server's figures")
	fs.DurationVar(&st.Hold, "hold", time.Second, "time the streams stay open after the last plateau")
	fs.DurationVar(&st.Delay, "delay", 500*time.Millisecond, "delay between the events of a held stream")
	fs.StringVar(&together, "together", "100,200", "sizes of batches of streams started at the same instant (empty for none)")

	fs.IntVar(&o.cfg.Reattach.Clients, "reattach", 50, "clients that drop and re-attach")
	fs.IntVar(&o.cfg.Idle.Sessions, "idle-sessions", 400, "sessions left to passivate")
	fs.DurationVar(&o.cfg.Idle.IdleAfter, "idle-after", 2*time.Second, "SESHAT_SESSION_IDLE of the idle scenario's server")
	fs.IntVar(&o.cfg.Restore.Sessions, "sessions", 1000, "sessions stored before the restart (100000 for the project's figure)")
	fs.IntVar(&o.cfg.Restore.Cold, "cold", 200, "cold sessions requested after the restart, per kind of request")
	var memLevels string
	fs.IntVar(&o.cfg.Memory.Conversations, "memory-conversations", 10, "scripted conversations of the memory scenario")
	fs.IntVar(&o.cfg.Memory.TurnsPerConversation, "memory-turns", 60, "turns per scripted conversation (the last sixth are questions)")
	fs.StringVar(&memLevels, "memory-levels", "100,10000", "store sizes at which memory adds and searches are timed (100000 for the project's figure)")
	fs.IntVar(&o.cfg.Memory.Samples, "memory-samples", 300, "adds and searches timed at each store size")
	var knowLevels string
	fs.IntVar(&o.cfg.Knowledge.IngestFiles, "knowledge-files", 40, "files of each kind (text, HTML, PDF) whose ingestion is timed")
	fs.IntVar(&o.cfg.Knowledge.Queries, "knowledge-queries", 1000, "known-item queries of the retrieval quality step")
	fs.StringVar(&knowLevels, "knowledge-levels", "10000", "corpus sizes in chunks at which search is timed (10000,100000 for the project's figures)")
	fs.IntVar(&o.cfg.Knowledge.KillFiles, "knowledge-kill-files", 40, "files being ingested when the server is killed")
	cl := &o.cfg.Cluster
	fs.IntVar(&cl.Nodes, "cluster-nodes", 3, "largest cluster of the cluster scenario: throughput with 1 … N nodes")
	fs.IntVar(&cl.Sessions, "cluster-sessions", 12, "sessions (one connection each) that carry the cluster scenario's load")
	fs.DurationVar(&cl.Duration, "cluster-duration", 2*time.Second, "measured window of each cluster throughput step")
	fs.DurationVar(&cl.Settle, "cluster-settle", 2*time.Second, "load kept on after a joining node listens")
	fs.IntVar(&cl.Samples, "cluster-samples", 20, "streams opened on a node other than the session's owner (and as many on the owner)")
	fs.IntVar(&o.cfg.Knowledge.Samples, "knowledge-samples", 200, "searches per ranker timed at each corpus size, and streamed queries with and without a corpus")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if o.spawn == (o.url != "") {
		return nil, fmt.Errorf("%w: give exactly one of -spawn and -url", errUsage)
	}
	var err error
	if l.Concurrency, err = intList(conc); err != nil || len(l.Concurrency) == 0 {
		return nil, fmt.Errorf("%w: -concurrency %q: want a list of positive integers", errUsage, conc)
	}
	if st.Together, err = intList(together); err != nil {
		return nil, fmt.Errorf("%w: -together %q: want a list of positive integers", errUsage, together)
	}
	if st.Together == nil {
		st.Together = []int{}
	}
	if o.cfg.Memory.Levels, err = intList(memLevels); err != nil {
		return nil, fmt.Errorf("%w: -memory-levels %q: want a list of positive integers", errUsage, memLevels)
	}
	if o.cfg.Memory.Levels == nil {
		o.cfg.Memory.Levels = []int{}
	}
	if o.cfg.Knowledge.Levels, err = intList(knowLevels); err != nil {
		return nil, fmt.Errorf("%w: -knowledge-levels %q: want a list of positive integers", errUsage, knowLevels)
	}
	if o.cfg.Knowledge.Levels == nil {
		o.cfg.Knowledge.Levels = []int{}
	}
	if o.postgres != "" {
		if !o.spawn {
			return nil, fmt.Errorf("%w: -postgres needs -spawn", errUsage)
		}
		if !strings.HasPrefix(o.postgres, "postgres://") && !strings.HasPrefix(o.postgres, "postgresql://") {
			return nil, fmt.Errorf("%w: -postgres must be a postgres:// URL", errUsage)
		}
		for _, n := range strings.Split(*pgScenarios, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if !slices.Contains(scenario.PostgresScenarios, n) {
				return nil, fmt.Errorf("%w: -postgres-scenarios: %q is not one of %s", errUsage, n, strings.Join(scenario.PostgresScenarios, ","))
			}
			o.pgNames = append(o.pgNames, n)
		}
	}
	if o.progress != "auto" && o.progress != "on" && o.progress != "off" {
		return nil, fmt.Errorf("%w: -progress must be auto, on or off", errUsage)
	}
	return o, nil
}

// envFlag collects KEY=VALUE flags.
type envFlag map[string]string

func (e envFlag) String() string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		kv = append(kv, k+"="+e[k])
	}
	return strings.Join(kv, " ")
}

func (e envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	e[k] = v
	return nil
}

// intList parses "1,16,64".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bench runs the suite and writes the report.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	names, err := scenario.ParseNames(o.scenarios)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	// Pin before anything else: the bench re-executes itself on its core.
	pinning := "not pinned"
	var pin []string
	if o.spawn && o.pin {
		var err error
		if pin, pinning, err = pinSelf(args, o.serverCPUs, o.benchCPUs, logf); err != nil {
			return err
		}
	}
	soft, hard := raiseFileLimit()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	h := &scenario.Harness{
		URL: o.url, Key: o.key, Sources: o.sources, Pin: pin, LogDir: o.out, Logf: logf,
		ServerEnv: o.serverEnv, Postgres: o.postgres, PostgresScenarios: o.pgNames,
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	h.BaselineCmd = []string{self, "serve-baseline"}
	// The upstream inherits the bench's CPUs: it stays off the host's.
	h.UpstreamCmd = []string{self, "serve-upstream"}
	if o.spawn {
		server, err := filepath.Abs(o.server)
		if err != nil {
			return err
		}
		if _, err := os.Stat(server); err != nil {
			return fmt.Errorf("server binary: %w (build it with make build, or give -server)", err)
		}
		h.ServerCmd = []string{server}
		if etcd, err := filepath.Abs(o.etcd); err == nil {
			if _, err := os.Stat(etcd); err == nil {
				h.EtcdCmd = []string{etcd}
			}
		}
		if h.WorkDir, err = os.MkdirTemp("", "seshat-bench-"); err != nil {
			return err
		}
		if o.keep {
			logf("data dirs kept in %s", h.WorkDir)
		} else {
			defer os.RemoveAll(h.WorkDir)
		}
	}
	if err := h.Check(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if showProgress(o.progress, stderr) {
		h.Progress = newBarProgress(stderr)
	} else {
		h.Progress = newLineProgress(logf)
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	rep := &report.Report{
		Started: time.Now().UTC(),
		Command: "seshat-bench " + strings.Join(args, " "),
		Setup:   setup(o, pinning, soft, hard),
	}
	if o.postgres != "" {
		v, err := scenario.PostgresVersion(ctx, o.postgres)
		if err != nil {
			return fmt.Errorf("-postgres: %w", err)
		}
		rep.Setup["postgres"] = "PostgreSQL " + v + " at " + redactURL(o.postgres) + " (" + strings.Join(o.pgNames, ", ") + " run on it too, a database per host)"
		if slices.Contains(names, scenario.Cluster) {
			rep.Setup["postgres"] += "; the cluster scenario's nodes share one database"
		}
	}
	suite := &scenario.Suite{Harness: h, Config: o.cfg}
	rep.Results = suite.Run(ctx, names)
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Targets = scenario.Targets(rep.Results, len(pin) > 0)

	if err := writeReport(o.out, rep); err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreport: %s (also report.json, report.svg)\n", filepath.Join(o.out, "report.txt"))
	if ctx.Err() != nil {
		return fmt.Errorf("run cut short: %w", context.Cause(ctx))
	}
	return nil
}

// writeReport writes report.json, report.txt and report.svg to dir.
func writeReport(dir string, rep *report.Report) error {
	write := func(name string, fn func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return errors.Join(
		write("report.json", rep.WriteJSON),
		write("report.txt", rep.WriteTable),
		write("report.svg", func(w io.Writer) error { return report.WriteSVG(w, scenario.Charts(rep.Results)) }),
	)
}

// setup describes the machine and the run's settings for the report.
func setup(o *options, pinning string, soft, hard uint64) map[string]string {
	s := map[string]string{
		"pinning":          pinning,
		"go":               runtime.Version(),
		"bench_gomaxprocs": strconv.Itoa(runtime.GOMAXPROCS(0)),
		"nofile_limit":     fmt.Sprintf("%d (hard %d)", soft, hard),
		"load_sources":     "1 (kernel's choice)",
	}
	if o.sources > 0 {
		s["load_sources"] = fmt.Sprintf("127.0.0.2-127.0.0.%d", 1+min(o.sources, 250))
	}
	if o.spawn {
		s["server"] = o.server + " (spawned per scenario, temporary data dir)"
		if len(o.serverEnv) > 0 {
			s["server_env"] = o.serverEnv.String()
		}
	} else {
		s["server"] = o.url
	}
	for name, path := range map[string]string{
		"cpus_online":           "/sys/devices/system/cpu/online",
		"kernel":                "/proc/sys/kernel/osrelease",
		"somaxconn":             "/proc/sys/net/core/somaxconn",
		"tcp_max_syn_backlog":   "/proc/sys/net/ipv4/tcp_max_syn_backlog",
		"ip_local_port_range":   "/proc/sys/net/ipv4/ip_local_port_range",
		"load_average_at_start": "/proc/loadavg",
	} {
		if b, err := os.ReadFile(path); err == nil {
			s[name] = strings.Join(strings.Fields(string(b)), " ")
		}
	}
	return s
}

// redactURL hides a URL's password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
