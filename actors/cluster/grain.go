package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/persist"
)

// seenCalls is how many answered call ids a grain keeps for repeats.
const seenCalls = 256

// grain is a session's virtual actor on the node the cluster placed it
// on. It owns the session for the cluster: it claims the session in the
// store when it starts, serves calls with its node's host, and passivates
// the host's session actor when it stops (moved by a topology change, or
// its node leaving).
type grain struct {
	n     *Node
	id    string
	epoch uint64
	// unusable is why the grain serves no call (the session does not
	// exist, or could not be claimed).
	unusable error
	seen     map[string]*wrapperspb.BytesValue
	order    []string
}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.id = m.Identity.Identity
		g.seen = map[string]*wrapperspb.BytesValue{}
		g.claim()
	case *wrapperspb.BytesValue:
		var c call
		if err := decodeJSON(m.Value, &c); err != nil {
			ctx.Respond(mustEncode(reply{Err: toWire(fmt.Errorf("%w: %v", agent.ErrInvalid, err))}))
			return
		}
		if !c.verify(g.n.cfg.Secret) {
			g.n.log.Warn("refused a cluster call without a valid MAC", "session_id", g.id, "op", c.Op)
			ctx.Respond(mustEncode(reply{Err: toWire(fmt.Errorf("%w: cluster call not authenticated", agent.ErrForbidden))}))
			return
		}
		if r, ok := g.seen[c.ID]; ok && c.ID != "" {
			ctx.Respond(r)
			return
		}
		r := mustEncode(g.handle(&c))
		g.remember(c.ID, r)
		ctx.Respond(r)
	case *actor.Stopping:
		if g.unusable == nil && g.id != "" {
			cctx, cancel := context.WithTimeout(context.Background(), g.n.cfg.CallTimeout)
			if err := g.n.Host.Passivate(cctx, g.id, "the session moved to another node"); err != nil {
				g.n.log.Warn("passivate a session leaving this node", "session_id", g.id, "err", err)
			}
			cancel()
		}
	}
}

// claim takes the session for this node: a copy left in this host's
// memory by an earlier stay is passivated (its saves are fenced already),
// then a new owner epoch fences every other node's saves.
func (g *grain) claim() {
	ctx, cancel := context.WithTimeout(context.Background(), g.n.cfg.CallTimeout)
	defer cancel()
	if _, err := g.n.cfg.Store.Session(g.id); err != nil {
		if errors.Is(err, persist.ErrNotFound) {
			err = fmt.Errorf("%w: session %s", agent.ErrNotFound, g.id)
		}
		g.unusable = err
		return
	}
	if err := g.n.Host.Passivate(ctx, g.id, "the session moved to another node"); err != nil {
		g.n.log.Warn("passivate a stale copy of a session", "session_id", g.id, "err", err)
	}
	epoch, err := g.n.cfg.Store.ClaimSession(ctx, g.id)
	if err != nil {
		g.unusable = fmt.Errorf("claim session %s: %w", g.id, err)
		return
	}
	g.epoch = epoch
	g.n.log.Info("session claimed", "session_id", g.id, "epoch", epoch)
}

func (g *grain) remember(id string, r *wrapperspb.BytesValue) {
	if id == "" {
		return
	}
	if len(g.order) >= seenCalls {
		delete(g.seen, g.order[0])
		g.order = g.order[1:]
	}
	g.seen[id] = r
	g.order = append(g.order, id)
}

func (g *grain) handle(c *call) reply {
	if g.unusable != nil {
		return reply{Err: toWire(g.unusable)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.n.cfg.CallTimeout)
	defer cancel()
	h := g.n.Host
	switch c.Op {
	case opGet:
		v, err := h.GetSession(ctx, c.UserID, g.id)
		return viewReply(v, err)
	case opUpdate:
		if c.Update == nil {
			return reply{Err: toWire(fmt.Errorf("%w: no update", agent.ErrInvalid))}
		}
		v, err := h.UpdateSession(ctx, c.UserID, g.id, *c.Update)
		return viewReply(v, err)
	case opDelete:
		return reply{Err: toWire(h.DeleteSession(ctx, c.UserID, g.id))}
	case opInterrupt:
		ran, err := h.Interrupt(ctx, c.UserID, g.id)
		return reply{Bool: ran, Err: toWire(err)}
	case opInterruptAny:
		ran, err := h.InterruptSession(ctx, g.id)
		return reply{Bool: ran, Err: toWire(err)}
	case opDecide:
		return reply{Err: toWire(h.DecidePermission(ctx, c.UserID, g.id, c.RequestID, c.Allow, c.Remember, c.Reason))}
	case opAnswer:
		return reply{Err: toWire(h.AnswerPrompt(ctx, c.UserID, g.id, c.RequestID, c.Answer))}
	case opTurn:
		if c.Turn == nil || c.Relay == nil || c.Relay.Nonce == "" {
			return reply{Err: toWire(fmt.Errorf("%w: no turn", agent.ErrInvalid))}
		}
		req := *c.Turn
		req.SessionID, req.Route = g.id, nil
		t, err := h.StartTurn(ctx, c.UserID, req)
		if err != nil {
			return reply{Err: toWire(err)}
		}
		fwd := g.n.spawnForwarder(c.Relay, t.Events, t)
		return reply{TurnID: t.TurnID, Forwarder: refOf(fwd)}
	case opAttach:
		if c.Relay == nil || c.Relay.Nonce == "" {
			return reply{Err: toWire(fmt.Errorf("%w: no relay", agent.ErrInvalid))}
		}
		st, err := h.Attach(ctx, c.UserID, g.id, c.After)
		if err != nil {
			return reply{Err: toWire(err)}
		}
		return reply{Forwarder: refOf(g.n.spawnForwarder(c.Relay, st, nil))}
	}
	return reply{Err: toWire(fmt.Errorf("%w: unknown operation %q", agent.ErrInvalid, c.Op))}
}

func viewReply(v host.SessionView, err error) reply {
	if err != nil {
		return reply{Err: toWire(err)}
	}
	return reply{View: &v}
}
