package session

import (
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Config tunes every session actor.
type Config struct {
	// Idle is how long a session stays in memory without activity before it
	// passivates. If zero, 5m.
	Idle time.Duration
	// PermissionTimeout is how long a permission or prompt request stays
	// open before it is denied. If zero, 10m.
	PermissionTimeout time.Duration
	// InterruptGrace is how long an interrupted runner gets to wind down
	// before the turn is ended without it. If zero, 2s.
	InterruptGrace time.Duration
	// MaxTurnEvents bounds a turn's event log kept for replay. If zero, 10000.
	MaxTurnEvents int
	// SubscriberBuffer is the channel size of each subscriber. If zero, 256:
	// a held stream costs 8 bytes a slot, its writer drains up to 64 queued
	// events per flush, and one that falls behind is dropped and re-attaches
	// from the event log with Last-Event-ID.
	SubscriberBuffer int
	// MaxSubscribers caps the streams following one session at once. If
	// zero, 64.
	MaxSubscribers int
	// StreamIdleLifetime ends a stream that follows the session while no
	// turn runs once it has waited this long, with a runtime
	// `idle_timeout` event; a stream that follows a turn ends with it. If
	// zero, 15m.
	StreamIdleLifetime time.Duration
	// DefaultModel is the model of sessions created without one. If empty, "mock:echo".
	DefaultModel string
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Idle <= 0 {
		c.Idle = 5 * time.Minute
	}
	if c.PermissionTimeout <= 0 {
		c.PermissionTimeout = 10 * time.Minute
	}
	if c.InterruptGrace <= 0 {
		c.InterruptGrace = 2 * time.Second
	}
	if c.MaxTurnEvents <= 0 {
		c.MaxTurnEvents = 10000
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = 256
	}
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = 64
	}
	if c.StreamIdleLifetime <= 0 {
		c.StreamIdleLifetime = 15 * time.Minute
	}
	if c.DefaultModel == "" {
		c.DefaultModel = "mock:echo"
	}
	return c
}

// Observer receives the figures the host turns into metrics. Its methods
// are called on actor goroutines and must not block.
type Observer interface {
	SessionActivated(id string)
	SessionStopped(id string)
	TurnEnded(stop agent.StopReason, failed bool, d time.Duration)
	FirstEvent(d time.Duration)
	SubscriberDropped()
}

// Deps are what every session actor shares.
type Deps struct {
	System   *actor.ActorSystem
	Store    *persist.Store
	Runner   *turn.Runner
	Config   Config
	Logger   *slog.Logger
	Observer Observer
	// Runners owns the turn runner goroutines; the host refuses new ones
	// and waits for the running ones at Close.
	Runners *Runners
	// Fresh, if not nil, hands the actor of a session just created its
	// record, so that its first activation reads nothing from the store.
	Fresh *Fresh
}

// Fresh holds the records of sessions just created, until their actor's
// first activation takes them: a new session has no snapshot and no
// messages, and its record is the one the store has, or will have once its
// first save creates it. An actor that finds none (restarted, or activated
// later) reads the store as always.
type Fresh struct{ m sync.Map }

type freshRecord struct {
	rec persist.Session
	// unsaved: the record is not in the store yet; the session's first
	// save creates it.
	unsaved bool
}

// Put keeps rec, as committed, for its session's first activation. Its
// times are normalised as the store keeps them.
func (f *Fresh) Put(rec persist.Session) { f.put(rec, false) }

// PutUnsaved keeps rec, which the store does not have, for its session's
// first activation: the actor's first save creates it. Only a one-shot
// turn's session that no one can name before its turn ends is made so.
func (f *Fresh) PutUnsaved(rec persist.Session) { f.put(rec, true) }

func (f *Fresh) put(rec persist.Session, unsaved bool) {
	rec.CreatedAt = rec.CreatedAt.UTC().Round(0)
	rec.UpdatedAt = rec.UpdatedAt.UTC().Round(0)
	f.m.Store(rec.ID, freshRecord{rec: rec, unsaved: unsaved})
}

// Forget drops what Put kept for id, if the actor did not take it.
func (f *Fresh) Forget(id string) { f.m.Delete(id) }

func (f *Fresh) take(id string) (persist.Session, bool, bool) {
	if f == nil {
		return persist.Session{}, false, false
	}
	v, ok := f.m.LoadAndDelete(id)
	if !ok {
		return persist.Session{}, false, false
	}
	r := v.(freshRecord)
	return r.rec, r.unsaved, true
}

// Runners owns turn runner goroutines: Add takes a slot for one unless
// Refuse has been called (as NATS's startGoRoutine refuses once the server
// shuts down), Done gives it back, and Wait waits for those running.
type Runners struct {
	mu      sync.Mutex // guards refused and the Add side of wg
	refused bool
	wg      sync.WaitGroup
}

// Add takes a slot for a new runner goroutine, or reports false once
// Refuse has been called.
func (r *Runners) Add() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refused {
		return false
	}
	r.wg.Add(1)
	return true
}

// Done gives back the slot of an ended runner goroutine.
func (r *Runners) Done() { r.wg.Done() }

// Refuse makes every later Add fail.
func (r *Runners) Refuse() {
	r.mu.Lock()
	r.refused = true
	r.mu.Unlock()
}

// Wait blocks until every runner goroutine has ended. Call it after
// Refuse, so that no new one starts meanwhile.
func (r *Runners) Wait() { r.wg.Wait() }

// NamePrefix prefixes a session id to make its actor name.
const NamePrefix = "session/"

// Props returns the props of session actors. One value serves every
// session: the actor learns its session id from its name (NamePrefix + id),
// and the producer does nothing else, since protoactor may run it for a
// name that turns out to be taken.
func Props(d *Deps, opts ...actor.PropsOption) *actor.Props {
	opts = append([]actor.PropsOption{actor.WithMailbox(newAnsweringMailbox(d))}, opts...)
	return actor.PropsFromProducer(func() actor.Actor {
		return &sessionActor{d: d}
	}, opts...)
}
