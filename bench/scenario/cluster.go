package scenario

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/http/apitype"
)

// ClusterConfig shapes the cluster scenario.
type ClusterConfig struct {
	// Nodes is the largest cluster measured: throughput is measured with
	// 1, 2, … Nodes nodes, each joining the one before. If zero, 3.
	Nodes int
	// Sessions is how many sessions carry the load, one connection
	// each, spread round-robin over the nodes. If zero, 12.
	Sessions int
	// Duration is the measured window of each throughput step. If zero,
	// 2s.
	Duration time.Duration
	// Warmup runs the load before each window, unmeasured. If zero,
	// 500ms; negative means none.
	Warmup time.Duration
	// Settle is how long the load keeps running after a joining node
	// listens. If zero, 2s.
	Settle time.Duration
	// Samples is how many streams are opened on a node other than their
	// session's owner, and as many on the owner. If zero, 20.
	Samples int
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	if c.Sessions <= 0 {
		c.Sessions = 12
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
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.Samples <= 0 {
		c.Samples = 20
	}
	return c
}

// clusterRun is one run of the cluster scenario: an etcd, a database,
// and the node processes on them.
type clusterRun struct {
	h     *Harness
	cfg   ClusterConfig
	etcd  string // host:port of etcd's client listener
	store string
	env   map[string]string
	nodes []*target
	key   string
}

// runCluster measures the cluster mode: nodes of one embedded etcd and
// one PostgreSQL database, the load spread over them.
func (s *Suite) runCluster(ctx context.Context) report.Result {
	cfg := s.Config.Cluster.withDefaults()
	h := s.Harness
	res := report.Result{Scenario: Cluster, Status: report.StatusOK, Params: map[string]string{
		"nodes": strconv.Itoa(cfg.Nodes), "sessions": strconv.Itoa(cfg.Sessions),
		"duration": cfg.Duration.String(), "warmup": cfg.Warmup.String(), "settle": cfg.Settle.String(),
		"samples": strconv.Itoa(cfg.Samples), "store": "postgres",
	}}
	switch {
	case !h.Spawned():
		return unavailable(res, "the cluster scenario spawns its nodes: run with -spawn")
	case h.Postgres == "":
		return unavailable(res, "the cluster scenario needs PostgreSQL: give -postgres")
	case len(h.EtcdCmd) == 0:
		return unavailable(res, "the cluster scenario needs the etcd helper: give -etcd (go build -o bin/seshat-etcd ./cmd/seshat-etcd)")
	}
	res.Note = "every node on the same machine: the nodes share its cores"

	run := &clusterRun{h: h, cfg: cfg}
	defer run.close(context.WithoutCancel(ctx))
	if err := run.start(ctx); err != nil {
		return failed(res, err)
	}
	sessions, err := run.newSessions(ctx, cfg.Sessions)
	if err != nil {
		return failed(res, err)
	}

	for n := 1; n <= cfg.Nodes; n++ {
		if n > 1 {
			st, err := run.join(ctx, sessions)
			res.Steps = append(res.Steps, st)
			if err != nil {
				return failed(res, err)
			}
		}
		if cfg.Warmup > 0 {
			run.load(ctx, run.nodes, sessions, cfg.Warmup, nil)
		}
		ls := run.load(ctx, run.nodes, sessions, cfg.Duration, nil)
		res.Steps = append(res.Steps, ls.step(fmt.Sprintf("nodes %d", n), float64(n), run.nodes))
		if ctx.Err() != nil {
			return failed(res, ctx.Err())
		}
	}
	if len(run.nodes) < 2 {
		return res
	}
	st, err := run.crossNode(ctx, sessions)
	res.Steps = append(res.Steps, st)
	if err != nil {
		return failed(res, err)
	}
	st, err = run.failover(ctx, sessions)
	res.Steps = append(res.Steps, st)
	if err != nil {
		return failed(res, err)
	}
	return res
}

// unavailable marks res unavailable, with why.
func unavailable(res report.Result, why string) report.Result {
	res.Status = report.StatusUnavailable
	res.Note = why
	return res
}

// start runs etcd, makes the database and starts the first node, with a
// bench user.
func (r *clusterRun) start(ctx context.Context) error {
	var err error
	if r.etcd, err = r.h.startEtcd(ctx); err != nil {
		return err
	}
	if r.store, err = r.h.newDatabase(ctx, Cluster); err != nil {
		return err
	}
	var secret [24]byte
	_, _ = rand.Read(secret[:])
	r.env = DefaultServerEnv()
	maps.Copy(r.env, r.h.ServerEnv)
	maps.Copy(r.env, map[string]string{
		"SESHAT_STORE":      r.store,
		"SESHAT_CLUSTER":    "etcd://" + r.etcd,
		"SESHAT_JWT_SECRET": hex.EncodeToString(secret[:]),
	})
	if _, ok := r.env["SESHAT_MASTER_KEY"]; !ok {
		var mk [32]byte
		_, _ = rand.Read(mk[:])
		r.env["SESHAT_MASTER_KEY"] = hex.EncodeToString(mk[:])
	}
	n, err := r.startNode(ctx)
	if err != nil {
		return err
	}
	if r.key, err = n.ctl.account(ctx, Cluster); err != nil {
		return err
	}
	n.key = r.key
	return nil
}

// startNode spawns the next node of the cluster.
func (r *clusterRun) startNode(ctx context.Context) (*target, error) {
	i := len(r.nodes) + 1
	name := fmt.Sprintf("cluster-n%d", i)
	dataDir, err := os.MkdirTemp(r.h.WorkDir, name+"-data-")
	if err != nil {
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	env := maps.Clone(r.env)
	env["SESHAT_NODE_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	t := &target{
		name: name, sources: r.h.Sources, dataDir: dataDir, key: r.key,
		argv:    append(slices.Concat(r.h.Pin, r.h.ServerCmd), "-addr", "127.0.0.1:0", "-data-dir", dataDir),
		env:     serverEnviron(env),
		logPath: filepath.Join(r.h.logDir(), "server-"+name+".log"),
		store:   r.store,
	}
	if err := t.spawn(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.nodes = append(r.nodes, t)
	return t, nil
}

// close stops the nodes and etcd and drops the database.
func (r *clusterRun) close(ctx context.Context) {
	for _, n := range r.nodes {
		if err := n.stop(ctx); err != nil {
			r.h.logf("stop %s: %v", n.name, err)
		}
	}
	r.h.stopEtcd()
	for _, db := range r.h.pgDatabases {
		if err := pgExec(ctx, r.h.Postgres, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			r.h.logf("drop bench database %s: %v", db, err)
		}
	}
	r.h.pgDatabases = nil
}

// newSessions starts n sessions with a turn each through the first node.
func (r *clusterRun) newSessions(ctx context.Context, n int) ([]string, error) {
	ids := make([]string, n)
	err := parallel(ctx, n, 8, func(ctx context.Context, i int) error {
		var qr apitype.QueryResponse
		if err := r.nodes[0].ctl.call(ctx, http.MethodPost, "/api/v1/query", apitype.QueryRequest{Model: mockModel, Prompt: prompt}, &qr, http.StatusOK); err != nil {
			return fmt.Errorf("start a session: %w", err)
		}
		ids[i] = qr.SessionID
		return nil
	})
	return ids, err
}

// clusterLoad is what a load run measured.
type clusterLoad struct {
	count, interrupted int64
	window             time.Duration
	latency            report.Summary
	errors             map[string]int64
	cpu                []time.Duration // per node; -1 when unreadable
}

// load runs a closed loop for d: one connection per session, session i
// through node i mod len(nodes), each sending its next turn once the last
// is answered. stop, if not nil, ends the loop early when closed.
func (r *clusterRun) load(ctx context.Context, nodes []*target, sessions []string, d time.Duration, stop <-chan struct{}) clusterLoad {
	var (
		lat         report.Recorder
		errs        errCounter
		count       atomic.Int64
		interrupted atomic.Int64
		wg          sync.WaitGroup
	)
	cpu0 := nodesCPU(nodes)
	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(ctx, end.Add(requestTimeout))
	defer cancel()
	for i, id := range sessions {
		node := nodes[i%len(nodes)]
		req := sessionQuery(node, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *Conn
			defer func() {
				if c != nil {
					_ = c.Close()
				}
			}()
			for time.Now().Before(end) && ctx.Err() == nil {
				if stop != nil {
					select {
					case <-stop:
						return
					default:
					}
				}
				if c == nil || c.Closed() {
					var err error
					if c, err = node.cl.Dial(ctx); err != nil {
						errs.add(Classify(err))
						c = nil
						sleepUntil(ctx, time.Now().Add(10*time.Millisecond))
						continue
					}
				}
				sent := time.Now()
				qr, err := turn(c, req, sent.Add(requestTimeout))
				switch {
				case err != nil:
					errs.add(Classify(err))
					_ = c.Close()
				case qr.StopReason == "interrupted":
					interrupted.Add(1)
				default:
					count.Add(1)
					lat.Add(time.Since(sent))
				}
			}
		}()
	}
	wg.Wait()
	window := time.Since(start)
	cpu1 := nodesCPU(nodes)
	cpu := make([]time.Duration, len(nodes))
	for i := range cpu {
		cpu[i] = -1
		if cpu0[i] >= 0 && cpu1[i] >= 0 {
			cpu[i] = cpu1[i] - cpu0[i]
		}
	}
	return clusterLoad{
		count: count.Load(), interrupted: interrupted.Load(), window: window,
		latency: lat.Summary(), errors: errs.snapshot(), cpu: cpu,
	}
}

// turn sends a prebuilt query; an answer that is not end_turn or
// interrupted is an error.
func turn(c *Conn, req []byte, deadline time.Time) (apitype.QueryResponse, error) {
	qr, err := sendQuery(c, req, deadline)
	if err == nil && qr.StopReason != "end_turn" && qr.StopReason != "interrupted" {
		err = fmt.Errorf("%w: stop_reason %q", errBadAnswer, qr.StopReason)
	}
	return qr, err
}

// nodesCPU reads each node's CPU time from /proc, -1 where it cannot.
func nodesCPU(nodes []*target) []time.Duration {
	out := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		c, err := procCPU(n.pid)
		if err != nil || n.proc == nil {
			c = -1
		}
		out[i] = c
	}
	return out
}

// step is a throughput step: turns/s over every node, and each node's
// CPU per turn of the whole cluster.
func (l clusterLoad) step(name string, level float64, nodes []*target) report.Step {
	st := report.Step{
		Name: name, Level: level, Count: l.count, Seconds: l.window.Seconds(),
		Rate:    report.Rate(l.count, l.window),
		Latency: []report.Latency{{Name: "request", Summary: l.latency}},
		Errors:  l.errors,
	}
	var total time.Duration
	known := true
	for i, c := range l.cpu {
		if c < 0 || l.count == 0 {
			known = false
			continue
		}
		total += c
		st.Values = append(st.Values,
			report.Value{Name: fmt.Sprintf("n%d_cpu_per_turn", i+1), Value: float64(c.Microseconds()) / float64(l.count), Unit: "µs"},
			report.Value{Name: fmt.Sprintf("n%d_cpu", i+1), Value: 100 * c.Seconds() / l.window.Seconds(), Unit: "% of a core"})
	}
	if known && len(nodes) > 0 {
		st.Values = append(st.Values, report.Value{Name: "server_cpu_per_turn", Value: float64(total.Microseconds()) / float64(l.count), Unit: "µs"})
	}
	if l.interrupted > 0 {
		st.Values = append(st.Values, report.Value{Name: "turns_interrupted", Value: float64(l.interrupted), Unit: "turns"})
	}
	return st
}

// join starts the next node while the load runs on the nodes before it,
// keeps the load on for the settle time, then touches every session:
// the sessions the new node claims are the ones that moved.
func (r *clusterRun) join(ctx context.Context, sessions []string) (report.Step, error) {
	before := slices.Clone(r.nodes)
	n := len(before) + 1
	stop := make(chan struct{})
	loaded := make(chan clusterLoad, 1)
	go func() {
		loaded <- r.load(ctx, before, sessions, 10*time.Minute, stop)
	}()
	started := time.Now()
	node, err := r.startNode(ctx)
	listening := time.Since(started)
	if err == nil {
		sleepUntil(ctx, time.Now().Add(r.cfg.Settle))
	}
	close(stop)
	l := <-loaded
	st := report.Step{Name: fmt.Sprintf("join node %d", n), Level: float64(n), Count: l.count, Seconds: l.window.Seconds()}
	if err != nil {
		return st, err
	}
	// Every session once more, so that each is active at its owner.
	for _, id := range sessions {
		if err := r.nodes[0].ctl.call(ctx, http.MethodGet, "/api/v1/sessions/"+id, nil, nil, http.StatusOK); err != nil {
			return st, fmt.Errorf("after node %d joined: %w", n, err)
		}
	}
	claims, err := readClaims(node.logPath)
	if err != nil {
		return st, err
	}
	moved := 0
	for _, id := range sessions {
		if _, ok := claims[id]; ok {
			moved++
		}
	}
	failed := int64(0)
	for _, v := range l.errors {
		failed += v
	}
	st.Values = []report.Value{
		{Name: "sessions", Value: float64(len(sessions)), Unit: "sessions"},
		{Name: "sessions_moved", Value: float64(moved), Unit: "sessions"},
		{Name: "turns_done", Value: float64(l.count), Unit: "turns"},
		{Name: "turns_interrupted", Value: float64(l.interrupted), Unit: "turns"},
		{Name: "turns_failed", Value: float64(failed), Unit: "turns"},
		{Name: "time_to_listen", Value: float64(listening.Milliseconds()), Unit: "ms"},
	}
	if len(l.errors) > 0 {
		r.h.logf("cluster: turns failed while node %d joined: %v", n, l.errors)
	}
	return st, nil
}

// owners returns the node (index) that claimed each session last.
func (r *clusterRun) owners() (map[string]int, error) {
	last := map[string]time.Time{}
	out := map[string]int{}
	for i, n := range r.nodes {
		if n.proc == nil {
			continue
		}
		claims, err := readClaims(n.logPath)
		if err != nil {
			return nil, err
		}
		for id, at := range claims {
			if at.After(last[id]) {
				last[id], out[id] = at, i
			}
		}
	}
	return out, nil
}

// readClaims returns when each session was last claimed by the node that
// logged to path.
func readClaims(path string) (map[string]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]time.Time{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="session claimed"`) {
			continue
		}
		id, at := logField(line, "session_id"), logField(line, "time")
		if id == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			continue
		}
		out[id] = t
	}
	return out, sc.Err()
}

// logField returns the value of key=value in a text log line; values
// with spaces (quoted) are not read whole.
func logField(line, key string) string {
	i := strings.Index(" "+line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+1:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"`)
}

// crossNode opens streamed turns through a node other than the session's
// owner, and as many through the owner, and compares their time to first
// event.
func (r *clusterRun) crossNode(ctx context.Context, sessions []string) (report.Step, error) {
	st := report.Step{Name: "cross-node ttfe", Level: float64(len(r.nodes))}
	owners, err := r.owners()
	if err != nil {
		return st, err
	}
	var across, local report.Recorder
	var lost, dup int64
	errs := errCounter{}
	for i := range r.cfg.Samples {
		id := sessions[i%len(sessions)]
		o, ok := owners[id]
		if !ok {
			errs.add("owner_unknown")
			continue
		}
		other := r.nodes[(o+1+i%(len(r.nodes)-1))%len(r.nodes)]
		for _, via := range []struct {
			t   *target
			rec *report.Recorder
		}{{other, &across}, {r.nodes[o], &local}} {
			check := newStreamCheck(5)
			var times streamTimes
			req := via.t.cl.Build(Request{
				Method: http.MethodPost, Path: "/api/v1/query/stream", Header: [][2]string{bearer(r.key)},
				Body: JSON(apitype.QueryRequest{SessionID: id, Prompt: streamPrompt(3, time.Millisecond)}),
			})
			err := attachOnce(ctx, via.t, req, check, 0, requestTimeout, &times)
			check.finish()
			if err == nil && check.class != "" {
				err = fmt.Errorf("%w: %s", errBadAnswer, check.class)
			}
			if err != nil {
				errs.add(Classify(err))
				continue
			}
			lost, dup = lost+check.lost, dup+check.dup
			via.rec.Add(times.ttfe)
			st.Count++
		}
	}
	st.Latency = []report.Latency{{Name: "ttfe_other_node", Summary: across.Summary()}, {Name: "ttfe_owner", Summary: local.Summary()}}
	st.Values = []report.Value{{Name: "events_lost", Value: float64(lost), Unit: "events"}, {Name: "events_duplicated", Value: float64(dup), Unit: "events"}}
	st.Errors = errs.snapshot()
	return st, nil
}

// failover SIGKILLs the node that owns the most sessions and times, for
// each session it owned, the first turn answered through a survivor.
func (r *clusterRun) failover(ctx context.Context, sessions []string) (report.Step, error) {
	st := report.Step{Name: "failover", Level: float64(len(r.nodes))}
	owners, err := r.owners()
	if err != nil {
		return st, err
	}
	count := make([]int, len(r.nodes))
	for _, id := range sessions {
		if o, ok := owners[id]; ok {
			count[o]++
		}
	}
	victim := 0
	for i := 1; i < len(r.nodes); i++ {
		if count[i] > count[victim] {
			victim = i
		}
	}
	var affected []string
	for _, id := range sessions {
		if o, ok := owners[id]; ok && o == victim {
			affected = append(affected, id)
		}
	}
	if len(affected) == 0 {
		return st, errors.New("failover: no node logged a claim of the bench's sessions")
	}
	var survivors []*target
	for i, n := range r.nodes {
		if i != victim {
			survivors = append(survivors, n)
		}
	}
	dead := r.nodes[victim]
	killed := time.Now()
	_ = dead.proc.kill()
	dead.proc = nil
	dead.ctl.close()

	var (
		rec      report.Recorder
		attempts atomic.Int64
		errs     errCounter
		wg       sync.WaitGroup
	)
	giveUp := killed.Add(2 * time.Minute)
	for i, id := range affected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(giveUp) && ctx.Err() == nil; k++ {
				via := survivors[(i+k)%len(survivors)]
				c, err := via.cl.Dial(ctx)
				if err == nil {
					_, err = turn(c, sessionQuery(via, id), time.Now().Add(5*time.Second))
					_ = c.Close()
				}
				if err == nil {
					rec.Add(time.Since(killed))
					return
				}
				attempts.Add(1)
				sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
			}
			errs.add("not_recovered")
		}()
	}
	wg.Wait()
	st.Count = int64(rec.Len())
	st.Latency = []report.Latency{{Name: "failover", Summary: rec.Summary()}}
	st.Values = []report.Value{
		{Name: "sessions_affected", Value: float64(len(affected)), Unit: "sessions"},
		{Name: "failed_attempts", Value: float64(attempts.Load()), Unit: "requests"},
	}
	st.Errors = errs.snapshot()
	return st, nil
}

// freeLoopbackPort returns a loopback port that was free a moment ago.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd runs the harness's etcd helper on loopback ports and returns
// its client address once it says it is ready.
func (h *Harness) startEtcd(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp(h.WorkDir, "etcd-")
	if err != nil {
		return "", err
	}
	client, err := freeLoopbackPort()
	if err != nil {
		return "", err
	}
	peer, err := freeLoopbackPort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(client)
	argv := append(slices.Clone(h.EtcdCmd), "-dir", dir, "-client", addr, "-peer", "127.0.0.1:"+strconv.Itoa(peer))
	logPath := filepath.Join(h.logDir(), "etcd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = serverEnviron(nil)
	cmd.Stderr = logf
	setPdeathsig(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return "", err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", fmt.Errorf("start %s: %w", argv[0], err)
	}
	waited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !once && strings.HasPrefix(sc.Text(), "ready ") {
				once = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		logf.Close()
		close(waited)
	}()
	h.etcd, h.etcdDone = cmd, waited
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return addr, nil
	case <-waited:
		return "", fmt.Errorf("etcd exited before it was ready; see %s:\n%s", logPath, tail(logPath, 15))
	case <-timer.C:
		err = fmt.Errorf("etcd was not ready within %s; see %s", startTimeout, logPath)
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.stopEtcd()
	return "", err
}

// stopEtcd stops the etcd helper, if one runs.
func (h *Harness) stopEtcd() {
	if h.etcd == nil {
		return
	}
	_ = h.etcd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.etcdDone:
	case <-time.After(30 * time.Second):
		_ = h.etcd.Process.Kill()
		<-h.etcdDone
	}
	h.etcd = nil
}
