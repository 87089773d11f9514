package mcpconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Config configures a Manager. Zero durations take the defaults shown.
type Config struct {
	// Store holds the servers and their sealed env and headers. Required.
	Store *persist.Store
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// AllowPrivate lets servers set by non-admins reach private and local
	// addresses (SESHAT_ALLOW_PRIVATE_UPSTREAMS).
	AllowPrivate bool
	// CallTimeout bounds one tool call (60s); ConnectTimeout one connect
	// and tool listing (30s); IdleTimeout is how long an unused connection
	// lives (10m).
	CallTimeout, ConnectTimeout, IdleTimeout time.Duration
	// MaxResultBytes caps what a call returns to the model (100 KiB).
	MaxResultBytes int
	// TerminateDuration is how long a stdio server gets to exit after its
	// stdin closes before it is signalled (2s).
	TerminateDuration time.Duration
	// WorkDir is the working directory of stdio servers ("" for the
	// host's).
	WorkDir string
	// ExtraEnv is added to every stdio server's environment.
	ExtraEnv map[string]string
}

// Status is what the host knows of a server's connections: the most
// recent connection's state.
type Status struct {
	// State is "connecting", "connected", "error" or "" (never connected,
	// or passivated).
	State           string
	LastError       string
	ProtocolVersion string
	ToolsCount      int
}

// Manager owns the connections to MCP servers.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	sys  *actor.ActorSystem
	sup  *actor.PID
	next atomic.Int64

	mu       sync.Mutex
	status   map[string]Status
	progress map[string]func(string)
	closed   bool

	// procMu guards the live stdio processes. It is held across a
	// process's start and is never held with mu.
	procMu      sync.Mutex
	procs       map[*process]struct{}
	procsClosed bool           // Shutdown began: no process starts
	procWG      sync.WaitGroup // the processes' waiters
}

// supervisorName is the supervisor actor's name; connection actors are
// its children, named serverID@workspaceID.
const supervisorName = "mcp"

// New starts a Manager with its own actor system.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("mcpconn: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 60 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = 100 << 10
	}
	if cfg.TerminateDuration <= 0 {
		cfg.TerminateDuration = 2 * time.Second
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, status: map[string]Status{}, progress: map[string]func(string){},
		procs: map[*process]struct{}{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pid, err := m.sys.Root.SpawnNamed(supervisorProps(m), supervisorName)
	if err != nil {
		return nil, fmt.Errorf("mcpconn: start supervisor: %w", err)
	}
	m.sup = pid
	return m, nil
}

// Shutdown stops every connection (closing sessions, ending processes)
// and returns when they have stopped, or ctx is done, and every stdio
// server's process has been reaped. A process that does not exit when
// its stdin closes gets SIGTERM, then SIGKILL with its process group; a
// connection that does not stop in time is logged and its process ended
// all the same. The processes are ended even when ctx is already done
// (at once then, without the stdio grace).
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.procMu.Lock()
	m.procsClosed = true
	m.procMu.Unlock()

	if ctx.Err() != nil {
		// The caller's grace period is spent, but processes must still
		// end: give the stop its own short bound.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 2*m.cfg.TerminateDuration+time.Second)
		defer cancel()
	}
	var errs []error
	f := m.sys.Root.PoisonFuture(m.sup)
	done := make(chan error, 1)
	go func() { _, err := f.Result(); done <- err }() // the future times out after 10s
	select {
	case err := <-done:
		switch {
		case errors.Is(err, actor.ErrTimeout):
			m.log.Warn("mcp connections did not stop in time; ending their processes", "err", err)
		case err != nil:
			errs = append(errs, err)
		}
	case <-ctx.Done():
		m.log.Warn("mcp connections still stopping at the end of the grace period; ending their processes")
		errs = append(errs, ctx.Err())
	}

	// What the stopped connections reaped is gone already; this ends
	// what a connection that did not stop, or one still connecting, left.
	grace := m.cfg.TerminateDuration
	if ctx.Err() != nil {
		grace = 0
	}
	if err := m.reap(grace, nil); err != nil {
		errs = append(errs, err)
	}
	waited := make(chan struct{})
	go func() {
		m.procWG.Wait()
		close(waited)
	}()
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
		errs = append(errs, errors.New("a stdio server's process was not reaped"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mcpconn: shutdown: %w", err)
	}
	return nil
}

// Stop ends every connection to a server (its processes with them): the
// server was deleted, disabled or changed. The next use reconnects with
// the stored configuration.
func (m *Manager) Stop(ctx context.Context, serverID string) error {
	m.mu.Lock()
	delete(m.status, serverID)
	m.mu.Unlock()
	_, err := m.request(ctx, &stopServer{serverID: serverID}, m.cfg.ConnectTimeout)
	return err
}

// Status returns a server's connection status.
func (m *Manager) Status(serverID string) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status[serverID]
}

func (m *Manager) setStatus(serverID string, fn func(*Status)) {
	m.mu.Lock()
	s := m.status[serverID]
	fn(&s)
	m.status[serverID] = s
	m.mu.Unlock()
}

// request asks the supervisor and waits for the reply, ctx or timeout.
// A reply that arrives after the caller left is handed to late.
func (m *Manager) request(ctx context.Context, msg any, timeout time.Duration) (any, error) {
	return m.requestLate(ctx, msg, timeout, nil)
}

func (m *Manager) requestLate(ctx context.Context, msg any, timeout time.Duration, late func(any)) (any, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, agent.ErrClosed
	}
	f := m.sys.Root.RequestFuture(m.sup, msg, timeout)
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	var left atomic.Bool
	go func() {
		v, err := f.Result()
		if left.Load() && late != nil && err == nil {
			late(v)
		}
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		left.Store(true)
		select {
		case r := <-done: // answered meanwhile: the caller still gets it
			return r.v, r.err
		default:
		}
		return nil, ctx.Err()
	}
}

// Lease is a connection lent for one call.
type lease struct {
	key   string
	pid   *actor.PID
	cs    *mcp.ClientSession
	tools []*mcp.Tool
}

// get leases the connection of (srv, workspaceID), connecting if needed.
func (m *Manager) get(ctx context.Context, srv persist.MCPServer, workspaceID string) (*lease, error) {
	for attempt := 0; ; attempt++ {
		v, err := m.requestLate(ctx, &leaseReq{srv: srv, workspaceID: workspaceID}, m.cfg.ConnectTimeout+time.Second,
			func(v any) {
				if r, ok := v.(*leaseReply); ok && r.err == nil {
					m.sys.Root.Send(r.lease.pid, &release{})
				}
			})
		if errors.Is(err, actor.ErrDeadLetter) && attempt < 2 {
			continue // the connection passivated as the request arrived
		}
		if errors.Is(err, actor.ErrTimeout) {
			return nil, &agent.UpstreamError{Service: "MCP server " + srv.Name, Msg: "did not connect in " + m.cfg.ConnectTimeout.String()}
		}
		if err != nil {
			return nil, err
		}
		r := v.(*leaseReply)
		if r.err != nil {
			return nil, r.err
		}
		return r.lease, nil
	}
}

func (m *Manager) release(l *lease) { m.sys.Root.Send(l.pid, &release{}) }

// ToolInfo describes one tool of a server.
type ToolInfo struct {
	Name        string
	Description string
	InputSchema json.RawMessage
	ReadOnly    bool
}

// ListTools returns the tools of a server (from its cached list),
// connecting as the workspace's connection if needed. The tool filter is
// not applied.
func (m *Manager) ListTools(ctx context.Context, srv persist.MCPServer, workspaceID string) ([]ToolInfo, error) {
	l, err := m.get(ctx, srv, workspaceID)
	if err != nil {
		return nil, err
	}
	defer m.release(l)
	out := make([]ToolInfo, 0, len(l.tools))
	for _, t := range l.tools {
		out = append(out, info(t))
	}
	return out, nil
}

func info(t *mcp.Tool) ToolInfo {
	schema, err := json.Marshal(t.InputSchema)
	if err != nil || string(schema) == "null" {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	ti := ToolInfo{Name: t.Name, Description: t.Description, InputSchema: schema}
	if t.Annotations != nil {
		ti.ReadOnly = t.Annotations.ReadOnlyHint
	}
	return ti
}

// Call calls a tool of a server as the workspace's connection, under ctx
// and the call timeout. progress, if not nil, gets the server's progress
// messages. An MCP error result is a CallError. A session the server
// dropped is reconnected and the call made once more.
func (m *Manager) Call(ctx context.Context, srv persist.MCPServer, workspaceID, name string, args json.RawMessage, progress func(string)) (string, error) {
	service := "MCP server " + srv.Name
	for attempt := 0; ; attempt++ {
		l, err := m.get(ctx, srv, workspaceID)
		if err != nil {
			return "", err
		}
		out, err := m.callOn(ctx, l, name, args, progress)
		m.release(l)
		if err == nil {
			return out, nil
		}
		var ce *CallError
		switch {
		case errors.As(err, &ce):
			return "", err
		case ctx.Err() != nil:
			return "", ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return "", &agent.UpstreamError{Service: service, Msg: "the tool did not answer in " + m.cfg.CallTimeout.String()}
		case gone(err) && attempt == 0:
			m.sys.Root.Send(l.pid, &broken{cs: l.cs})
			continue
		}
		m.log.Debug("mcp call failed", "server", srv.Name, "tool", name, "err", err)
		return "", &agent.UpstreamError{Service: service, Msg: "the call failed: " + short(err)}
	}
}

// gone reports whether err says the session is no more: the process
// exited, the connection closed, or the server forgot the session.
func gone(err error) bool {
	return errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, mcp.ErrConnectionClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe)
}

// short keeps an SDK error's message readable and bounded; it holds the
// JSON-RPC error text, never a response body.
func short(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// CallError is an MCP tool result with isError set: the tool ran and
// reported a failure, which the model reads.
type CallError struct{ Text string }

func (e *CallError) Error() string { return e.Text }

func (m *Manager) callOn(ctx context.Context, l *lease, name string, args json.RawMessage, progress func(string)) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	params := &mcp.CallToolParams{Name: name, Arguments: args}
	if len(args) == 0 {
		params.Arguments = map[string]any{}
	}
	if progress != nil {
		token := "seshat-" + strconv.FormatInt(m.next.Add(1), 10)
		params.Meta = mcp.Meta{"progressToken": token}
		m.mu.Lock()
		m.progress[token] = progress
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.progress, token)
			m.mu.Unlock()
		}()
	}
	res, err := l.cs.CallTool(cctx, params)
	if err != nil {
		return "", err
	}
	text := m.cap(render(res))
	if res.IsError {
		if text == "" {
			text = "the tool reported an error"
		}
		return "", &CallError{Text: text}
	}
	return text, nil
}

// onProgress routes a progress notification to its call's callback.
func (m *Manager) onProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if req == nil || req.Params == nil {
		return
	}
	token := fmt.Sprint(req.Params.ProgressToken)
	m.mu.Lock()
	fn := m.progress[token]
	m.mu.Unlock()
	if fn == nil {
		return
	}
	msg := req.Params.Message
	if msg == "" {
		if req.Params.Total > 0 {
			msg = fmt.Sprintf("%g/%g", req.Params.Progress, req.Params.Total)
		} else {
			msg = fmt.Sprintf("%g", req.Params.Progress)
		}
	}
	fn(msg)
}

// render turns a result's content into text for the model.
func render(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s %s]", c.Name, c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil {
				if c.Resource.Text != "" {
					parts = append(parts, c.Resource.Text)
				} else {
					parts = append(parts, fmt.Sprintf("[resource %s, %d bytes]", c.Resource.URI, len(c.Resource.Blob)))
				}
			}
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}

// cap cuts s to the result cap on a rune boundary.
func (m *Manager) cap(s string) string {
	if len(s) <= m.cfg.MaxResultBytes {
		return s
	}
	cut := m.cfg.MaxResultBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n[truncated: the result had %d bytes, %d shown]", len(s), cut)
}

// TestResult is what Test reports.
type TestResult struct {
	ProtocolVersion string
	ToolsCount      int
	Latency         time.Duration
}

// Test connects to a server afresh (outside its pooled connections),
// lists its tools and disconnects.
func (m *Manager) Test(ctx context.Context, srv persist.MCPServer) (TestResult, error) {
	sec, err := m.cfg.Store.MCPServerSecrets(srv.ID)
	if err != nil && !errors.Is(err, persist.ErrNotFound) {
		return TestResult{}, err
	}
	t, proc, err := m.transport(srv, sec, "test/"+srv.ID)
	if err != nil {
		return TestResult{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
	defer cancel()
	start := time.Now()
	client := mcp.NewClient(&mcp.Implementation{Name: "seshat-host", Version: "1"}, &mcp.ClientOptions{Logger: m.quietLogger()})
	cs, tools, err := connect(cctx, client, t)
	if err != nil {
		m.endSession("test/"+srv.ID, nil, proc)
		return TestResult{}, &agent.UpstreamError{Service: "MCP server " + srv.Name, Msg: "connect: " + short(err)}
	}
	lat := time.Since(start)
	res := TestResult{ToolsCount: len(tools), Latency: lat}
	if ir := cs.InitializeResult(); ir != nil {
		res.ProtocolVersion = ir.ProtocolVersion
	}
	m.endSession("test/"+srv.ID, cs, proc)
	return res, nil
}

func (m *Manager) quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
