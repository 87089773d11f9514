package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
)

// SupervisorName is the actor name of the scheduler; job actors are its
// children, named SupervisorName + "/" + job id.
const SupervisorName = "jobs"

// restartReason is the error of runs a crash left running.
const restartReason = "interrupted by restart"

// Props returns the props of the scheduler actor. opts apply to it alone
// (the host passes actor.WithGuardian); its job actors are supervised by
// it and restarted after a panic, up to 10 times in 10s.
func Props(d *Deps, opts ...actor.PropsOption) *actor.Props {
	d.withDefaults()
	jobProps := actor.PropsFromProducer(func() actor.Actor { return &jobActor{d: d} },
		actor.WithReceiverMiddleware(logPanics(d.Logger)))
	strategy := actor.NewOneForOneStrategy(10, 10*time.Second, func(any) actor.Directive { return actor.RestartDirective })
	all := append([]actor.PropsOption{
		actor.WithSupervisor(strategy),
		actor.WithReceiverMiddleware(logPanics(d.Logger)),
	}, opts...)
	return actor.PropsFromProducer(func() actor.Actor { return &supervisor{d: d, jobProps: jobProps} }, all...)
}

// Start spawns the scheduler in d.System and waits until it has started
// the actor of every enabled job; each arms itself as it starts. First,
// runs a crash left running are recorded as failed ("interrupted by
// restart"); runs missed while the server was down are not replayed: each
// job fires next at its first due instant after now. A second Start while
// the scheduler runs is agent.ErrConflict. Props fills in d's optional
// fields.
func Start(ctx context.Context, d *Deps, opts ...actor.PropsOption) error {
	if d.System == nil || d.Store == nil || d.Turns == nil {
		return errors.New("jobs: Deps.System, Store and Turns are required")
	}
	pid, err := d.System.Root.SpawnNamed(Props(d, opts...), SupervisorName)
	if errors.Is(err, actor.ErrNameExists) {
		return fmt.Errorf("%w: the scheduler is already running", agent.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("jobs: start scheduler: %w", err)
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if _, err := d.System.Root.RequestFuture(pid, &ready{}, timeout).Result(); err != nil {
		return fmt.Errorf("jobs: scheduler did not start: %w", err)
	}
	return nil
}

// Stop stops the scheduler of sys and every job actor: timers are
// disarmed, runs in progress are recorded as failed ("interrupted: the
// server shut down") and their goroutines return at once, leaving the
// turns to end with their sessions. It returns when the actors have
// stopped or ctx is done. Stopping a scheduler that is not running is a
// no-op.
func Stop(ctx context.Context, sys *actor.ActorSystem) error {
	f := sys.Root.PoisonFuture(actor.NewPID(sys.Address(), SupervisorName))
	done := make(chan error, 1)
	go func() {
		_, err := f.Result()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("jobs: stop scheduler: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs: stop scheduler: %w", ctx.Err())
	}
}

// supervisor is the scheduler actor: the parent of the job actors. It
// holds no state of its own beyond its children, which protoactor keeps.
type supervisor struct {
	d        *Deps
	jobProps *actor.Props
}

// Receive is the scheduler's single entry point.
func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *ready:
		ctx.Respond(Reply{Value: len(ctx.Children())})
	case *Sync:
		s.forward(ctx, m.JobID, true)
	case *Rearm:
		ctx.Respond(Reply{Value: s.rearm(ctx)})
	case *RunNow:
		s.forward(ctx, m.JobID, true)
	case *Remove:
		s.forward(ctx, m.JobID, false)
	}
}

// start fails the runs a crash left running and arms every enabled job.
// On a restart after a panic protoactor has stopped the children first
// (each recorded its own run), so this finds nothing left running.
func (s *supervisor) start(ctx actor.Context) {
	n, err := s.d.Store.FailRunningRuns(context.Background(), restartReason, s.d.Config.Clock.Now())
	if err != nil {
		s.d.Logger.Error("record runs cut by a restart", "err", err)
	} else if n > 0 {
		s.d.Logger.Info("recorded runs cut by a restart as failed", "runs", n)
	}
	list, err := s.d.Store.ListEnabledJobs()
	if err != nil {
		s.d.Logger.Error("list enabled jobs; none armed", "err", err)
		return
	}
	for _, j := range list {
		if _, err := ctx.SpawnNamed(s.jobProps, j.ID); err != nil && !errors.Is(err, actor.ErrNameExists) {
			s.d.Logger.Error("start job actor", "job_id", j.ID, "err", err)
		}
	}
	s.d.Logger.Info("scheduler started", "jobs", len(list))
}

// rearm spawns the actors of enabled jobs that have none.
func (s *supervisor) rearm(ctx actor.Context) int {
	list, err := s.d.Store.ListEnabledJobs()
	if err != nil {
		s.d.Logger.Error("list enabled jobs to re-arm", "err", err)
		return 0
	}
	n := 0
	for _, j := range list {
		if pid, err := ctx.SpawnNamed(s.jobProps, j.ID); err == nil {
			n++
		} else if errors.Is(err, actor.ErrNameExists) {
			// Armed here already: take what another host changed.
			ctx.Send(pid, &recheck{})
		} else {
			s.d.Logger.Error("start job actor", "job_id", j.ID, "err", err)
		}
	}
	return n
}

// forward hands a request to the job's actor, starting it if spawn is set,
// with the original sender so that the job actor answers it directly.
func (s *supervisor) forward(ctx actor.Context, jobID string, spawn bool) {
	if !agent.ValidID(agent.PrefixJob, jobID) {
		ctx.Respond(Reply{Err: fmt.Errorf("%w: job %s", agent.ErrNotFound, jobID)})
		return
	}
	var pid *actor.PID
	if spawn {
		var err error
		pid, err = ctx.SpawnNamed(s.jobProps, jobID)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			ctx.Respond(Reply{Err: fmt.Errorf("start job actor %s: %w", jobID, err)})
			return
		}
	} else {
		pid = actor.NewPID(ctx.Self().Address, ctx.Self().Id+"/"+jobID)
	}
	ctx.Forward(pid)
}

// logPanics logs a panicking message's stack and re-panics so that
// supervision still restarts the actor (protoactor logs no stack).
func logPanics(log *slog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("job actor panic", "actor", c.Self().Id, "msg", fmt.Sprintf("%T", env.Message),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}
