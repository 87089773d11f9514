package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// running is the state of the turn in progress.
type running struct {
	id        string
	userID    string
	cancel    context.CancelFunc
	started   time.Time
	release   func()
	outcome   chan Outcome
	firstFrom int // index of the turn's first message in history
	usage     agent.Usage
	// oneShot stops the actor once the turn is durable (StartTurn.OneShot).
	oneShot bool
	// used is what the turn's extensions found (sources, memories, a
	// plan), reported in its result.
	used     turn.Result
	gotFirst bool
	// interrupted is set once Interrupt (or shutdown) cancelled the turn.
	interrupted bool
	// finishing is set once the turn's end is being saved; events after it
	// are dropped and the turn is no longer interruptible.
	finishing bool
	// final is the outcome to deliver once the end is durable.
	final Outcome
	stop  agent.StopReason
}

type waiter struct {
	pending agent.Pending
	timer   *time.Timer
	perm    chan turn.Decision
	prompt  chan promptReply
}

// sessionActor owns one session. See the package doc for its contract.
type sessionActor struct {
	// oneShotIdle is set once a one-shot turn has ended: the session
	// passivates after oneShotGrace instead of the idle timeout.
	oneShotIdle bool
	id          string
	d           *Deps

	self   *actor.PID
	loaded bool
	// gone is the error every request gets once the actor is on its way
	// out (deleted, missing, passivated at shutdown); a PoisonPill queued
	// behind those requests then stops it.
	gone error

	rec persist.Session
	// unsaved: the store has no record of the session yet; the next save
	// creates it (Fresh.PutUnsaved).
	unsaved  bool
	snap     snapshot
	log      eventLog
	subs     map[*subscriber]struct{}
	turn     *running
	waiters  map[string]*waiter
	decided  map[string]struct{}
	decOrder []string

	indexedUpTo int
	// persisted is how many messages are durable as records; a save
	// carries the ones after it until a commit acknowledges them.
	persisted int
	// saveDue is set while a coalesced save is scheduled (saveSoon); any
	// save clears it, so the scheduled one then has nothing to do.
	saveDue    bool
	lastActive time.Time
	idleTimer  *time.Timer
	// stopped is set once the actor has stopped; its mailbox then answers
	// requests itself (answeringMailbox).
	stopped atomic.Bool
}

// Receive is the actor's single entry point.
func (a *sessionActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
		return
	case *actor.Restarting:
		// The old instance: end what it owns; the new one reloads the
		// last snapshot in Started.
		a.abandon("session restarted after an internal error")
		if a.idleTimer != nil {
			a.idleTimer.Stop()
		}
		if a.loaded && a.d.Observer != nil {
			a.d.Observer.SessionStopped(a.id)
		}
		return
	case *actor.Stopping:
		a.stopping()
		return
	case *actor.Stopped:
		a.stopped.Store(true)
		if a.loaded && a.d.Observer != nil {
			a.d.Observer.SessionStopped(a.id)
		}
		return
	}
	if a.gone != nil {
		if ctx.Sender() != nil {
			ctx.Respond(Reply[Done]{Err: a.gone})
		}
		return
	}
	switch m := ctx.Message().(type) {
	case *StartTurn:
		a.touch()
		v, err := a.startTurn(m)
		ctx.Respond(Reply[*TurnStarted]{Value: v, Err: err})
	case *Attach:
		a.touch()
		if len(a.subs) >= a.d.Config.MaxSubscribers {
			ctx.Respond(Reply[*Subscription]{Err: fmt.Errorf("%w: at most %d streams may follow one session", agent.ErrTooManyStreams, a.d.Config.MaxSubscribers)})
			return
		}
		ctx.Respond(Reply[*Subscription]{Value: a.attach(m.After, m.UserID)})
	case *EndUser:
		a.endUser(m)
		ctx.Respond(Reply[Done]{})
	case *Interrupt:
		a.touch()
		ctx.Respond(Reply[bool]{Value: a.interrupt()})
	case *Decide:
		a.touch()
		ctx.Respond(Reply[Done]{Err: a.decide(m)})
	case *Answer:
		a.touch()
		ctx.Respond(Reply[Done]{Err: a.answer(m)})
	case *Get:
		a.touch()
		ctx.Respond(Reply[View]{Value: a.view()})
	case *Update:
		a.touch()
		v, err := a.update(m)
		ctx.Respond(Reply[View]{Value: v, Err: err})
	case *Delete:
		ctx.Respond(Reply[Done]{Err: a.delete(ctx)})
	case *Passivate:
		a.passivate(ctx, m.Reason)
	case *turnEvent:
		if a.current(m.turnID) {
			a.onRunnerEvent(m.ev)
		}
		// The event is logged by value: the message is free again.
		m.release()
	case *turnCommit:
		if a.current(m.turnID) {
			a.commit(m.msg)
			a.saveSoon()
		}
	case *saveTick:
		if a.saveDue {
			a.save(nil)
		}
	case *messagesSaved:
		a.persisted = max(a.persisted, m.upTo)
	case *permissionNeeded:
		a.onPermissionNeeded(m)
	case *promptNeeded:
		a.onPromptNeeded(m)
	case *requestExpired:
		a.expire(m.requestID)
	case *turnDone:
		if a.current(m.turnID) {
			a.turn.usage = m.res.Usage
			a.turn.used = m.res
			a.finish(m.res.StopReason, m.res.Err)
		}
	case *forceFinish:
		if a.current(m.turnID) {
			a.finish(agent.StopInterrupted, nil)
		}
	case *turnSaved:
		a.onTurnSaved(ctx, m)
	case *unsubscribe:
		if _, ok := a.subs[m.sub]; ok {
			delete(a.subs, m.sub)
			m.sub.end()
		}
		a.touch()
	case *streamIdle:
		if _, ok := a.subs[m.sub]; ok && a.turn == nil {
			delete(a.subs, m.sub)
			finalTo(m.sub, agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeIdleTimeout, SessionID: a.id}})
		}
	case *idleCheck:
		a.checkIdle(ctx)
	}
}

// current reports whether turnID names the turn in progress that has not
// started to finish.
func (a *sessionActor) current(turnID string) bool {
	return a.turn != nil && a.turn.id == turnID && !a.turn.finishing
}

func (a *sessionActor) touch() { a.lastActive = now() }

// start loads the session from the store. A missing session makes the
// actor answer ErrNotFound until it stops itself.
func (a *sessionActor) start(ctx actor.Context) {
	a.self = ctx.Self()
	a.id = strings.TrimPrefix(a.self.Id, NamePrefix)
	a.subs = map[*subscriber]struct{}{}
	a.waiters = map[string]*waiter{}
	a.decided = map[string]struct{}{}
	a.log.max = a.d.Config.MaxTurnEvents
	a.touch()
	if rec, unsaved, ok := a.d.Fresh.take(a.id); ok {
		// Just created: nothing is stored beyond the record, if that.
		a.rec, a.unsaved = rec, unsaved
	} else if !a.load(ctx) {
		return
	}
	// A version-1 snapshot's messages (inline) are written out as records
	// by the next save, since none of them is persisted yet.
	a.indexedUpTo = len(a.snap.Messages)
	a.loaded = true
	if a.d.Observer != nil {
		a.d.Observer.SessionActivated(a.id)
	}
	if a.snap.RunningTurn != "" {
		// The process stopped while this turn ran: record it as interrupted,
		// keeping every message it committed.
		a.recordCutTurn()
	}
	a.armIdle()
}

// load reads the session's record, snapshot and messages from the store.
// A missing session makes the actor answer ErrNotFound until it stops
// itself, and load reports false.
func (a *sessionActor) load(ctx actor.Context) bool {
	rec, err := a.d.Store.Session(a.id)
	if err != nil {
		a.gone = agent.ErrNotFound
		ctx.Poison(ctx.Self())
		return false
	}
	a.rec = rec
	s, err := a.d.Store.LoadSnapshot(a.id)
	inline := false
	switch {
	case err == nil:
		snap, v1, err := decodeSnapshot(s)
		if err != nil {
			a.d.Logger.Error("session snapshot unreadable; starting from its record", "session_id", a.id, "err", err)
		} else {
			a.snap, inline = snap, v1
		}
	case errors.Is(err, persist.ErrNotFound):
	default:
		a.d.Logger.Error("load session snapshot", "session_id", a.id, "err", err)
	}
	if !inline {
		msgs, err := loadMessages(a.d.Store, a.id)
		if err != nil {
			// msgs still holds every message it could read, and a note
			// in place of each one it could not.
			a.d.Logger.Error("load session messages", "session_id", a.id, "err", err)
		}
		a.snap.Messages = msgs
		a.persisted = len(msgs)
	}
	return true
}

// recordCutTurn closes a turn that was running when the process stopped.
func (a *sessionActor) recordCutTurn() {
	a.closeDanglingToolUses("not run: the server stopped during the turn")
	a.recordResult(a.snap.RunningTurn, a.snap.RunningFrom, agent.StopInterrupted, agent.Usage{}, 0)
	a.closeTurn(agent.Usage{})
	a.save(nil)
}

// closeTurn records in the durable state that no turn runs any more: its
// usage is added, the running marker and open requests are cleared.
func (a *sessionActor) closeTurn(usage agent.Usage) {
	a.snap.Usage = a.snap.Usage.Add(usage)
	a.rec.InputTokens, a.rec.OutputTokens = a.snap.Usage.InputTokens, a.snap.Usage.OutputTokens
	a.snap.RunningTurn = ""
	a.snap.Pending = nil
	a.rec.Status = agent.StatusIdle
}

// recordResult keeps the result of turn id (whose first message is at
// from) as the last turn's, for re-attaching, and returns it.
func (a *sessionActor) recordResult(id string, from int, stop agent.StopReason, usage agent.Usage, lastEvent uint64) agent.QueryResult {
	res := a.resultFrom(id, from, stop, usage)
	a.snap.LastTurn = &lastTurn{TurnID: id, Result: res, LastEventID: lastEvent}
	return res
}

// oneShotGrace is how long a one-shot session stays after its turn.
const oneShotGrace = time.Second

func (a *sessionActor) armIdle() {
	d := a.d.Config.Idle
	if a.oneShotIdle {
		d = min(d, oneShotGrace)
	}
	sys, self := a.d.System, a.self
	if a.idleTimer != nil {
		a.idleTimer.Stop()
	}
	a.idleTimer = time.AfterFunc(d/2+time.Millisecond, func() { sys.Root.Send(self, &idleCheck{}) })
}

// checkIdle passivates a session that has been idle long enough and has no
// turn, subscriber or open request; otherwise it re-arms the check.
func (a *sessionActor) checkIdle(ctx actor.Context) {
	busy := a.turn != nil || len(a.subs) > 0 || len(a.waiters) > 0
	idle := a.d.Config.Idle
	if a.oneShotIdle {
		idle = min(idle, oneShotGrace)
	}
	if busy || now().Sub(a.lastActive) < idle {
		a.armIdle()
		return
	}
	// Everything is already durable (saved at every turn boundary and
	// change). Requests queued before the PoisonPill get ErrPassivated,
	// which tells the host to activate the session again and retry.
	a.gone = ErrPassivated
	ctx.Poison(ctx.Self())
}

func (a *sessionActor) stopping() {
	defer func() { _ = recover() }() // a panic in Stopping would revive the actor
	if a.idleTimer != nil {
		a.idleTimer.Stop()
	}
	a.abandon("session stopped")
}

// abandon ends everything in flight when the instance goes away: the
// runner is cancelled, waiters are released, subscribers get an error.
func (a *sessionActor) abandon(reason string) {
	if a.turn != nil {
		a.turn.cancel()
		if !a.turn.finishing {
			a.emit(agent.Event{Kind: agent.KindError, Error: reason})
		}
		a.deliver(Outcome{Err: fmt.Errorf("%w: %s", agent.ErrClosed, reason)})
		a.turn = nil
	}
	for id, w := range a.waiters {
		w.timer.Stop()
		delete(a.waiters, id)
	}
	for sub := range a.subs {
		sub.end()
		delete(a.subs, sub)
	}
}

// deliver hands the turn's outcome to its waiter and releases its slot.
func (a *sessionActor) deliver(o Outcome) {
	if a.turn.outcome != nil {
		a.turn.outcome <- o
		a.turn.outcome = nil
	}
	if a.turn.release != nil {
		a.turn.release()
		a.turn.release = nil
	}
}

func (a *sessionActor) startTurn(m *StartTurn) (*TurnStarted, error) {
	if a.turn != nil {
		if m.Release != nil {
			m.Release()
		}
		return nil, agent.ErrBusy
	}
	// The runner's slot is taken before anything changes: once the host
	// has begun to close, no runner starts.
	if !a.d.Runners.Add() {
		if m.Release != nil {
			m.Release()
		}
		return nil, agent.ErrClosed
	}
	// The request's options go to the runner as they are, with the
	// session's own settings where the request leaves them empty.
	opts := m.Options
	opts.Model = cmp.Or(opts.Model, a.rec.Model)
	opts.SystemPrompt = cmp.Or(opts.SystemPrompt, a.rec.SystemPrompt)
	opts.PermissionMode = cmp.Or(opts.PermissionMode, a.rec.PermissionMode)
	opts.Context = opts.Context.Over(ContextOf(a.rec))
	runCtx, cancel := context.WithCancel(context.Background())
	t := &running{
		id:        agent.NewID(agent.PrefixTurn),
		userID:    m.UserID,
		cancel:    cancel,
		started:   now(),
		release:   m.Release,
		oneShot:   m.OneShot,
		outcome:   make(chan Outcome, 1),
		firstFrom: len(a.snap.Messages),
	}
	a.turn = t
	a.oneShotIdle = false
	a.log.reset(t.id)
	for _, msg := range m.Input {
		if msg.CreatedAt.IsZero() {
			msg.CreatedAt = now()
		}
		a.commit(msg)
	}
	if a.rec.Title == "" {
		a.rec.Title = titleFrom(m.Input)
	}
	a.snap.RunningTurn = t.id
	a.snap.RunningFrom = t.firstFrom
	a.rec.Status = agent.StatusRunning
	if !a.unsaved {
		a.save(nil)
	}
	// Else a one-shot turn's new session, which no one can name until the
	// turn's end: it is written when its turn first has something to show
	// (a pending request, a committed message) or at the end, in one
	// commit with its creation. Until then a crash loses only a call whose
	// caller got no answer.

	started := &TurnStarted{TurnID: t.id, Outcome: t.outcome}
	if m.Subscribe {
		sub, s := newSubscription(a.d.System, a.self, m.UserID, a.d.Config.SubscriberBuffer, nil, false)
		a.subs[s] = struct{}{}
		started.Sub = sub
	}
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
		Type: agent.RuntimeSession, SessionID: a.id, TurnID: t.id,
	}})

	in := turn.Input{
		SessionID:   a.id,
		TurnID:      t.id,
		WorkspaceID: a.rec.WorkspaceID,
		UserID:      m.UserID,
		History:     a.snap.Messages[:len(a.snap.Messages):len(a.snap.Messages)],
		Options:     opts,
		Route:       m.Route,
	}
	s := &sink{sys: a.d.System, self: a.self, turnID: t.id, noAsk: opts.NoAsk}
	runner := a.d.Runner
	sys, self := a.d.System, a.self
	runner.Go(func() {
		defer a.d.Runners.Done()
		var res turn.Result
		func() {
			defer func() {
				if r := recover(); r != nil {
					res = turn.Result{StopReason: agent.StopError, Err: fmt.Errorf("internal error: %v", r)}
				}
			}()
			res = runner.Run(runCtx, &in, s)
		}()
		sys.Root.Send(self, &turnDone{turnID: t.id, res: res})
	})
	return started, nil
}

// ContextOf returns the session-level part of a turn's context, as the
// session record keeps it.
func ContextOf(rec persist.Session) agent.TurnContext {
	c := agent.TurnContext{CorpusIDs: rec.CorpusIDs, AgentID: rec.AgentID, AgentVersion: rec.AgentVersion}
	if rec.Memory != nil {
		c.Memory = &agent.MemoryPolicy{Extract: rec.Memory.Extract, Inject: rec.Memory.Inject}
	}
	return c
}

// titleFrom makes a title from the first line of a turn's text.
func titleFrom(in []agent.Message) string {
	for _, m := range in {
		for _, line := range strings.Split(m.Text(), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "@") {
				continue
			}
			if r := []rune(line); len(r) > 80 {
				line = string(r[:80])
			}
			return line
		}
	}
	return ""
}

// commit appends a finished message to the history.
func (a *sessionActor) commit(msg agent.Message) {
	if msg.CreatedAt.IsZero() {
		msg.CreatedAt = now()
	}
	a.snap.Messages = append(a.snap.Messages, msg)
	a.rec.MessageCount = len(a.snap.Messages)
	a.rec.UpdatedAt = now()
}

// emit logs ev as the turn's next event and fans it out. A subscriber whose
// channel is full is dropped; the turn goes on.
func (a *sessionActor) emit(ev agent.Event) {
	p := a.log.append(ev)
	if a.turn != nil && !a.turn.gotFirst && p.Kind != agent.KindRuntime {
		a.turn.gotFirst = true
		if a.d.Observer != nil {
			a.d.Observer.FirstEvent(time.Since(a.turn.started))
		}
	}
	if len(a.subs) == 0 {
		return
	}
	// Subscribers share the log's copy; a channel of pointers keeps each
	// subscriber's buffer small (8 bytes a slot, not a whole Event).
	for sub := range a.subs {
		select {
		case sub.ch <- p:
			sub.poke()
		default:
			delete(a.subs, sub)
			sub.end()
			if a.d.Observer != nil {
				a.d.Observer.SubscriberDropped()
			}
		}
	}
}

func (a *sessionActor) onRunnerEvent(ev agent.Event) {
	switch ev.Kind {
	case agent.KindDelta, agent.KindRuntime:
	default:
		return // the actor alone ends turns
	}
	if ev.Runtime != nil {
		ev.Runtime.SessionID = a.id
	}
	a.emit(ev)
}

// attach subscribes to the current or last turn after cursor n.
func (a *sessionActor) attach(n uint64, userID string) *Subscription {
	buf := a.d.Config.SubscriberBuffer
	if a.log.turnID == "" && a.snap.LastTurn != nil {
		// The log did not survive a restart: give the turn's outcome.
		lt := a.snap.LastTurn
		res := lt.Result
		last := lt.LastEventID
		if last < 2 {
			last = 2
		}
		if lt.LastEventID == 0 && n >= last {
			// A turn cut by a crash (or a node's death) has no known last
			// event: a client that saw some of its events still gets the
			// outcome, numbered after what it saw.
			last = n + 2
		}
		var replay []agent.Event
		if n < last {
			resync := agent.Event{ID: last - 1, Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeResync, SessionID: a.id, TurnID: lt.TurnID}}
			resync.Encode()
			done := agent.Event{ID: last, Kind: agent.KindDone, Result: &res}
			done.Encode()
			replay = []agent.Event{resync, done}
		}
		sub, _ := newSubscription(a.d.System, a.self, userID, 0, replay, len(replay) > 0)
		ch := make(chan *agent.Event)
		close(ch)
		sub.C = ch
		return sub
	}
	replay, resync := a.log.after(n)
	if resync {
		// The notice takes the id just before the oldest kept event: the
		// events up to it are the ones the client can no longer get.
		ev := agent.Event{ID: replay[0].ID - 1, Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeResync, SessionID: a.id, TurnID: a.log.turnID}}
		ev.Encode()
		replay = append([]agent.Event{ev}, replay...)
	}
	sub, s := newSubscription(a.d.System, a.self, userID, buf, replay, resync)
	if a.log.ended() || (a.turn == nil && a.log.turnID != "") {
		s.end()
		return sub
	}
	a.subs[s] = struct{}{}
	if a.turn == nil {
		// It waits for the next turn, for the idle lifetime at most.
		sys, self := a.d.System, a.self
		s.idle = time.AfterFunc(a.d.Config.StreamIdleLifetime, func() { sys.Root.Send(self, &streamIdle{sub: s}) })
	}
	return sub
}

// endUser ends a user's streams, each with a last `error` event of its
// own, and interrupts their running turn.
func (a *sessionActor) endUser(m *EndUser) {
	for sub := range a.subs {
		if sub.userID == m.UserID {
			delete(a.subs, sub)
			finalTo(sub, agent.Event{Kind: agent.KindError, Error: m.Reason})
		}
	}
	if a.turn != nil && a.turn.userID == m.UserID {
		a.interrupt()
	}
}

func (a *sessionActor) interrupt() bool {
	t := a.turn
	if t == nil || t.finishing {
		return false
	}
	if t.interrupted {
		return true
	}
	t.interrupted = true
	t.cancel()
	a.releaseWaiters("interrupted")
	sys, self, id := a.d.System, a.self, t.id
	time.AfterFunc(a.d.Config.InterruptGrace, func() { sys.Root.Send(self, &forceFinish{turnID: id}) })
	return true
}

// finish ends the running turn: it records the outcome and saves; the
// `done` (or `error`) event follows once the save is durable.
func (a *sessionActor) finish(stop agent.StopReason, err error) {
	t := a.turn
	t.cancel()
	t.finishing = true
	a.releaseWaiters("turn ended")
	if t.interrupted {
		stop, err = agent.StopInterrupted, nil
	}
	if stop == "" {
		stop = agent.StopEndTurn
	}
	if t.interrupted {
		// A runner that did not wind down in time may have left tool calls
		// unanswered; later messages of this turn are dropped as stale.
		a.closeDanglingToolUses("interrupted")
		a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeInterrupted, SessionID: a.id, TurnID: t.id}})
	}
	a.closeTurn(t.usage)
	if err != nil {
		t.stop = agent.StopError
		t.final = Outcome{Err: err}
	} else {
		res := a.recordResult(t.id, t.firstFrom, stop, t.usage, a.log.next)
		res.RAGResults = append(res.RAGResults, t.used.Sources...)
		for _, m := range t.used.Memories {
			res.MemoriesUsed = append(res.MemoriesUsed, m.ID)
		}
		res.PlanID = t.used.PlanID
		a.snap.LastTurn.Result = res
		t.stop = stop
		t.final = Outcome{Result: &res}
	}
	sys, self, id := a.d.System, a.self, t.id
	a.save(func(err error) { sys.Root.Send(self, &turnSaved{turnID: id, err: err}) })
}

func (a *sessionActor) onTurnSaved(ctx actor.Context, m *turnSaved) {
	t := a.turn
	if t == nil || t.id != m.turnID {
		return
	}
	o := t.final
	if m.err != nil && o.Err == nil {
		a.d.Logger.Error("save session at turn end", "session_id", a.id, "turn_id", t.id, "err", m.err)
		o = Outcome{Err: errors.New("the turn could not be saved")}
	}
	// Free the user's turn slot before the end is visible: a client that
	// starts its next turn on `done` must not find the slot still taken.
	if t.release != nil {
		t.release()
		t.release = nil
	}
	if o.Err != nil {
		a.emit(agent.Event{Kind: agent.KindError, Error: o.Err.Error()})
		o.Err = fmt.Errorf("%w: %w", agent.ErrTurnFailed, o.Err)
	} else {
		a.emit(agent.Event{Kind: agent.KindDone, Result: o.Result})
	}
	for sub := range a.subs {
		sub.end()
		delete(a.subs, sub)
	}
	if a.d.Observer != nil {
		a.d.Observer.TurnEnded(t.stop, o.Err != nil, time.Since(t.started))
	}
	if t.oneShot && m.err == nil && len(a.waiters) == 0 {
		// Everything is durable and the caller will not come back: stop
		// now, before the outcome is delivered, so that nothing of the
		// session stays in memory. A request that still comes (the
		// session's id was in the answer) gets ErrPassivated, which makes
		// the host activate the session again from the store.
		a.gone = ErrPassivated
		ctx.Poison(ctx.Self())
	}
	a.deliver(o)
	a.turn = nil
	a.touch()
	if t.oneShot && a.gone == nil {
		// A one-shot turn whose end could not be saved stays for a short
		// grace, through the idle check, with what it holds in memory.
		a.oneShotIdle = true
		a.armIdle()
	}
}

// resultFrom builds the query response of a turn from the messages it
// committed, so that an interrupted turn reports exactly what was kept.
func (a *sessionActor) resultFrom(turnID string, from int, stop agent.StopReason, usage agent.Usage) agent.QueryResult {
	res := agent.QueryResult{SessionID: a.id, TurnID: turnID, StopReason: stop, Usage: usage}
	if from > len(a.snap.Messages) {
		from = len(a.snap.Messages)
	}
	msgs := a.snap.Messages[from:]
	for i, m := range msgs {
		switch m.Role {
		case agent.RoleAssistant:
			res.Content = m.Text()
			for _, b := range m.Content {
				if b.Type == agent.BlockToolUse {
					res.ToolUses = append(res.ToolUses, agent.ToolUse{ID: b.ID, Name: b.Name, Input: b.Input})
				}
			}
		case agent.RoleUser:
			if i == 0 {
				continue
			}
			for _, b := range m.Content {
				if b.Type == agent.BlockToolResult {
					res.ToolResults = append(res.ToolResults, agent.ToolResult{ToolUseID: b.ToolUseID, IsError: b.IsError, Content: b.Content})
				}
			}
		}
	}
	res.Messages = append([]agent.Message(nil), msgs...)
	res.Normalize()
	return res
}

// view shares the history and the open requests with the caller: messages
// are only ever appended and pending requests replaced, never changed in
// place, and the slices are capped so that a later append cannot write
// into what the caller holds.
func (a *sessionActor) view() View {
	msgs, pending := a.snap.Messages, a.snap.Pending
	if msgs == nil {
		msgs = []agent.Message{}
	}
	return View{Session: a.rec, Messages: msgs[:len(msgs):len(msgs)], Pending: pending[:len(pending):len(pending)]}
}

func (a *sessionActor) update(m *Update) (View, error) {
	if m.PermissionMode != nil && !agent.ValidMode(*m.PermissionMode) {
		return View{}, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	if m.Title != nil {
		a.rec.Title = *m.Title
	}
	if m.Model != nil {
		a.rec.Model = *m.Model
	}
	if m.SystemPrompt != nil {
		a.rec.SystemPrompt = *m.SystemPrompt
	}
	if m.PermissionMode != nil {
		a.rec.PermissionMode = *m.PermissionMode
	}
	a.rec.UpdatedAt = now()
	a.save(nil)
	return a.view(), nil
}

func (a *sessionActor) delete(ctx actor.Context) error {
	a.abandon("session deleted")
	// A save after this must never create what is being deleted.
	a.unsaved = false
	if err := a.d.Store.DeleteSession(context.Background(), a.id); err != nil && !errors.Is(err, persist.ErrNotFound) {
		return err
	}
	a.gone = agent.ErrNotFound
	ctx.Poison(ctx.Self())
	return nil
}

// passivate stops the actor for the host (at shutdown). Every change is
// queued to the store as it happens, so an actor without a running turn
// has nothing left to write and answers at once. A running turn is cut:
// recorded as interrupted and saved, and the answer goes to the requester
// from the commit callback, so the mailbox never waits on the disk.
func (a *sessionActor) passivate(ctx actor.Context, reason string) {
	cut := a.turn != nil && !a.turn.finishing
	if cut {
		t := a.turn
		t.cancel()
		a.closeDanglingToolUses("not run: the server shut down during the turn")
		a.recordResult(t.id, t.firstFrom, agent.StopInterrupted, t.usage, a.log.next)
		a.closeTurn(t.usage)
	}
	a.abandon(reason)
	a.gone = agent.ErrClosed
	ctx.Poison(ctx.Self())
	if !cut {
		ctx.Respond(Reply[Done]{})
		return
	}
	sender, sys := ctx.Sender(), a.d.System
	a.save(func(err error) {
		if sender != nil {
			sys.Root.Send(sender, Reply[Done]{Err: err})
		}
	})
}

// save writes the record and snapshot through the group-commit writer.
// done, if not nil, runs on the writer goroutine once durable.
func (a *sessionActor) save(done func(error)) {
	a.saveDue = false
	snap, err := a.snap.encode()
	if err != nil {
		a.d.Logger.Error("encode session snapshot", "session_id", a.id, "err", err)
		if done != nil {
			done(err)
		}
		return
	}
	from := a.persisted
	msgs, err := encodeMessages(a.snap.Messages[from:])
	if err != nil {
		a.d.Logger.Error("encode session message", "session_id", a.id, "err", err)
		if done != nil {
			done(err)
		}
		return
	}
	// The store indexes the record's title itself.
	idx := indexText(a.snap.Messages[a.indexedUpTo:])
	a.indexedUpTo = len(a.snap.Messages)
	if done == nil {
		id, log := a.id, a.d.Logger
		done = func(err error) {
			if err != nil && !errors.Is(err, persist.ErrNotFound) {
				log.Error("save session", "session_id", id, "err", err)
			}
		}
	}
	upTo, sys, self, next := len(a.snap.Messages), a.d.System, a.self, done
	if len(msgs) > 0 {
		done = func(err error) {
			if err == nil {
				sys.Root.Send(self, &messagesSaved{upTo: upTo})
			}
			next(err)
		}
	}
	a.d.Store.SaveSession(persist.SessionSave{
		Session: a.rec, Snapshot: snap, IndexText: idx, Messages: msgs, MessagesFrom: from, Create: a.unsaved,
	}, done)
	// The store's writer commits in order: every later save finds the
	// session created (or fails as this one did).
	a.unsaved = false
}

// encodeMessages returns the JSON of each message, as encoding/json
// writes it, all in one buffer.
func encodeMessages(ms []agent.Message) ([][]byte, error) {
	if len(ms) == 0 {
		return [][]byte{}, nil
	}
	size := 0
	for i := range ms {
		size += 64
		for j := range ms[i].Content {
			b := &ms[i].Content[j]
			size += 48 + len(b.Text) + len(b.Input) + len(b.Content) + len(b.ID) + len(b.Name) + len(b.ToolUseID) + len(b.Signature)
		}
	}
	buf := make([]byte, 0, size+size/8)
	ends := make([]int, len(ms))
	for i := range ms {
		var err error
		if buf, err = ms[i].AppendJSON(buf); err != nil {
			// encoding/json names what it refused.
			_, err = json.Marshal(ms[i])
			return nil, err
		}
		ends[i] = len(buf)
	}
	out := make([][]byte, len(ms))
	start := 0
	for i, end := range ends {
		out[i] = buf[start:end:end]
		start = end
	}
	return out, nil
}

// indexText is the text of ms the store indexes for search: each
// message's text blocks run together, one message per line, messages
// without text left out.
func indexText(ms []agent.Message) string {
	size := 0
	for i := range ms {
		for _, b := range ms[i].Content {
			if b.Type == agent.BlockText {
				size += len(b.Text) + 1
			}
		}
	}
	if size == 0 {
		return ""
	}
	var idx strings.Builder
	idx.Grow(size)
	for i := range ms {
		line := false
		for _, b := range ms[i].Content {
			if b.Type != agent.BlockText || b.Text == "" {
				continue
			}
			if !line && idx.Len() > 0 {
				idx.WriteByte('\n')
			}
			line = true
			idx.WriteString(b.Text)
		}
	}
	return idx.String()
}

// closeDanglingToolUses answers, with an error result, the tool calls of
// the last assistant message that have no result: a turn cut while a tool
// ran leaves them, and model APIs reject a conversation with a tool call
// left unanswered, which would make the session unusable.
func (a *sessionActor) closeDanglingToolUses(reason string) {
	msgs := a.snap.Messages
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != agent.RoleAssistant {
		return
	}
	var results []agent.Block
	for _, b := range msgs[len(msgs)-1].Content {
		if b.Type == agent.BlockToolUse {
			results = append(results, agent.Block{Type: agent.BlockToolResult, ToolUseID: b.ID, Content: reason, IsError: true})
		}
	}
	if len(results) > 0 {
		a.commit(agent.Message{Role: agent.RoleUser, Content: results})
	}
}

// commitSaveDelay is how long messages a turn commits may wait to be
// saved together. The turn's end saves at once, so a short turn writes its
// snapshot twice (start and end), not once per message as well; a long
// turn's messages are durable within this delay plus one commit.
const commitSaveDelay = 5 * time.Millisecond

// saveSoon schedules a save after commitSaveDelay unless one is due.
func (a *sessionActor) saveSoon() {
	if a.saveDue {
		return
	}
	a.saveDue = true
	sys, self := a.d.System, a.self
	time.AfterFunc(commitSaveDelay, func() { sys.Root.Send(self, &saveTick{}) })
}
