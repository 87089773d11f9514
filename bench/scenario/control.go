package scenario

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seshat-host/seshat/http/apitype"
)

// control makes the setup and observation calls of a scenario (accounts,
// keys, sessions, metrics) with net/http: they are few, and their cost
// is not measured.
type control struct {
	base string // http://host:port
	key  string
	hc   *http.Client
}

func newControl(addr, key string) *control {
	return &control{
		base: "http://" + addr,
		key:  key,
		hc: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		},
	}
}

func (c *control) close() { c.hc.CloseIdleConnections() }

// call sends a JSON request and decodes a JSON answer into out (if not
// nil). A status other than want is a *StatusError.
func (c *control) call(ctx context.Context, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(JSON(in))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return statusError(resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// account registers a new user and creates an API key for it, which
// becomes the control's key. Registration costs a bcrypt hash on the
// server: spawned servers run with a low bcrypt cost.
func (c *control) account(ctx context.Context, label string) (string, error) {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	email := fmt.Sprintf("bench-%s-%s@example.com", label, hex.EncodeToString(suffix[:]))
	var reg apitype.AuthResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/auth/register",
		apitype.RegisterRequest{Email: email, Password: "bench-password-" + hex.EncodeToString(suffix[:]), Name: "bench"}, &reg, http.StatusCreated); err != nil {
		return "", fmt.Errorf("register a bench user: %w", err)
	}
	c.key = reg.Token
	var key apitype.APIKey
	if err := c.call(ctx, http.MethodPost, "/api/v1/users/me/api-keys", apitype.CreateKeyRequest{Name: "seshat-bench"}, &key, http.StatusCreated); err != nil {
		return "", fmt.Errorf("create an API key: %w", err)
	}
	c.key = key.Key
	return key.Key, nil
}

// health waits for GET /health to answer 200, until ctx is done.
func (c *control) health(ctx context.Context) error {
	for {
		err := c.call(ctx, http.MethodGet, "/health", nil, nil, http.StatusOK)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not healthy: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Metrics holds the figures the bench reads from GET /metrics, summed
// over their label sets. Missing series read as 0.
type Metrics map[string]float64

// Names of the server series the bench reads.
const (
	metricRSS         = "process_resident_memory_bytes"
	metricCPU         = "process_cpu_seconds_total"
	metricGoroutines  = "go_goroutines"
	metricHeapInuse   = "go_memstats_heap_inuse_bytes"
	metricNextGC      = "go_memstats_next_gc_bytes"
	metricGOGC        = "go_gc_gogc_percent"
	metricGCs         = "go_gc_duration_seconds_count"
	metricStreamsOpen = "seshat_streams_open"
	metricSessions    = "seshat_sessions_active"
	metricActivations = "seshat_session_activations_total"
	metricDropped     = "seshat_subscribers_dropped_total"
	metricTurns       = "seshat_turns_running"
)

// wantedMetrics are the series scrape keeps.
var wantedMetrics = map[string]bool{
	metricRSS: true, metricCPU: true, metricGoroutines: true, metricHeapInuse: true, metricNextGC: true, metricGOGC: true, metricGCs: true,
	metricStreamsOpen: true, metricSessions: true, metricActivations: true, metricDropped: true, metricTurns: true,
}

// heapLive estimates the server's live heap at its last garbage
// collection from the heap goal it set then: the goal is the live heap
// grown by GOGC percent. Unlike the heap in use, which holds garbage not
// yet collected, it does not swing with the collector's phase; it lags
// by one cycle. Without the goal it falls back to the heap in use.
func heapLive(m Metrics) float64 {
	if m[metricNextGC] > 0 && m[metricGOGC] > 0 {
		return m[metricNextGC] / (1 + m[metricGOGC]/100)
	}
	return m[metricHeapInuse]
}

// scrapeAfterGC reads GET /metrics after the server has completed two
// garbage collections, so that heapLive reflects the heap as it is now.
// An idle server collects only every two minutes: the scrapes themselves
// allocate (about 200 KB each) and bring the collections on. It gives up
// after 1,000 scrapes and returns the last one.
func (c *control) scrapeAfterGC(ctx context.Context) (Metrics, error) {
	m, err := c.scrape(ctx)
	if err != nil {
		return nil, err
	}
	start := m[metricGCs]
	for range 1000 {
		if m[metricGCs] >= start+2 {
			break
		}
		if m, err = c.scrape(ctx); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// minHeapAfterGC is scrapeAfterGC, then the smallest live-heap estimate
// over the next gcs collections: a collection that ran while a request
// was in flight counts its garbage as live, so the smallest is the
// nearest to what the server keeps.
func (c *control) minHeapAfterGC(ctx context.Context, gcs int) (Metrics, error) {
	m, err := c.scrapeAfterGC(ctx)
	if err != nil {
		return nil, err
	}
	best, last := m, m[metricGCs]
	for range 1000 {
		if m[metricGCs] >= last+float64(gcs) {
			break
		}
		next, err := c.scrape(ctx)
		if err != nil {
			return nil, err
		}
		if heapLive(next) < heapLive(best) {
			best = next
		}
		m = next
	}
	return best, nil
}

// scrape reads GET /metrics.
func (c *control) scrape(ctx context.Context) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, statusError(resp.StatusCode, b)
	}
	return ParseMetrics(resp.Body, wantedMetrics)
}

// ParseMetrics reads the Prometheus text format and returns the value of
// each series named in want (all series if want is nil), summed over its
// label sets.
func ParseMetrics(r io.Reader, want map[string]bool) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ \t"); i >= 0 {
			name = line[:i]
		}
		if want != nil && !want[name] {
			continue
		}
		// The value follows the labels (which may hold spaces inside
		// quotes); an optional timestamp follows the value.
		rest := line[len(name):]
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("metrics: unterminated labels in %q", line)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		m[name] += v
	}
	return m, sc.Err()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user plus system CPU time a process has used, from
// /proc/PID/stat (10 ms resolution).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// selfCPU returns the CPU time this process has used (microsecond
// resolution).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
