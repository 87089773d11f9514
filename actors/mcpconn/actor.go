package mcpconn

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Messages of the supervisor and the connection actors.
type (
	leaseReq struct {
		srv         persist.MCPServer
		workspaceID string
	}
	leaseReply struct {
		lease *lease
		err   error
	}
	release    struct{}
	stopServer struct{ serverID string }
	stopped    struct{}
	broken     struct{ cs *mcp.ClientSession }
	retry      struct{}
	connResult struct {
		cs    *mcp.ClientSession
		tools []*mcp.Tool
		err   error
	}
	toolsChanged struct{ cs *mcp.ClientSession }
	toolsListed  struct {
		cs    *mcp.ClientSession
		tools []*mcp.Tool
		err   error
	}
)

func supervisorProps(m *Manager) *actor.Props {
	strategy := actor.NewOneForOneStrategy(10, 10*time.Second, func(any) actor.Directive { return actor.RestartDirective })
	return actor.PropsFromProducer(func() actor.Actor { return &supervisor{m: m} },
		actor.WithSupervisor(strategy), actor.WithReceiverMiddleware(logPanics(m)))
}

// supervisor is the parent of the connection actors; it spawns one on
// first use and forwards requests to it.
type supervisor struct{ m *Manager }

func (s *supervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *leaseReq:
		name := msg.srv.ID + "@" + msg.workspaceID
		srv, m := msg.srv, s.m
		props := actor.PropsFromProducer(func() actor.Actor { return &connActor{m: m, srv: srv, key: name} },
			actor.WithReceiverMiddleware(logPanics(m)))
		pid, err := ctx.SpawnNamed(props, name)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			ctx.Respond(&leaseReply{err: fmt.Errorf("start MCP connection: %w", err)})
			return
		}
		ctx.Forward(pid)
	case *stopServer:
		prefix := ctx.Self().Id + "/" + msg.serverID + "@"
		var futures []*actor.Future
		for _, c := range ctx.Children() {
			if strings.HasPrefix(c.Id, prefix) {
				futures = append(futures, ctx.StopFuture(c))
			}
		}
		// The stops are waited for off the mailbox; each future is
		// bounded (10s), and so is the reaping after a stop that timed
		// out, so this goroutine ends.
		sender, root, m, serverID := ctx.Sender(), ctx.ActorSystem().Root, s.m, msg.serverID
		go func() {
			var failed bool
			for _, f := range futures {
				if err := f.Wait(); err != nil {
					failed = true
					m.log.Warn("mcp connection did not stop in time; ending its processes", "server", serverID, "err", err)
				}
			}
			if failed {
				// A connection that did not finish stopping may still
				// have a process: end and reap it here.
				if err := m.reap(m.cfg.TerminateDuration, serverKey(serverID)); err != nil {
					m.log.Error("mcp server process left running", "server", serverID, "err", err)
				}
			}
			if sender != nil {
				root.Send(sender, &stopped{})
			}
		}()
	}
}

// connActor owns one connection to one server for one workspace.
type connActor struct {
	m   *Manager
	srv persist.MCPServer
	key string

	self *actor.PID
	sys  *actor.ActorSystem

	cs         *mcp.ClientSession
	proc       *process
	tools      []*mcp.Tool
	connecting bool
	attempt    int
	waiters    []*actor.PID
	inflight   int
	timer      *time.Timer
	ctx        context.Context
	cancel     context.CancelFunc
	// ending counts the goroutines ending dropped sessions; shutdown
	// waits for them, so that the actor's processes are reaped before
	// it counts as stopped.
	ending sync.WaitGroup

	// mu guards what the connecting goroutine hands over: the process
	// as soon as it starts, the session once it is up. Once stopping is
	// set, shutdown has taken what was pending and the goroutine ends
	// what it makes afterwards itself.
	mu       sync.Mutex
	stopping bool
	pending  *process
	pendCS   *mcp.ClientSession
}

func (a *connActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self, a.sys = ctx.Self(), ctx.ActorSystem()
		a.ctx, a.cancel = context.WithCancel(context.Background())
		ctx.SetReceiveTimeout(a.m.cfg.IdleTimeout)
		a.connect()
	case *leaseReq:
		if a.cs != nil {
			a.inflight++
			ctx.Respond(&leaseReply{lease: &lease{key: a.key, pid: a.self, cs: a.cs, tools: a.tools}})
			return
		}
		if s := ctx.Sender(); s != nil {
			a.waiters = append(a.waiters, s)
		}
		if !a.connecting {
			a.connect()
		}
	case *release:
		if a.inflight > 0 {
			a.inflight--
		}
	case *connResult:
		a.connected(ctx, msg)
	case *broken:
		if msg.cs == nil || msg.cs != a.cs {
			return
		}
		a.drop()
		a.attempt++
		a.m.setStatus(a.srv.ID, func(s *Status) { s.State = "connecting" })
		a.schedule(backoff(a.attempt - 1))
	case *retry:
		if a.cs == nil && !a.connecting {
			a.connect()
		}
	case *toolsChanged:
		if msg.cs != a.cs || a.cs == nil {
			return
		}
		cs, self, root, timeout := a.cs, a.self, a.sys.Root, a.m.cfg.ConnectTimeout
		go func() {
			lctx, cancel := context.WithTimeout(a.ctx, timeout)
			defer cancel()
			tools, err := listTools(lctx, cs)
			root.Send(self, &toolsListed{cs: cs, tools: tools, err: err})
		}()
	case *toolsListed:
		if msg.cs == a.cs && msg.err == nil {
			a.tools = msg.tools
			a.m.setStatus(a.srv.ID, func(s *Status) { s.ToolsCount = len(msg.tools) })
		}
	case *actor.ReceiveTimeout:
		if a.inflight == 0 && len(a.waiters) == 0 && !a.connecting {
			ctx.Stop(a.self)
		}
	case *actor.Stopping:
		a.shutdown()
		a.m.setStatus(a.srv.ID, func(s *Status) {
			if s.State == "connected" || s.State == "connecting" {
				s.State = ""
			}
		})
	case *actor.Restarting:
		a.shutdown()
	}
}

// connect starts connecting in a goroutine owned by the actor: it ends
// with the connect's context, which Stopping cancels.
func (a *connActor) connect() {
	a.connecting = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.m.setStatus(a.srv.ID, func(s *Status) { s.State = "connecting" })
	srv, self, root, m, pctx := a.srv, a.self, a.sys.Root, a.m, a.ctx
	go func() {
		sec, err := m.cfg.Store.MCPServerSecrets(srv.ID)
		if err != nil {
			root.Send(self, &connResult{err: err})
			return
		}
		t, proc, err := m.transport(srv, sec, a.key)
		if err != nil {
			root.Send(self, &connResult{err: err})
			return
		}
		a.mu.Lock()
		if a.stopping {
			a.mu.Unlock()
			m.endSession(a.key, nil, proc)
			return
		}
		a.pending = proc
		a.mu.Unlock()
		client := mcp.NewClient(&mcp.Implementation{Name: "seshat-host", Version: "1"}, &mcp.ClientOptions{
			Logger:                      m.quietLogger(),
			ProgressNotificationHandler: m.onProgress,
			ToolListChangedHandler: func(_ context.Context, req *mcp.ToolListChangedRequest) {
				root.Send(self, &toolsChanged{cs: req.Session})
			},
		})
		cctx, cancel := context.WithTimeout(pctx, m.cfg.ConnectTimeout)
		cs, tools, err := connect(cctx, client, t)
		cancel()
		if err != nil {
			// pending stays set until the actor reads the result, so
			// that a shutdown meanwhile waits for this process too.
			m.endSession(a.key, nil, proc)
			root.Send(self, &connResult{err: err})
			return
		}
		a.mu.Lock()
		if a.stopping {
			a.mu.Unlock()
			m.endSession(a.key, cs, proc)
			return
		}
		a.pendCS = cs
		a.mu.Unlock()
		root.Send(self, &connResult{cs: cs, tools: tools})
		// The session ends when the process exits or the connection
		// drops: reconnect then.
		go func() {
			_ = cs.Wait()
			root.Send(self, &broken{cs: cs})
		}()
	}()
}

func (a *connActor) connected(ctx actor.Context, r *connResult) {
	a.connecting = false
	if r.err != nil {
		a.mu.Lock()
		a.pending = nil // ended by the connecting goroutine
		a.mu.Unlock()
		msg := short(r.err)
		a.m.setStatus(a.srv.ID, func(s *Status) { s.State, s.LastError = "error", msg })
		err := &agent.UpstreamError{Service: "MCP server " + a.srv.Name, Msg: "connect: " + msg}
		for _, w := range a.waiters {
			ctx.Send(w, &leaseReply{err: err})
		}
		a.waiters = nil
		if a.attempt > 0 {
			// Reconnecting after a drop: keep trying with back-off until
			// the connection idles out.
			a.attempt++
			a.schedule(backoff(a.attempt - 1))
		}
		return
	}
	a.mu.Lock()
	a.cs, a.proc, a.tools = r.cs, a.pending, r.tools
	a.pendCS, a.pending = nil, nil
	a.mu.Unlock()
	a.attempt = 0
	pv := ""
	if ir := r.cs.InitializeResult(); ir != nil {
		pv = ir.ProtocolVersion
	}
	a.m.setStatus(a.srv.ID, func(s *Status) {
		s.State, s.LastError, s.ProtocolVersion, s.ToolsCount = "connected", "", pv, len(r.tools)
	})
	for _, w := range a.waiters {
		a.inflight++
		ctx.Send(w, &leaseReply{lease: &lease{key: a.key, pid: a.self, cs: a.cs, tools: a.tools}})
	}
	a.waiters = nil
}

func (a *connActor) schedule(d time.Duration) {
	if a.timer != nil {
		a.timer.Stop()
	}
	self, root := a.self, a.sys.Root
	a.timer = time.AfterFunc(d, func() { root.Send(self, &retry{}) })
}

// drop ends the current session and its process off the mailbox, in a
// goroutine shutdown waits for.
func (a *connActor) drop() {
	a.mu.Lock()
	cs, proc := a.cs, a.proc
	a.cs, a.proc, a.tools = nil, nil, nil
	a.mu.Unlock()
	if cs != nil || proc != nil {
		m, key := a.m, a.key
		a.ending.Go(func() { m.endSession(key, cs, proc) })
	}
}

// shutdown is the actor's end: the session is closed and the process
// reaped (after the stdio grace, by SIGTERM, then SIGKILL of its group)
// before the actor counts as stopped, so that shutdown and delete leave
// nothing running. Every wait in it is bounded.
func (a *connActor) shutdown() {
	if a.cancel != nil {
		a.cancel()
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.mu.Lock()
	a.stopping = true
	cs, proc, pcs, pproc := a.cs, a.proc, a.pendCS, a.pending
	a.cs, a.proc, a.pendCS, a.pending = nil, nil, nil, nil
	a.mu.Unlock()
	for _, w := range a.waiters {
		a.sys.Root.Send(w, &leaseReply{err: fmt.Errorf("MCP connection %s: %w", a.key, agent.ErrClosed)})
	}
	a.waiters = nil
	a.ending.Go(func() { a.m.endSession(a.key, cs, proc) })
	a.ending.Go(func() { a.m.endSession(a.key, pcs, pproc) })
	done := make(chan struct{})
	go func() {
		a.ending.Wait()
		close(done)
	}()
	// endSession is bounded (2×TerminateDuration, then killWait after
	// SIGKILL); the margin covers a session close.
	t := time.NewTimer(2*a.m.cfg.TerminateDuration + killWait + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		a.m.log.Error("mcp connection did not end its sessions in time", "connection", a.key)
	}
}

// endSession ends a stdio server's process, then closes its session
// (either may be nil): with the process gone the session's reads end,
// so the close does not wait for calls still in flight. It returns once
// the process has been reaped or could not be, which it logs.
func (m *Manager) endSession(key string, cs *mcp.ClientSession, proc *process) {
	if err := proc.stop(m.cfg.TerminateDuration); err != nil {
		m.log.Error("mcp server process left running", "connection", key, "err", err)
	}
	if cs != nil {
		_ = cs.Close()
	}
}

func logPanics(m *Manager) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					m.log.Error("mcp actor panic", "actor", c.Self().Id, "msg", fmt.Sprintf("%T", env.Message),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}
