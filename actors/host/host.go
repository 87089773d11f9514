package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/jobs"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/actors/workers"
	"github.com/seshat-host/seshat/persist"
)

// Config configures the host.
type Config struct {
	// Store is the durable store (required).
	Store *persist.Store
	// Providers selects the provider of a "provider:model" id for a user
	// (required). A *provider.Registry serves server-wide providers only.
	Providers provider.Selector
	// Tenancy checks workspace roles and reads preferences. The host
	// joins it as its Runtime, so that a deleted workspace's jobs and
	// sessions end. If nil, one over Store.
	Tenancy *tenancy.Service
	// Tools are the server's tools. If nil, the built-ins.
	Tools *tool.Registry
	// Extensions contribute to every turn before its first model call
	// (the domain families: retrieval, memories, skills, outside tools).
	Extensions []turn.Extension
	// Profiles resolves agent_slug and the profile a session keeps. If
	// nil, agent_slug is a 404.
	Profiles Profiles
	// Session tunes every session actor (zero fields get their defaults).
	Session session.Config
	// MaxTurns caps model calls per turn. If zero, 20.
	MaxTurns int
	// MaxToolUsesPerResponse and MaxToolUsesPerTurn cap the tool uses of
	// one model response and of one turn; the calls past them get error
	// results and do not run. If zero, 64 and 256.
	MaxToolUsesPerResponse int
	MaxToolUsesPerTurn     int
	// Ledger owns the quota state: limits, token usage, running turns and
	// open streams. If nil, one over Store from Quotas and the caps below.
	Ledger *quota.Ledger
	// MaxTurnsPerUser caps a user's running turns. If zero, 256.
	MaxTurnsPerUser int
	// MaxStreamsPerUser caps a user's open streams. If zero, 1024.
	MaxStreamsPerUser int
	// MaxStreams caps the open streams of all users together. If zero,
	// 50000.
	MaxStreams int
	// Quotas tunes the ledger the host builds when Ledger is nil (zero
	// fields get their defaults; Store and the caps are the host's).
	Quotas QuotaConfig
	// CallTimeout bounds a request to an actor when the caller's context
	// has no deadline. If zero, 10s.
	CallTimeout time.Duration
	// Logger receives the runtime's logs; protoactor's own logs go through
	// it too, at warning level and above unless it is enabled for debug.
	// If nil, logs are discarded.
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. If nil, none are exported.
	Registerer prometheus.Registerer
}

// Host owns the actor system and every session actor.
type Host struct {
	cfg     Config
	log     *slog.Logger
	tenancy *tenancy.Service
	sys     *actor.ActorSystem
	props   *actor.Props
	deps    *session.Deps
	runners session.Runners
	// jobRuns counts the jobs' run goroutines.
	jobRuns sync.WaitGroup
	// mailboxes runs the session actors' mailboxes on reused goroutines,
	// which keep the stacks a session's messages need.
	mailboxes *workers.Pool
	metrics   *metrics
	closed    atomic.Bool
	// jobsStarted is set while the scheduler runs (StartJobs to StopJobs).
	jobsStarted atomic.Bool
	// maxJobs is JobsConfig.MaxJobsPerUser, set by StartJobs.
	maxJobs  atomic.Int64
	strategy actor.SupervisorStrategy
	quotas   *quota.Ledger

	mu   sync.Mutex // guards live
	live map[string]struct{}
	// work is where each user follows streams and runs turns.
	work userWork
}

// mailboxThroughput is how many messages a session's mailbox handles
// before it yields its goroutine: protoactor's default.
const mailboxThroughput = 300

// New builds a host. It starts no goroutine: actors start on first use.
func New(cfg Config) (*Host, error) {
	if cfg.Store == nil || cfg.Providers == nil {
		return nil, errors.New("host: Store and Providers are required")
	}
	if cfg.Tools == nil {
		cfg.Tools = tool.NewRegistry(tool.Builtins()...)
	}
	if cfg.Tenancy == nil {
		t, err := tenancy.New(tenancy.Config{Store: cfg.Store, Models: modelChecker{cfg.Providers}})
		if err != nil {
			return nil, err
		}
		cfg.Tenancy = t
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Session = cfg.Session.WithDefaults()
	log := cfg.Logger.With("component", "host")
	if cfg.Ledger == nil {
		qc := cfg.Quotas
		qc.Store, qc.Logger = cfg.Store, cfg.Logger
		qc.MaxTurnsPerUser, qc.MaxStreamsPerUser, qc.MaxStreams = cfg.MaxTurnsPerUser, cfg.MaxStreamsPerUser, cfg.MaxStreams
		l, err := quota.New(qc)
		if err != nil {
			return nil, err
		}
		cfg.Ledger = l
	}
	q := cfg.Ledger
	m, err := newMetrics(cfg.Registerer, q)
	if err != nil {
		return nil, err
	}
	actorLog := cfg.Logger.With("component", "actors")
	if !actorLog.Enabled(context.Background(), slog.LevelDebug) {
		actorLog = slog.New(minLevel{Handler: actorLog.Handler(), min: slog.LevelWarn})
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
	mailboxes := workers.New(workers.DefaultIdle, mailboxThroughput)
	runner, err := turn.New(turn.Config{
		// StartTurn resolves (and meters) every turn's model; the runner
		// selects only for a turn that comes without its route.
		Providers:  cfg.Providers,
		Tools:      cfg.Tools,
		Files:      files{store: cfg.Store},
		Extensions: cfg.Extensions,
		MaxTurns:   cfg.MaxTurns,
		Logger:     cfg.Logger.With("component", "turn"),

		MaxToolUsesPerResponse: cfg.MaxToolUsesPerResponse,
		MaxToolUsesPerTurn:     cfg.MaxToolUsesPerTurn,
		Workers:                mailboxes,
	})
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		log:     log,
		tenancy: cfg.Tenancy,
		sys:     sys,
		quotas:  q,
		metrics: m,
		live:    map[string]struct{}{},

		mailboxes: mailboxes,
	}
	// A session that panics is restarted from its last snapshot; one that
	// keeps panicking (10 times in 10s) is stopped and re-activated by its
	// next request.
	h.strategy = actor.NewOneForOneStrategy(10, 10*time.Second, func(any) actor.Directive { return actor.RestartDirective })
	h.deps = &session.Deps{
		System:   h.sys,
		Store:    cfg.Store,
		Runner:   runner,
		Config:   cfg.Session,
		Logger:   cfg.Logger.With("component", "session"),
		Observer: observer{h: h},
		Runners:  &h.runners,
		Fresh:    &session.Fresh{},
	}
	h.props = session.Props(h.deps, actor.WithGuardian(h.strategy), actor.WithReceiverMiddleware(logPanics(log)),
		actor.WithDispatcher(h.mailboxes))
	cfg.Tenancy.SetRuntime(h)
	cfg.Tenancy.OnUserDisabled(h.EndUser)
	return h, nil
}

// EndWorkspace implements tenancy.Runtime: the jobs of a workspace being
// deleted are disarmed and their runs interrupted, and its live sessions
// are deleted by their actors (which interrupt a running turn and end its
// streams); the store's sweep then finds them gone.
func (h *Host) EndWorkspace(ctx context.Context, c persist.WorkspaceContents) int {
	for _, jid := range c.JobIDs {
		if _, err := callJobs[any](ctx, h, &jobs.Remove{JobID: jid}); err != nil && !errors.Is(err, errJobsStopped) {
			h.log.Warn("stop the actor of a job of a deleted workspace", "job_id", jid, "err", err)
		}
	}
	byActors := 0
	for _, sid := range c.SessionIDs {
		if !h.isLive(sid) {
			continue
		}
		_, err := ask[session.Done](ctx, h, sid, &session.Delete{})
		switch {
		case err == nil:
			byActors++
		case !errors.Is(err, persist.ErrNotFound) && !errors.Is(err, agent.ErrNotFound):
			h.log.Warn("delete a session of a deleted workspace", "session_id", sid, "err", err)
		}
	}
	return byActors
}

// ScopeDeleted implements tenancy.Runtime: the quota state of a deleted
// workspace or organization is dropped.
func (h *Host) ScopeDeleted(scope, id string) { h.quotas.Forget(scope, id) }

// isLive reports whether session id has an actor in memory.
func (h *Host) isLive(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.live[id]
	return ok
}

// modelChecker checks a preference's model with the host's selector.
type modelChecker struct{ sel provider.Selector }

func (m modelChecker) CheckModel(ctx context.Context, userID, settingID, model string) error {
	_, _, err := m.sel.Select(ctx, userID, settingID, model)
	return err
}

// Close stops the host: new work is refused, every live session is
// passivated (running turns end as interrupted, streams get an `error`
// event, a final snapshot is written), runner goroutines are awaited, and
// the actor system is shut down. It is idempotent.
func (h *Host) Close(ctx context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	// No turn runner starts from now on; those running end as their
	// sessions passivate below.
	h.runners.Refuse()
	// Disarm job timers and end job runs first, so that no run starts
	// while sessions passivate.
	if err := h.StopJobs(ctx); err != nil {
		h.log.Error("stop the scheduler", "err", err)
	}
	h.mu.Lock()
	ids := make([]string, 0, len(h.live))
	for id := range h.live {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pid := actor.NewPID(h.sys.Address(), session.NamePrefix+id)
			timeout := h.timeout(ctx)
			res, err := h.sys.Root.RequestFuture(pid, &session.Passivate{Reason: "server shutting down"}, timeout).Result()
			if err != nil && !errors.Is(err, actor.ErrDeadLetter) {
				failed.Add(1)
				h.log.Error("passivate session at shutdown", "session_id", id, "err", err)
				return
			}
			// ErrPassivated: the session was already stopping (idle, or a
			// one-shot session whose turn ended), with its state durable.
			if r, ok := res.(session.Replier); ok && r.ReplyErr() != nil && !errors.Is(r.ReplyErr(), session.ErrPassivated) {
				failed.Add(1)
				h.log.Error("snapshot session at shutdown", "session_id", id, "err", r.ReplyErr())
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { h.runners.Wait(); h.jobRuns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("host: turn runners still running: %w", ctx.Err())
	}
	h.sys.Shutdown()
	h.mailboxes.Close()
	// The store's writer commits in order, so once this empty write is
	// durable every save the sessions queued before stopping is too.
	if err := h.cfg.Store.Update(ctx, func(*persist.Tx) error { return nil }); err != nil {
		return fmt.Errorf("host: flush session writes: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("host: %d sessions failed to passivate", n)
	}
	return nil
}

// timeout returns how long a request to an actor may take under ctx.
func (h *Host) timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return h.cfg.CallTimeout
}

// ask sends msg to session id's actor, activating it if needed, and
// returns its reply, a session.Reply[T]. A dead letter means the actor
// stopped (passivated) between lookup and delivery, so the message was not
// handled: activate again and retry.
func ask[T any](ctx context.Context, h *Host, id string, msg any) (T, error) {
	var zero T
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		pid, err := h.sys.Root.SpawnNamed(h.props, session.NamePrefix+id)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			return zero, err
		}
		res, err := h.sys.Root.RequestFuture(pid, msg, h.timeout(ctx)).Result()
		r, isReply := res.(session.Replier)
		if isReply && errors.Is(r.ReplyErr(), session.ErrPassivated) {
			err = actor.ErrDeadLetter
		}
		if errors.Is(err, actor.ErrDeadLetter) {
			lastErr = err
			// Let the stopping actor's name be released.
			select {
			case <-time.After(time.Duration(attempt+1) * time.Millisecond):
			case <-ctx.Done():
				return zero, ctx.Err()
			}
			continue
		}
		if err != nil {
			return zero, fmt.Errorf("session %s did not answer: %w", id, err)
		}
		if isReply && r.ReplyErr() != nil {
			return zero, r.ReplyErr()
		}
		typed, ok := res.(session.Reply[T])
		if !ok {
			return zero, fmt.Errorf("session %s: unexpected reply %T to %T", id, res, msg)
		}
		return typed.Value, nil
	}
	return zero, fmt.Errorf("session %s could not be activated: %w", id, lastErr)
}

// logPanics logs a panicking message's stack and re-panics so that
// supervision still restarts the actor (protoactor logs no stack).
func logPanics(log *slog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("session actor panic", "actor", c.Self().Id, "msg", fmt.Sprintf("%T", env.Message),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}

// MinLevel wraps h so that it drops records below min (the actor
// runtime's chatter under a host's or a node's logger).
func MinLevel(h slog.Handler, min slog.Level) slog.Handler {
	return minLevel{Handler: h, min: min}
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(a), min: m.min}
}

func (m minLevel) WithGroup(g string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(g), min: m.min}
}
