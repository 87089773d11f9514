package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Why a run's context is cancelled. The run goroutine interrupts the turn
// for all but errShutdown: at shutdown the sessions end their own turns.
var (
	errRemoved   = errors.New("the job was deleted")
	errShutdown  = errors.New("interrupted: the server shut down")
	errRestarted = errors.New("interrupted: the job's actor restarted after an internal error")
)

// activeRun is the run in progress.
type activeRun struct {
	rec    persist.JobRun
	cancel context.CancelCauseFunc
	// start starts the run's goroutine; a due run's waits for its record
	// to be durable (runRecorded), since the record is the lock that
	// starts a due time's run once among hosts sharing the store.
	start func()
}

// recheck makes a job actor re-read its job (see Rearm).
type recheck struct{}

// runRecorded reports that a due run's first record is durable (err nil),
// or was refused.
type runRecorded struct {
	runID string
	err   error
}

// jobActor owns one job: its schedule, its timer and its run in progress.
// Every field is touched only inside Receive.
type jobActor struct {
	d    *Deps
	id   string
	self *actor.PID
	job  persist.Job
	// gone is set once the job is missing from the store; requests then
	// get agent.ErrNotFound until the actor stops.
	gone bool
	// removed is set by Remove: stopping then interrupts the run's turn.
	removed bool

	sched Schedule
	timer Timer
	// gen numbers the armings; a fire of an older one is stale.
	gen uint64
	// due is the instant the timer fires; zero while disarmed.
	due time.Time

	run *activeRun
}

// Receive is the actor's single entry point.
func (a *jobActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
		return
	case *actor.Restarting:
		a.shutdown(errRestarted)
		return
	case *actor.Stopping:
		defer func() { _ = recover() }() // a panic in Stopping would revive the actor
		cause := errShutdown
		if a.removed {
			cause = errRemoved
		}
		a.shutdown(cause)
		return
	}
	switch ctx.Message().(type) {
	case *Remove:
		a.removed = true
		ctx.Respond(Reply{})
		ctx.Stop(ctx.Self())
		return
	case *Sync, *RunNow:
		if a.gone {
			ctx.Respond(Reply{Err: fmt.Errorf("%w: job %s", agent.ErrNotFound, a.id)})
			return
		}
	}
	switch m := ctx.Message().(type) {
	case *Sync:
		a.sync(ctx)
	case *RunNow:
		if a.run != nil {
			ctx.Respond(Reply{Err: fmt.Errorf("%w: job %s has a run in progress (%s)", agent.ErrConflict, a.id, a.run.rec.ID)})
			return
		}
		a.startRun(time.Time{}, nil, ctx.Sender())
	case *fire:
		a.fire(m)
	case *runRecorded:
		a.runRecorded(m)
	case *recheck:
		if job, err := a.d.Store.Job(a.id); err == nil {
			a.apply(job, false)
		}
	case *runStarted:
		a.runStarted(m)
	case *runEnded:
		a.runEnded(m)
	}
}

func (a *jobActor) now() time.Time { return a.d.Config.Clock.Now() }

// start loads the job and arms it if enabled. A missing job stops the
// actor (its deletion raced the request that started it).
func (a *jobActor) start(ctx actor.Context) {
	a.self = ctx.Self()
	a.id = strings.TrimPrefix(a.self.Id, SupervisorName+"/")
	job, err := a.d.Store.Job(a.id)
	if err != nil {
		if !errors.Is(err, persist.ErrNotFound) {
			a.d.Logger.Error("load job", "job_id", a.id, "err", err)
		}
		a.gone = true
		ctx.Poison(ctx.Self())
		return
	}
	a.apply(job, true)
	if !a.due.IsZero() {
		a.d.Store.SetJobNextRun(a.id, a.due, a.logWrite("next run"))
	}
}

// sync reloads the job and answers with its next fire time once durable.
func (a *jobActor) sync(ctx actor.Context) {
	job, err := a.d.Store.Job(a.id)
	if err != nil {
		if errors.Is(err, persist.ErrNotFound) {
			a.disarm()
			a.gone = true
			err = fmt.Errorf("%w: job %s", agent.ErrNotFound, a.id)
		}
		ctx.Respond(Reply{Err: err})
		return
	}
	a.apply(job, false)
	next, reply := a.due, a.replier(ctx.Sender())
	a.d.Store.SetJobNextRun(a.id, next, func(err error) { reply(Reply{Value: next, Err: err}) })
}

// apply takes a new record of the job. The timer is re-armed, from now,
// only if what decides it changed (or force is set): editing a job's name
// or prompt leaves an `@every` job's phase alone.
func (a *jobActor) apply(job persist.Job, force bool) {
	prev := a.job
	a.job = job
	same := prev.Schedule == job.Schedule && prev.Timezone == job.Timezone && prev.Enabled == job.Enabled
	if !force && same && (job.Enabled == !a.due.IsZero()) {
		return
	}
	a.disarm()
	if !job.Enabled {
		return
	}
	s, err := ParseSchedule(job.Schedule, job.Timezone)
	if err != nil {
		a.d.Logger.Error("job schedule unreadable; not armed", "job_id", a.id, "err", err)
		return
	}
	a.sched = s
	a.arm(a.now())
}

// arm sets the timer for the first fire time after from and returns it
// (zero, and disarmed, if the schedule never fires again).
func (a *jobActor) arm(from time.Time) time.Time {
	next := a.sched.Next(from)
	if next.IsZero() {
		a.disarm()
		return next
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.gen++
	gen, root, self := a.gen, a.d.System.Root, a.self
	a.timer = a.d.Config.Clock.AfterFunc(next.Sub(a.now()), func() {
		root.Send(self, &fire{gen: gen, due: next})
	})
	if a.due.IsZero() {
		a.d.Observer.JobArmed()
	}
	a.due = next
	return next
}

func (a *jobActor) disarm() {
	a.gen++
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if !a.due.IsZero() {
		a.due = time.Time{}
		a.d.Observer.JobDisarmed()
	}
}

// fire runs the job, or records a skipped run if the previous one still
// runs, and re-arms from the due instant (or now, if the timer was late:
// fire times missed meanwhile are not replayed).
func (a *jobActor) fire(m *fire) {
	if m.gen != a.gen || a.due.IsZero() {
		return
	}
	a.timer = nil
	// Another host sharing the store may have changed, disabled or
	// deleted the job since this one armed it: fire only as it stands.
	if job, err := a.d.Store.Job(a.id); errors.Is(err, persist.ErrNotFound) {
		a.disarm()
		a.gone = true
		return
	} else if err == nil && (job.Schedule != a.job.Schedule || job.Timezone != a.job.Timezone || !job.Enabled) {
		a.apply(job, false)
		return
	} else if err == nil {
		a.job = job
	}
	now := a.now()
	next := a.arm(later(now, m.due))
	if a.run != nil {
		rec := persist.JobRun{
			ID: agent.NewID(agent.PrefixRun), JobID: a.id, Status: persist.RunSkipped,
			Error:       fmt.Sprintf("the previous run (%s) was still running", a.run.rec.ID),
			ScheduledAt: m.due, StartedAt: now, FinishedAt: now,
		}
		a.d.Observer.RunRecorded(persist.RunSkipped)
		a.putRun(rec, &next, nil)
		return
	}
	a.startRun(m.due, &next, nil)
}

// startRun records a run as running and starts its goroutine. due is zero
// for a run on request; sender, if not nil, gets the run id once the
// record is durable.
func (a *jobActor) startRun(due time.Time, next *time.Time, sender *actor.PID) {
	rec := persist.JobRun{
		ID: agent.NewID(agent.PrefixRun), JobID: a.id, Status: persist.RunRunning,
		ScheduledAt: due, StartedAt: a.now(),
		// Without a session of the job's, the run's turn makes one, which
		// goes with the run.
		OwnSession: a.job.SessionID == "",
	}
	runCtx, cancel := context.WithCancelCause(context.Background())
	req := TurnRequest{
		UserID: a.job.UserID, SessionID: a.job.SessionID, WorkspaceID: a.job.WorkspaceID,
		Prompt: a.job.Prompt, Model: a.job.Model, PermissionMode: a.job.PermissionMode,
	}
	d, self := a.d, a.self
	start := func() {
		d.Runners.Add(1)
		go runTurn(runCtx, d, self, rec.ID, req)
	}
	a.run = &activeRun{rec: rec, cancel: cancel, start: start}
	if due.IsZero() {
		// A run on request is this host's alone.
		reply := a.replier(sender)
		a.putRun(rec, next, func(err error) { reply(Reply{Value: rec.ID, Err: err}) })
		start()
		return
	}
	sys := a.d.System
	a.putRun(rec, next, func(err error) { sys.Root.Send(self, &runRecorded{runID: rec.ID, err: err}) })
}

// runRecorded starts a due run whose record is durable, or drops one
// whose due time another host's run took (or whose record failed).
func (a *jobActor) runRecorded(m *runRecorded) {
	if a.run == nil || a.run.rec.ID != m.runID {
		return
	}
	if m.err != nil {
		a.run.cancel(m.err)
		a.run = nil
		return
	}
	a.run.start()
}

func (a *jobActor) runStarted(m *runStarted) {
	if a.run == nil || a.run.rec.ID != m.runID {
		return
	}
	r := &a.run.rec
	r.SessionID, r.TurnID = m.sessionID, m.turnID
	if !r.ScheduledAt.IsZero() {
		a.d.Observer.ScheduleLag(a.now().Sub(r.ScheduledAt))
	}
	a.putRun(*r, nil, nil)
}

func (a *jobActor) runEnded(m *runEnded) {
	if a.run == nil || a.run.rec.ID != m.runID {
		return
	}
	rec := a.run.rec
	a.run.cancel(nil)
	a.run = nil
	rec.FinishedAt = a.now()
	settle(&rec, m.res, m.err)
	// Counted before the write is queued: whoever sees the run stored
	// sees it counted too.
	a.d.Observer.RunRecorded(rec.Status)
	a.putRun(rec, nil, nil)
}

// settle fills in how a run ended. A turn that ended normally (end_turn,
// max_turns, max_tokens) succeeded; one that was interrupted, failed or
// could not start failed.
func settle(rec *persist.JobRun, res *agent.QueryResult, err error) {
	if res != nil {
		if rec.SessionID == "" {
			rec.SessionID = res.SessionID
		}
		if rec.TurnID == "" {
			rec.TurnID = res.TurnID
		}
		rec.StopReason = string(res.StopReason)
	}
	switch {
	case err != nil:
		rec.Status, rec.Error = persist.RunFailed, err.Error()
	case res == nil:
		rec.Status, rec.Error = persist.RunFailed, "the turn ended without a result"
	case res.StopReason == agent.StopInterrupted:
		rec.Status, rec.Error = persist.RunFailed, "the turn was interrupted"
	default:
		rec.Status = persist.RunSucceeded
	}
}

// shutdown ends what the instance owns when it stops or restarts: the
// timer, and the run in progress, which is recorded as failed (unless the
// job was deleted, runs and all).
func (a *jobActor) shutdown(cause error) {
	a.disarm()
	if a.run == nil {
		return
	}
	a.run.cancel(cause)
	if cause != errRemoved {
		rec := a.run.rec
		rec.Status, rec.StopReason, rec.Error, rec.FinishedAt = persist.RunFailed, string(agent.StopInterrupted), cause.Error(), a.now()
		a.d.Observer.RunRecorded(persist.RunFailed)
		a.putRun(rec, nil, nil)
	}
	a.run = nil
}

// putRun queues a write of rec (group commit). done, if not nil, gets
// the result on the writer goroutine.
func (a *jobActor) putRun(rec persist.JobRun, next *time.Time, done func(error)) {
	logged := a.logWrite("run " + rec.ID)
	a.d.Store.PutRun(persist.RunSave{Run: rec, Keep: a.d.Config.RunHistory, NextRunAt: next}, func(err error) {
		logged(err)
		if done != nil {
			done(err)
		}
	})
}

// logWrite returns a write callback that logs failures other than the
// job being gone (deleted meanwhile). It runs on the writer goroutine.
func (a *jobActor) logWrite(what string) func(error) {
	log, id := a.d.Logger, a.id
	return func(err error) {
		if err != nil && !errors.Is(err, persist.ErrNotFound) && !errors.Is(err, persist.ErrRunTaken) {
			log.Error("save job "+what, "job_id", id, "err", err)
		}
	}
}

// replier returns a func that answers sender from any goroutine (nil:
// no one asked).
func (a *jobActor) replier(sender *actor.PID) func(Reply) {
	root := a.d.System.Root
	return func(r Reply) {
		if sender != nil {
			root.Send(sender, r)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
