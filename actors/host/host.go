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

	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Config configures the host.
type Config struct {
	// Store is the durable store (required).
	Store *persist.Store
	// Providers selects the provider of a "provider:model" id for a user
	// (required). A *provider.Registry serves server-wide providers only.
	Providers provider.Selector
	// Tools are the server's tools. If nil, the built-ins.
	Tools *tool.Registry
	// Session tunes every session actor (zero fields get their defaults).
	Session session.Config
	// MaxTurns caps model calls per turn. If zero, 20.
	MaxTurns int
	// MaxTurnsPerUser caps a user's running turns. If zero, 256.
	MaxTurnsPerUser int
	// MaxStreamsPerUser caps a user's open streams. If zero, 1024.
	MaxStreamsPerUser int
	// MaxStreams caps the open streams of all users together. If zero,
	// 50000.
	MaxStreams int
	// Quotas tunes the quota engine (zero fields get their defaults).
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
	sys     *actor.ActorSystem
	props   *actor.Props
	deps    *session.Deps
	runners sync.WaitGroup
	metrics *metrics
	turns   *limiter
	streams *limiter
	closed  atomic.Bool
	// jobsStarted is set while the scheduler runs (StartJobs to StopJobs).
	jobsStarted atomic.Bool
	strategy    actor.SupervisorStrategy
	quotas      *quotas

	mu   sync.Mutex // guards live
	live map[string]struct{}
}

// New builds a host. It starts no goroutine: actors start on first use.
func New(cfg Config) (*Host, error) {
	if cfg.Store == nil || cfg.Providers == nil {
		return nil, errors.New("host: Store and Providers are required")
	}
	if cfg.Tools == nil {
		cfg.Tools = tool.NewRegistry(tool.Builtins()...)
	}
	if cfg.MaxTurnsPerUser <= 0 {
		cfg.MaxTurnsPerUser = 256
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = 1024
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 50000
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Session = cfg.Session.WithDefaults()
	log := cfg.Logger.With("component", "host")
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	actorLog := cfg.Logger.With("component", "actors")
	if !actorLog.Enabled(context.Background(), slog.LevelDebug) {
		actorLog = slog.New(minLevel{Handler: actorLog.Handler(), min: slog.LevelWarn})
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
	q, err := newQuotas(cfg.Store, sys, log.With("component", "quotas"), cfg.Quotas)
	if err != nil {
		return nil, err
	}
	runner, err := turn.New(turn.Config{
		// Every model call of a turn is accounted against its quotas.
		Providers: quotaSelector{inner: cfg.Providers, q: q},
		Tools:     cfg.Tools,
		Files:     files{store: cfg.Store},
		MaxTurns:  cfg.MaxTurns,
		Logger:    cfg.Logger.With("component", "turn"),
	})
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		log:     log,
		sys:     sys,
		quotas:  q,
		metrics: m,
		turns:   newLimiter(cfg.MaxTurnsPerUser, 0),
		streams: newLimiter(cfg.MaxStreamsPerUser, cfg.MaxStreams),
		live:    map[string]struct{}{},
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
	}
	h.props = session.Props(h.deps, actor.WithGuardian(h.strategy), actor.WithReceiverMiddleware(logPanics(log)))
	return h, nil
}

// Close stops the host: new work is refused, every live session is
// passivated (running turns end as interrupted, streams get an `error`
// event, a final snapshot is written), runner goroutines are awaited, and
// the actor system is shut down. It is idempotent.
func (h *Host) Close(ctx context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
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
			if r, ok := res.(session.Reply); ok && r.Err != nil {
				failed.Add(1)
				h.log.Error("snapshot session at shutdown", "session_id", id, "err", r.Err)
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { h.runners.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("host: turn runners still running: %w", ctx.Err())
	}
	h.sys.Shutdown()
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

// request sends msg to session id's actor, activating it if needed, and
// returns its reply. A dead letter means the actor stopped (passivated)
// between lookup and delivery, so the message was not handled: activate
// again and retry.
func (h *Host) request(ctx context.Context, id string, msg any) (any, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		pid, err := h.sys.Root.SpawnNamed(h.props, session.NamePrefix+id)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			return nil, err
		}
		res, err := h.sys.Root.RequestFuture(pid, msg, h.timeout(ctx)).Result()
		if r, ok := res.(session.Reply); ok && errors.Is(r.Err, session.ErrPassivated) {
			err = actor.ErrDeadLetter
		}
		if errors.Is(err, actor.ErrDeadLetter) {
			lastErr = err
			// Let the stopping actor's name be released.
			select {
			case <-time.After(time.Duration(attempt+1) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("session %s did not answer: %w", id, err)
		}
		r, ok := res.(session.Reply)
		if !ok {
			return nil, fmt.Errorf("session %s: unexpected reply %T", id, res)
		}
		return r.Value, r.Err
	}
	return nil, fmt.Errorf("session %s could not be activated: %w", id, lastErr)
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
