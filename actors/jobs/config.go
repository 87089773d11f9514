package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Config tunes the scheduler.
type Config struct {
	// Clock drives every schedule. If nil, SystemClock().
	Clock Clock
	// RunHistory is how many runs each job keeps; older finished runs are
	// deleted as new ones are recorded. If zero, persist.DefaultKeepRuns
	// (100).
	RunHistory int
	// StartTimeout bounds starting a run's turn, and interrupting it when
	// its job is deleted. If zero, 30s.
	StartTimeout time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	if c.RunHistory <= 0 {
		c.RunHistory = persist.DefaultKeepRuns
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	return c
}

// TurnRequest is the turn a run asks for: in SessionID, or else in a new
// session of WorkspaceID, as UserID.
type TurnRequest struct {
	UserID      string
	SessionID   string
	WorkspaceID string
	Prompt      string
	// Model and PermissionMode set up a new session, and override the
	// session's own for this turn otherwise ("" keeps them).
	Model          string
	PermissionMode string
}

// Turn is a started turn.
type Turn struct {
	SessionID string
	TurnID    string
	// Wait blocks until the turn has ended and is durable, or ctx is done.
	Wait func(ctx context.Context) (*agent.QueryResult, error)
}

// Turns starts and interrupts turns by id: the host's by-id facade, seen
// from here (the host imports this package, so this package cannot
// import it).
type Turns interface {
	// StartTurn starts an unattended turn: no one is there to answer a
	// permission or prompt request, so what would need approval must be
	// denied rather than wait. Rejections (a busy session, the user's turn
	// cap, an unknown session) are errors.
	StartTurn(ctx context.Context, req TurnRequest) (Turn, error)
	// Interrupt cancels the session's running turn.
	Interrupt(ctx context.Context, userID, sessionID string) (bool, error)
}

// Observer receives the figures the host turns into metrics. Its methods
// are called on actor goroutines and must not block.
type Observer interface {
	// JobArmed and JobDisarmed bracket the time a job's timer is set.
	JobArmed()
	JobDisarmed()
	// RunRecorded counts a run that ended (persist.RunSucceeded,
	// RunFailed) or was skipped (RunSkipped).
	RunRecorded(status string)
	// ScheduleLag is the time from a scheduled run's due instant to its
	// turn being accepted.
	ScheduleLag(d time.Duration)
}

// Deps are what the scheduler and every job actor share.
type Deps struct {
	System *actor.ActorSystem
	Store  *persist.Store
	Turns  Turns
	Config Config
	// Logger receives the scheduler's logs. If nil, they are discarded.
	Logger *slog.Logger
	// Observer, if not nil, gets the figures behind the metrics.
	Observer Observer
	// Runners counts live run goroutines; their owner waits for it after
	// Stop (the host does at Close).
	Runners *sync.WaitGroup
}

// withDefaults fills the optional fields of d.
func (d *Deps) withDefaults() {
	d.Config = d.Config.WithDefaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Runners == nil {
		d.Runners = new(sync.WaitGroup)
	}
}

type nopObserver struct{}

func (nopObserver) JobArmed()                 {}
func (nopObserver) JobDisarmed()              {}
func (nopObserver) RunRecorded(string)        {}
func (nopObserver) ScheduleLag(time.Duration) {}
