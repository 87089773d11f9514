package host

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/session"
)

// Passivate stops session id's actor if it is in memory: a running turn
// ends as interrupted, its streams get an `error` event, and a final
// snapshot is written. It returns once the actor has stopped; a session
// with no actor is a no-op. A cluster node calls it when the session moves
// to another node, so that this node's copy can no longer serve it.
func (h *Host) Passivate(ctx context.Context, id, reason string) error {
	if !h.isLive(id) {
		return nil
	}
	pid := actor.NewPID(h.sys.Address(), session.NamePrefix+id)
	res, err := h.sys.Root.RequestFuture(pid, &session.Passivate{Reason: reason}, h.timeout(ctx)).Result()
	if err != nil && !errors.Is(err, actor.ErrDeadLetter) {
		return err
	}
	if r, ok := res.(session.Replier); ok && r.ReplyErr() != nil && !errors.Is(r.ReplyErr(), session.ErrPassivated) {
		return r.ReplyErr()
	}
	return nil
}
