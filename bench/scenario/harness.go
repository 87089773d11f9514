package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mockModel is the model every scenario asks for: the offline mock
// provider, whatever the server's default model is.
const mockModel = "mock:echo"

// Progress shows the progress of the current phase of a scenario. Phases
// never overlap. Add must be safe for concurrent use and cheap: it is
// called from the load goroutines.
type Progress interface {
	// Begin starts a phase of total units; total ≤ 0 means unknown.
	Begin(desc string, total int64)
	// Add adds completed units to the current phase.
	Add(n int64)
	// End ends the current phase.
	End()
}

// nopProgress shows nothing.
type nopProgress struct{}

func (nopProgress) Begin(string, int64) {}
func (nopProgress) Add(int64)           {}
func (nopProgress) End()                {}

// Harness is how scenarios reach the servers they measure: it spawns a
// fresh host per scenario (the bench's -spawn mode), or targets a running
// one (-url), and spawns the baseline server.
type Harness struct {
	// ServerCmd is the host's command: its binary, then any arguments to
	// put before the -addr and -data-dir the bench adds. Empty means the
	// bench targets the running host at URL instead.
	ServerCmd []string
	// BaselineCmd is the baseline server's command; the bench appends
	// -addr. It must log "listening on ADDR" as the host does. Empty means
	// no baseline.
	BaselineCmd []string
	// Pin, if not empty, prefixes every server command (taskset -c 0),
	// so that servers run on their own core.
	Pin []string
	// UpstreamCmd is the mock Anthropic upstream's command (the gateway
	// scenario); the bench appends -addr and -deltas. Empty means no
	// gateway scenario.
	UpstreamCmd []string
	// UpstreamPin prefixes the upstream's command (taskset -c 1): the
	// upstream stays off the host's core.
	UpstreamPin []string
	// WorkDir holds the spawned hosts' data directories. Required with
	// ServerCmd.
	WorkDir string
	// LogDir keeps the spawned servers' logs. If empty, WorkDir.
	LogDir string
	// ServerEnv adds environment variables for every spawned host, over
	// the bench's defaults (see DefaultServerEnv).
	ServerEnv map[string]string
	// URL is the running host's base URL when ServerCmd is empty. Its
	// host must be a loopback address: the bench sends load nowhere else.
	URL string
	// Key is an API key of the running host. If empty, the bench
	// registers a user of its own.
	Key string
	// Sources is how many loopback source addresses load connections
	// rotate over (127.0.0.2 and up); 0 leaves the choice to the kernel.
	Sources int
	// Progress shows progress. If nil, nothing is shown.
	Progress Progress
	// Logf reports what the bench is doing. If nil, nothing is logged.
	Logf func(format string, args ...any)
	// Postgres, if set, is the URL of a PostgreSQL server the spawned
	// hosts of PostgresScenarios run on a second time, each on a database
	// of its own (created, then dropped), beside their run on bbolt.
	Postgres string
	// PostgresScenarios names the scenarios run on Postgres too (some of
	// the package's PostgresScenarios).
	PostgresScenarios []string
	// EtcdCmd is the etcd helper's command (cmd/seshat-etcd) the cluster
	// scenario runs its nodes on; the bench appends -dir, -client and
	// -peer. Empty means no cluster scenario.
	EtcdCmd []string

	pgOn        bool
	pgDatabases []string
	etcd        *exec.Cmd
	etcdDone    chan struct{}
}

// DefaultServerEnv is the environment of a spawned host besides PATH and
// HOME: the offline mock model, a low bcrypt cost and no cap on
// registrations (registration is setup, not load), per-user caps on
// running turns and open streams raised so that one bench user can hold
// every stream (the connection cap too: the host caps streams at three
// quarters of it, and a user's at a sixteenth of that), and no cap on
// connections per client address, since the load comes from a few
// loopback addresses.
func DefaultServerEnv() map[string]string {
	return map[string]string{
		"SESHAT_DEFAULT_MODEL":        mockModel,
		"SESHAT_BCRYPT_COST":          "4",
		"SESHAT_REGISTER_PER_MINUTE":  "0",
		"SESHAT_MAX_TURNS_PER_USER":   "1000000",
		"SESHAT_MAX_STREAMS_PER_USER": "1000000",
		"SESHAT_MAX_STREAMS":          "16000000",
		"SESHAT_MAX_CONNS":            "1000000",
		"SESHAT_MAX_CONNS_PER_IP":     "0",
	}
}

// Spawned reports whether the harness starts the host itself.
func (h *Harness) Spawned() bool { return len(h.ServerCmd) > 0 }

func (h *Harness) progress() Progress {
	if h.Progress == nil {
		return nopProgress{}
	}
	return h.Progress
}

func (h *Harness) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// Check validates the harness: a server command or a loopback URL.
func (h *Harness) Check() error {
	if h.Spawned() {
		if h.WorkDir == "" {
			return errors.New("harness: WorkDir is required to spawn servers")
		}
		return nil
	}
	_, err := loopbackAddr(h.URL)
	return err
}

// loopbackAddr returns host:port of a base URL whose host is, or
// resolves only to, loopback addresses.
func loopbackAddr(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("target URL %q: want http://HOST:PORT", base)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("target URL %q: only http is supported", base)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("target URL %q: resolve %s: %v", base, host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return "", fmt.Errorf("target URL %q: %s is not a loopback address; the bench sends load only to this machine", base, ip)
		}
	}
	// Prefer IPv4: source address rotation is for 127.0.0.0/8.
	ip := ips[0]
	for _, cand := range ips {
		if cand.To4() != nil {
			ip = cand
			break
		}
	}
	a, _ := netip.AddrFromSlice(ip)
	return net.JoinHostPort(a.Unmap().String(), port), nil
}

// target is a server a scenario measures.
type target struct {
	name    string
	addr    string
	key     string
	sources int      // the harness's Sources
	pid     int      // 0 when unknown (a running host)
	proc    *process // nil when the bench did not start it
	argv    []string
	env     []string
	logPath string
	dataDir string
	// store is the host's SESHAT_STORE when it runs on PostgreSQL.
	store string
	ctl   *control
	cl    *Client
}

// startHost returns a host for a scenario: a fresh spawned process with
// its own data dir and extra environment env, with a bench user and key;
// or the running host.
func (h *Harness) startHost(ctx context.Context, name string, env map[string]string) (*target, error) {
	if !h.Spawned() {
		addr, err := loopbackAddr(h.URL)
		if err != nil {
			return nil, err
		}
		t := &target{name: name, addr: addr, key: h.Key, sources: h.Sources}
		t.ctl = newControl(addr, h.Key)
		if err := t.ctl.health(ctxTimeout(ctx, 10*time.Second)); err != nil {
			return nil, err
		}
		if t.key == "" {
			if t.key, err = t.ctl.account(ctx, name); err != nil {
				return nil, err
			}
		}
		t.cl, err = NewClient(addr, h.Sources)
		return t, err
	}

	dataDir, err := os.MkdirTemp(h.WorkDir, name+"-data-")
	if err != nil {
		return nil, err
	}
	all := DefaultServerEnv()
	maps.Copy(all, h.ServerEnv)
	maps.Copy(all, env)
	if h.pgOn {
		if all["SESHAT_STORE"], err = h.newDatabase(ctx, name); err != nil {
			return nil, err
		}
		name += "-postgres" // its log beside the bbolt run's
	}
	t := &target{
		name:    name,
		sources: h.Sources,
		dataDir: dataDir,
		argv:    append(slices.Concat(h.Pin, h.ServerCmd), "-addr", "127.0.0.1:0", "-data-dir", dataDir),
		env:     serverEnviron(all),
		logPath: filepath.Join(h.logDir(), "server-"+name+".log"),
		store:   all["SESHAT_STORE"],
	}
	if err := t.spawn(ctx); err != nil {
		return nil, err
	}
	if t.key, err = t.ctl.account(ctx, name); err != nil {
		_ = t.stop(context.WithoutCancel(ctx))
		return nil, err
	}
	t.ctl.key = t.key
	return t, nil
}

func (h *Harness) logDir() string {
	if h.LogDir != "" {
		return h.LogDir
	}
	return h.WorkDir
}

// startBaseline spawns the baseline server.
func (h *Harness) startBaseline(ctx context.Context) (*target, error) {
	if len(h.BaselineCmd) == 0 {
		return nil, errors.New("no baseline command")
	}
	t := &target{
		name:    "baseline",
		sources: h.Sources,
		argv:    append(slices.Concat(h.Pin, h.BaselineCmd), "-addr", "127.0.0.1:0"),
		env:     serverEnviron(nil),
		logPath: filepath.Join(h.logDir(), "server-baseline.log"),
	}
	return t, t.spawn(ctx)
}

// spawn starts t's process, on a fresh log, and connects its clients.
func (t *target) spawn(ctx context.Context) error {
	if err := os.Truncate(t.logPath, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	p, err := startProcess(ctx, t.argv, t.env, t.logPath)
	if err != nil {
		return err
	}
	t.proc, t.addr, t.pid = p, p.addr, p.cmd.Process.Pid
	t.ctl = newControl(t.addr, t.key)
	if err := t.ctl.health(ctxTimeout(ctx, 10*time.Second)); err != nil {
		_ = t.stop(context.WithoutCancel(ctx))
		return err
	}
	t.cl, err = NewClient(t.addr, t.sources)
	return err
}

// stop ends a spawned server gracefully and waits for it; it does nothing
// for a running host.
func (t *target) stop(ctx context.Context) error {
	if t.ctl != nil {
		t.ctl.close()
	}
	if t.proc == nil {
		return nil
	}
	err := t.proc.stop(ctx)
	t.proc = nil
	return err
}

// restart stops a spawned server and starts it again on the same data
// dir (and port-less address), returning the new process.
func (t *target) restart(ctx context.Context) (*process, error) {
	if t.proc == nil {
		return nil, errors.New("restart: the bench did not start this server")
	}
	if err := t.stop(ctx); err != nil {
		return nil, fmt.Errorf("stop for restart: %w", err)
	}
	p, err := startProcess(ctx, t.argv, t.env, t.logPath)
	if err != nil {
		return nil, err
	}
	t.proc, t.addr, t.pid = p, p.addr, p.cmd.Process.Pid
	t.ctl = newControl(t.addr, t.key)
	t.cl, err = NewClient(t.addr, t.sources)
	return p, err
}

// serverCPU returns the server's CPU time: from /proc for a spawned
// server, else from its process_cpu_seconds_total.
func (t *target) serverCPU(ctx context.Context) (time.Duration, error) {
	if t.pid > 0 {
		return procCPU(t.pid)
	}
	m, err := t.ctl.scrape(ctx)
	if err != nil {
		return 0, err
	}
	return time.Duration(m[metricCPU] * float64(time.Second)), nil
}

// serverEnviron is PATH, HOME and TMPDIR from the bench's environment plus
// extra: no provider credentials or other settings leak into a spawned
// server.
func serverEnviron(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func ctxTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	context.AfterFunc(c, cancel)
	return c
}

// process is a server process the bench started.
type process struct {
	cmd *exec.Cmd
	// addr is the address from its "listening on ADDR" line.
	addr string
	// started is when it was started; listening when its "listening on"
	// line was read.
	started, listening time.Time

	waited  chan struct{} // closed when Wait has returned
	waitErr error
	logs    sync.WaitGroup
}

// listeningRE finds the address in the line a server logs once it
// accepts connections.
var listeningRE = regexp.MustCompile(`listening on ([0-9A-Za-z.:\[\]%-]+)`)

// startTimeout bounds how long a server may take to log its listening
// line.
const startTimeout = 2 * time.Minute

// startProcess starts argv, appends its output to logPath (a restart
// continues its log), and returns once it has logged "listening on
// ADDR".
func startProcess(ctx context.Context, argv, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "# %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	setPdeathsig(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdout = logf
	p := &process{cmd: cmd, waited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	addrc := make(chan string, 1)
	p.logs.Add(1)
	go func() {
		defer p.logs.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !found {
				if m := listeningRE.FindStringSubmatch(line); m != nil {
					found = true
					addrc <- m[1]
				}
			}
			fmt.Fprintln(logf, line)
		}
		_, _ = io.Copy(logf, stderr)
	}()
	go func() {
		p.logs.Wait()
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.waited)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case a := <-addrc:
		p.listening = time.Now()
		p.addr = a
		return p, nil
	case <-p.waited:
		return nil, fmt.Errorf("%s exited before listening (%v); see %s:\n%s", argv[0], p.waitErr, logPath, tail(logPath, 15))
	case <-timer.C:
		err = fmt.Errorf("%s did not log its listening line within %s; see %s", argv[0], startTimeout, logPath)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = p.kill()
	return nil, err
}

// stopTimeout bounds a graceful stop; a server still running after it
// is killed, and the stop reported as failed.
const stopTimeout = time.Minute

// stop sends SIGTERM and waits for the process to exit; after ctx is
// done, or stopTimeout, it kills it.
func (p *process) stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.waited:
		return p.waitErr
	case <-ctx.Done():
	case <-timer.C:
	}
	_ = p.kill()
	return fmt.Errorf("server did not stop within %s of SIGTERM and was killed", stopTimeout)
}

func (p *process) kill() error {
	err := p.cmd.Process.Kill()
	<-p.waited
	return err
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
