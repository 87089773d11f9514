package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"
)

// runTurn is a run's goroutine: it starts the turn, reports it to the
// job actor, waits for its end and reports that. It never touches the
// actor's state; results go back as messages. If ctx is cancelled it
// returns at once, after interrupting the turn unless the server is
// shutting down (the sessions then end their turns themselves).
func runTurn(ctx context.Context, d *Deps, self *actor.PID, runID string, req TurnRequest) {
	defer d.Runners.Done()
	root := d.System.Root
	defer func() {
		if r := recover(); r != nil {
			d.Logger.Error("job run panicked", "run_id", runID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			root.Send(self, &runEnded{runID: runID, err: fmt.Errorf("internal error: %v", r)})
		}
	}()
	// Starting is not cancelled half-way: either the turn starts and is
	// interrupted below, or it does not start.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Config.StartTimeout)
	t, err := d.Turns.StartTurn(sctx, req)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			root.Send(self, &runEnded{runID: runID, err: err})
		}
		return
	}
	if ctx.Err() != nil {
		abandon(ctx, d, req.UserID, t.SessionID)
		return
	}
	root.Send(self, &runStarted{runID: runID, sessionID: t.SessionID, turnID: t.TurnID})
	res, err := t.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		abandon(ctx, d, req.UserID, t.SessionID)
		return
	}
	root.Send(self, &runEnded{runID: runID, res: res, err: err})
}

// abandon interrupts the turn of a cancelled run, unless the cancel is a
// shutdown.
func abandon(ctx context.Context, d *Deps, userID, sessionID string) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errShutdown) {
		return
	}
	ictx, cancel := context.WithTimeout(context.Background(), d.Config.StartTimeout)
	defer cancel()
	if _, err := d.Turns.Interrupt(ictx, userID, sessionID); err != nil {
		d.Logger.Warn("interrupt the turn of a cancelled job run", "session_id", sessionID, "cause", cause, "err", err)
	}
}
