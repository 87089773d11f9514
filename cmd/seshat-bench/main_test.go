package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/bench/report"
)

// TestMain lets the test binary stand in for seshat-bench when the bench
// spawns its baseline server or the mock upstream (os.Executable is the
// test binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "serve-baseline" || os.Args[1] == "serve-upstream") {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tiny are flags that make every scenario as small as it gets.
var tiny = []string{
	"-pin=false", "-progress", "off", "-sources", "4",
	"-concurrency", "1,4", "-duration", "300ms", "-warmup", "100ms", "-workers", "8",
	"-streams", "20", "-steps", "2", "-ramp", "200ms", "-settle", "200ms", "-hold", "200ms", "-delay", "100ms", "-together", "10",
	"-reattach", "5", "-idle-sessions", "20", "-idle-after", "500ms", "-sessions", "50", "-cold", "10",
	"-memory-conversations", "2", "-memory-turns", "12", "-memory-levels", "50", "-memory-samples", "20",
	"-knowledge-files", "3", "-knowledge-queries", "60", "-knowledge-levels", "600", "-knowledge-samples", "10", "-knowledge-kill-files", "6",
}

// buildServer builds the host's binary.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seshat")
	out, err := exec.Command("go", "build", "-o", bin, "../seshat").CombinedOutput()
	require.NoError(t, err, "build the server: %s", out)
	return bin
}

func runBench(t *testing.T, args ...string) (*report.Report, string) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append(append([]string{"-out", out}, tiny...), args...), &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	var rep report.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	for _, f := range []string{"report.txt", "report.svg"} {
		fi, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err)
		require.Positive(t, fi.Size(), f)
	}
	return &rep, stdout.String()
}

// checkClean requires every scenario to have run without an error, lost
// or repeated event; /v1/messages may be missing from the build.
func checkClean(t *testing.T, rep *report.Report) {
	t.Helper()
	for _, res := range rep.Results {
		if res.Scenario == "messages" && res.Status == report.StatusUnavailable {
			continue
		}
		require.Equal(t, report.StatusOK, res.Status, "%s: %s", res.Scenario, res.Note)
		require.NotEmpty(t, res.Steps, res.Scenario)
		for _, st := range res.Steps {
			require.Empty(t, st.Errors, "%s / %s", res.Scenario, st.Name)
			for _, v := range []string{"events_lost", "events_duplicated"} {
				n, _ := st.Val(v)
				require.Zero(t, n, "%s / %s: %s", res.Scenario, st.Name, v)
			}
		}
	}
}

// TestBenchAgainstServer runs the whole suite, tiny, against the real
// server: spawned by the bench, then running on its own (-url).
func TestBenchAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := buildServer(t)

	t.Run("spawn", func(t *testing.T) {
		rep, table := runBench(t, "-spawn", "-server", bin)
		checkClean(t, rep)
		var names []string
		for _, res := range rep.Results {
			names = append(names, res.Scenario)
		}
		require.Equal(t, []string{"baseline", "query", "messages", "streams", "reattach", "idle", "restore", "gateway", "memory", "knowledge"}, names)

		kn, _ := rep.Find("knowledge")
		hybrid, ok := kn.Step("known items hybrid")
		require.True(t, ok)
		recall, _ := hybrid.Val("recall_at_10")
		require.Greater(t, recall, 0.5, "the known-item queries find their chunks")
		for _, kind := range []string{"text", "html", "pdf"} {
			st, ok := kn.Step("ingest " + kind)
			require.True(t, ok, kind)
			failedFiles, _ := st.Val("failed_files")
			require.Zero(t, failedFiles, kind)
			chunks, _ := st.Val("chunks")
			require.Positive(t, chunks, kind)
		}
		killed, ok := kn.Step("kill during ingestion")
		require.True(t, ok)
		left, ok := killed.Val("in_progress_after_restart")
		require.True(t, ok)
		require.Zero(t, left)

		mem, _ := rep.Find("memory")
		script, ok := mem.Step("scripted conversations")
		require.True(t, ok)
		stale, _ := script.Val("stale_hit_rate")
		require.Zero(t, stale, "no superseded fact is recalled")
		dup, _ := script.Val("duplicate_ratio")
		require.LessOrEqual(t, dup, 1.1)

		streams, _ := rep.Find("streams")
		total, ok := streams.Step("ramp total 20")
		require.True(t, ok)
		complete, _ := total.Val("streams_complete")
		require.EqualValues(t, 20, complete)
		_, ok = total.Val("rss_per_stream")
		require.True(t, ok, "a slope between the plateaus")
		query, _ := rep.Find("query")
		require.Positive(t, query.Steps[0].Ratio, "query rates are ratios to the baseline's")
		idle, _ := rep.Find("idle")
		activations, _ := idle.Steps[3].Val("activations")
		require.EqualValues(t, 20, activations, "every sampled session was passivated and re-activated")

		gateway, _ := rep.Find("gateway")
		via, ok := gateway.Step("host closed c=64")
		require.True(t, ok, "the gateway scenario measured calls through the host")
		require.Positive(t, via.Count)
		_, ok = via.Val("upstream_conns_per_1000_calls")
		require.True(t, ok, "connections opened in the measured window")
		opened, ok := via.Val("upstream_conns_opened")
		require.True(t, ok)
		require.Positive(t, opened, "the pool's first connections, in the warm-up")
		_, ok = via.Val("finished_sessions_in_memory")
		require.True(t, ok)
		after, ok := gateway.Step("after the run")
		require.True(t, ok)
		inMemory, _ := after.Val("sessions_in_memory")
		require.Zero(t, inMemory, "one-shot /v1/messages sessions do not stay in memory")

		require.Contains(t, table, "== targets")
		require.Len(t, rep.Targets, 9)
		require.Equal(t, "not pinned", rep.Setup["pinning"])
	})

	t.Run("url", func(t *testing.T) {
		addr := startServer(t, bin)
		rep, _ := runBench(t, "-url", "http://"+addr, "-scenarios", "query,streams,reattach,restore")
		restore, ok := rep.Find("restore")
		require.True(t, ok)
		require.Equal(t, report.StatusSkipped, restore.Status, "a running host cannot be restarted")
		rep.Results = rep.Results[:len(rep.Results)-1]
		checkClean(t, rep)
	})
}

// startServer runs the server binary on a free port and returns its
// address.
func startServer(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "SESHAT_BCRYPT_COST=4", "SESHAT_DEFAULT_MODEL=mock:echo",
		"SESHAT_REGISTER_PER_MINUTE=0", "SESHAT_MAX_CONNS_PER_IP=0")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on ([0-9.:]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case addr := <-addrc:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not log its address")
		return ""
	}
}

func TestFlags(t *testing.T) {
	for _, bad := range [][]string{
		{},
		{"-spawn", "-url", "http://127.0.0.1:1"},
		{"-spawn", "-concurrency", "0"},
		{"-spawn", "-together", "x"},
		{"-spawn", "-progress", "maybe"},
		{"-spawn", "extra"},
		{"-spawn", "-server-env", "NOEQUALS"},
	} {
		_, err := parseFlags(bad, &bytes.Buffer{})
		require.ErrorIs(t, err, errUsage, "%q", bad)
	}
	out := filepath.Join(t.TempDir(), "out")
	err := run(t.Context(), []string{"-url", "http://10.1.2.3:8090", "-progress", "off", "-out", out}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "not a loopback address")
	require.NoDirExists(t, out, "nothing is written before the target is checked")
	err = run(t.Context(), []string{"-spawn", "-scenarios", "nope", "-out", out}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, `unknown scenario "nope"`)

	o, err := parseFlags([]string{"-spawn", "-together", "", "-server-env", "SESHAT_SSE_KEEPALIVE=5s", "-concurrency", "2, 8"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []int{}, o.cfg.Streams.Together, "an empty list runs no batch")
	require.Equal(t, []int{2, 8}, o.cfg.Loop.Concurrency)
	require.Equal(t, "SESHAT_SSE_KEEPALIVE=5s", o.serverEnv.String())
	require.True(t, strings.HasPrefix(o.out, "bench"))
}
