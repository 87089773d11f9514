package mcpconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/mcpconn"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/persist"
)

func newStore(t *testing.T) (*persist.Store, persist.User) {
	t.Helper()
	st, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true, MasterKey: bytes.Repeat([]byte{5}, persist.MasterKeyBytes)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	u, err := st.CreateUser(t.Context(), persist.User{Email: "a@example.com"}, persist.Workspace{Name: "p"})
	require.NoError(t, err)
	return st, u
}

func newManager(t *testing.T, st *persist.Store, mod func(*mcpconn.Config)) *mcpconn.Manager {
	t.Helper()
	cfg := mcpconn.Config{Store: st, ExtraEnv: map[string]string{"MCPCONN_TEST_SERVER": "stdio"},
		TerminateDuration: 500 * time.Millisecond, CallTimeout: 20 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	m, err := mcpconn.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

func stdioServer(t *testing.T, st *persist.Store, u persist.User, name, approval string) persist.MCPServer {
	t.Helper()
	srv, err := st.CreateMCPServer(t.Context(), persist.MCPServer{ID: "mcp_" + name, Name: name, Transport: "stdio",
		Command: os.Args[0], Args: []string{"-test.run=^$"}, Scope: persist.MCPScopeGlobal, Enabled: true,
		RequireApproval: approval, CreatedBy: u.ID, Trusted: true}, persist.MCPSecrets{Env: map[string]string{"SECRET_FOR_SERVER": "s"}})
	require.NoError(t, err)
	return srv
}

// children counts this process's child processes (zombies included).
func children(t *testing.T) []int {
	t.Helper()
	me := os.Getpid()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

func call(t *testing.T, tl tool.Tool, input string, progress func(string)) (string, error) {
	t.Helper()
	if progress == nil {
		progress = func(string) {}
	}
	return tl.Run(t.Context(), tool.Call{Input: json.RawMessage(input), Progress: progress})
}

func byName(tools []tool.Tool) map[string]tool.Tool {
	out := map[string]tool.Tool{}
	for _, tl := range tools {
		out[tl.Spec().Name] = tl
	}
	return out
}

func TestStdioToolsCallsProgressCancelAndNoProcessLeft(t *testing.T) {
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		// protoactor's dead-letter throttle ends its goroutine one period after
		// the last dead letter; it belongs to the actor system, not the test.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
	before := children(t)
	st, u := newStore(t)
	m := newManager(t, st, func(c *mcpconn.Config) { c.MaxResultBytes = 1000 })
	srv := stdioServer(t, st, u, "local", "writes")

	tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(t, err)
	tl := byName(tools)
	require.Contains(t, tl, "mcp__local__echo")
	require.False(t, tl["mcp__local__echo"].NeedsApproval(), "writes trusts the read-only hint")
	require.True(t, tl["mcp__local__write"].NeedsApproval())
	require.Contains(t, string(tl["mcp__local__echo"].Spec().InputSchema), `"text"`)
	require.Equal(t, "connected", m.Status(srv.ID).State)
	require.NotEmpty(t, m.Status(srv.ID).ProtocolVersion)
	require.Len(t, children(t), len(before)+1, "one process for the connection")

	out, err := call(t, tl["mcp__local__echo"], `{"text":"hi"}`, nil)
	require.NoError(t, err)
	require.Equal(t, "echo: hi", out)

	_, err = call(t, tl["mcp__local__fail"], `{}`, nil)
	var ce *mcpconn.CallError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "it failed", ce.Text)

	out, err = call(t, tl["mcp__local__big"], `{}`, nil)
	require.NoError(t, err)
	require.Contains(t, out, "[truncated: the result had 300000 bytes")
	require.Less(t, len(out), 1200)

	// A slow call reports progress and ends when the turn's context does.
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var progress []string
	done := make(chan error, 1)
	go func() {
		_, err := tl["mcp__local__slow"].Run(ctx, tool.Call{Input: json.RawMessage(`{}`), Progress: func(s string) {
			mu.Lock()
			progress = append(progress, s)
			mu.Unlock()
			cancel()
		}})
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(15 * time.Second):
		t.Fatal("a cancelled MCP call did not return")
	}
	mu.Lock()
	require.Equal(t, []string{"working"}, progress)
	mu.Unlock()

	// Stop (delete or disable) ends the process.
	require.NoError(t, m.Stop(t.Context(), srv.ID))
	require.ElementsMatch(t, before, children(t), "no process left after Stop")

	// The next use starts it again; shutdown ends it.
	_, err = m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Len(t, children(t), len(before)+1)
	require.NoError(t, m.Shutdown(t.Context()))
	require.ElementsMatch(t, before, children(t), "no process left after shutdown")
	_, err = m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.ErrorIs(t, err, agent.ErrClosed)
}

func TestStdioServerRestartReconnects(t *testing.T) {
	st, u := newStore(t)
	m := newManager(t, st, nil)
	srv := stdioServer(t, st, u, "restart", "never")
	tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(t, err)
	pidTool := byName(tools)["mcp__restart__pid"]
	first, err := call(t, pidTool, `{}`, nil)
	require.NoError(t, err)
	pid, err := strconv.Atoi(first)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	var second string
	require.Eventually(t, func() bool {
		second, err = call(t, pidTool, `{}`, nil)
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the connection comes back after the server's process dies")
	require.NotEqual(t, first, second)
}

func TestHTTPServerListChangedSessionGoneAndFence(t *testing.T) {
	h := newHTTPHandler()
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	st, u := newStore(t)
	m := newManager(t, st, nil)
	srv, err := st.CreateMCPServer(t.Context(), persist.MCPServer{ID: "mcp_web", Name: "web", Transport: "streamable_http",
		URL: hs.URL, Scope: persist.MCPScopeWorkspace, WorkspaceID: u.DefaultWorkspaceID, Enabled: true,
		RequireApproval: "always", Trusted: true}, persist.MCPSecrets{Headers: map[string]string{"X-Test": "1"}})
	require.NoError(t, err)

	tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(t, err)
	tl := byName(tools)
	require.True(t, tl["mcp__web__echo"].NeedsApproval(), "always asks, read-only or not")
	out, err := call(t, tl["mcp__web__echo"], `{"text":"over http"}`, nil)
	require.NoError(t, err)
	require.Equal(t, "echo: over http", out)

	// tools/list_changed refreshes the cached list.
	_, err = call(t, tl["mcp__web__add"], `{}`, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
		return err == nil && byName(tools)["mcp__web__added"] != nil
	}, 10*time.Second, 20*time.Millisecond)

	// A cancelled call cancels the request on the server.
	ctx, cancel := context.WithCancel(t.Context())
	ev := h.events()
	done := make(chan error, 1)
	go func() {
		_, err := tl["mcp__web__slow"].Run(ctx, tool.Call{Input: json.RawMessage(`{}`), Progress: func(string) {}})
		done <- err
	}()
	<-ev.started
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Eventually(t, func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.cancelled == 1
	}, 10*time.Second, 10*time.Millisecond, "the server saw the cancellation")

	// The server restarts and forgets the session: the call reconnects.
	h.swap()
	out, err = call(t, tl["mcp__web__echo"], `{"text":"again"}`, nil)
	require.NoError(t, err)
	require.Equal(t, "echo: again", out)

	// A server a workspace admin set may not reach loopback.
	fenced, err := st.CreateMCPServer(t.Context(), persist.MCPServer{ID: "mcp_fenced", Name: "fenced", Transport: "streamable_http",
		URL: hs.URL, Scope: persist.MCPScopeWorkspace, WorkspaceID: u.DefaultWorkspaceID, Enabled: true}, persist.MCPSecrets{})
	require.NoError(t, err)
	_, err = m.Tools(t.Context(), fenced, u.DefaultWorkspaceID)
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "error", m.Status(fenced.ID).State)

	res, err := m.Test(t.Context(), srv)
	require.NoError(t, err)
	require.Equal(t, 7, res.ToolsCount, "the restarted server has not added its tool")
	require.NotEmpty(t, res.ProtocolVersion)
}

type builtinEcho struct{}

func (builtinEcho) Spec() agent.ToolSpec { return agent.ToolSpec{Name: "echo"} }
func (builtinEcho) NeedsApproval() bool  { return false }
func (builtinEcho) ReadOnly() bool       { return true }
func (builtinEcho) Run(_ context.Context, c tool.Call) (string, error) {
	var in struct{ Text string }
	if err := json.Unmarshal(c.Input, &in); err != nil {
		return "", err
	}
	return "echo: " + in.Text, nil
}

func osArgs0() string { return os.Args[0] }

func benchStore(b *testing.B) (*persist.Store, persist.User) {
	st, err := persist.Open(persist.Config{Dir: b.TempDir(), NoSync: true, MasterKey: bytes.Repeat([]byte{5}, persist.MasterKeyBytes)})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	u, err := st.CreateUser(b.Context(), persist.User{Email: "b@example.com"}, persist.Workspace{Name: "p"})
	require.NoError(b, err)
	return st, u
}

func benchManager(b *testing.B, st *persist.Store) *mcpconn.Manager {
	m, err := mcpconn.New(mcpconn.Config{Store: st, ExtraEnv: map[string]string{"MCPCONN_TEST_SERVER": "stdio"}, TerminateDuration: 500 * time.Millisecond})
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

// TestServerEverything talks to the reference server from npm when npx is
// installed and the registry answers; otherwise it skips, saying why.
func TestServerEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the reference server is fetched from npm")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Skip("npx is not installed: skipping @modelcontextprotocol/server-everything")
	}
	st, u := newStore(t)
	m := newManager(t, st, func(c *mcpconn.Config) { c.ConnectTimeout = 3 * time.Minute })
	srv, err := st.CreateMCPServer(t.Context(), persist.MCPServer{ID: "mcp_everything", Name: "everything", Transport: "stdio",
		Command: npx, Args: []string{"-y", "@modelcontextprotocol/server-everything"}, Scope: persist.MCPScopeGlobal,
		Enabled: true, RequireApproval: "writes", Trusted: true}, persist.MCPSecrets{})
	require.NoError(t, err)
	tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	if err != nil {
		t.Skipf("the reference server could not be started (is the npm registry reachable?): %v", err)
	}
	echo := byName(tools)["mcp__everything__echo"]
	require.NotNil(t, echo, "server-everything has an echo tool")
	out, err := call(t, echo, `{"message":"hello"}`, nil)
	require.NoError(t, err)
	require.Contains(t, out, "hello")
	require.NoError(t, m.Shutdown(t.Context()))
}

// gone reports whether process pid has ended: it is no more, or it is a
// zombie its new parent has not reaped yet.
func gone(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

func TestStdioServerIgnoringStdinCloseAndSIGTERMIsKilledWithItsGroup(t *testing.T) {
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
	before := children(t)
	st, u := newStore(t)
	m := newManager(t, st, func(c *mcpconn.Config) {
		c.ExtraEnv = map[string]string{"MCPCONN_TEST_SERVER": "stubborn"}
		c.TerminateDuration = 200 * time.Millisecond
	})
	srv := stdioServer(t, st, u, "stubborn", "never")
	for _, end := range []struct {
		name string
		fn   func() error
	}{
		{"stop", func() error { return m.Stop(t.Context(), srv.ID) }},
		{"shutdown", func() error { return m.Shutdown(t.Context()) }},
	} {
		tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
		require.NoError(t, err, end.name)
		out, err := call(t, byName(tools)["mcp__stubborn__child"], `{}`, nil)
		require.NoError(t, err, end.name)
		grandchild, err := strconv.Atoi(out)
		require.NoError(t, err)
		require.False(t, gone(grandchild), "the server's child runs")
		t.Cleanup(func() {
			if !gone(grandchild) {
				_ = syscall.Kill(grandchild, syscall.SIGKILL) // only when the test failed
			}
		})
		require.Len(t, children(t), len(before)+1, end.name)

		require.NoError(t, end.fn(), end.name)
		require.ElementsMatch(t, before, children(t), "no process left after %s", end.name)
		// The group got SIGKILL before the server was reaped; the child's
		// death is the kernel's to finish.
		require.Eventually(t, func() bool { return gone(grandchild) }, 10*time.Second, 10*time.Millisecond,
			"the server's own child ends with its group after %s", end.name)
	}
}

// logged keeps the messages logged through it.
type logged struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }
func (l *logged) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logged) WithGroup(string) slog.Handler      { return l }

func (l *logged) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// A connection whose stop outlasts the actor system's 10 s stop timeout
// (a server that ignores its stdin closing and SIGTERM, with a grace of
// 5.5 s before each signal) is logged, and Shutdown still returns only
// once its process has been reaped.
func TestShutdownPastTheStopTimeoutLogsAndStillReaps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the 10 s stop timeout")
	}
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
	before := children(t)
	st, u := newStore(t)
	logs := &logged{}
	m := newManager(t, st, func(c *mcpconn.Config) {
		c.ExtraEnv = map[string]string{"MCPCONN_TEST_SERVER": "stubborn"}
		c.TerminateDuration = 5500 * time.Millisecond
		c.Logger = slog.New(logs)
	})
	srv := stdioServer(t, st, u, "slowstop", "never")
	tools, err := m.Tools(t.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(t, err)
	out, err := call(t, byName(tools)["mcp__slowstop__child"], `{}`, nil)
	require.NoError(t, err)
	grandchild, err := strconv.Atoi(out)
	require.NoError(t, err)
	t.Cleanup(func() {
		if !gone(grandchild) {
			_ = syscall.Kill(grandchild, syscall.SIGKILL) // only when the test failed
		}
	})
	require.Len(t, children(t), len(before)+1)

	require.NoError(t, m.Shutdown(context.Background()))
	require.Contains(t, logs.all(), "mcp connections did not stop in time; ending their processes")
	require.ElementsMatch(t, before, children(t), "no process left after shutdown")
	require.Eventually(t, func() bool { return gone(grandchild) }, 10*time.Second, 10*time.Millisecond)
}
