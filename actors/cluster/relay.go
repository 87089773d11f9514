package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
)

// errNodeLost ends the turn of a session whose node stopped answering:
// the session comes back on another node, where the turn is recorded as
// interrupted and can be re-attached.
var errNodeLost = fmt.Errorf("%w: the node running the session stopped during the turn; it is recorded as interrupted, re-attach to read it", agent.ErrTurnFailed)

// relay is the client's side of a turn or stream whose session may run on
// another node: a relay actor on this node, which the session's forwarder
// sends events and the outcome to, and the channels the handlers read.
type relay struct {
	n      *Node
	pid    *actor.PID
	nonce  string // keys the stream's frames (frameMAC)
	events chan *agent.Event

	once sync.Once
	done chan struct{}
	res  *agent.QueryResult
	err  error
}

// Messages of this node to a relay actor.
type (
	watchForwarder struct{ pid *actor.PID }
	clientLeft     struct{}
	// forwarderGone follows a Terminated of the forwarder as a user
	// message: Terminated is a system message and overtakes the frames
	// already in the mailbox, which must be read first.
	forwarderGone struct{}
)

// spawnRelay starts a relay that wants the events, the outcome, or both.
func (n *Node) spawnRelay(events, outcome bool) *relay {
	r := &relay{n: n, nonce: newCallID(), events: make(chan *agent.Event, n.cfg.RelayBuffer), done: make(chan struct{})}
	a := &relayActor{r: r, evDone: !events, outDone: !outcome,
		in: newFrameMAC(n.cfg.Secret, r.nonce, toRelay), out: newFrameMAC(n.cfg.Secret, r.nonce, toForwarder)}
	if !events {
		close(r.events)
	}
	if !outcome {
		r.finish(nil, nil)
	}
	r.pid = n.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
	return r
}

// ref is the relay's reference in a call, with its stream nonce.
func (r *relay) ref() *pidRef {
	p := refOf(r.pid)
	p.Nonce = r.nonce
	return p
}

// abort stops a relay whose call failed.
func (r *relay) abort() { r.n.sys.Root.Stop(r.pid) }

// watch makes the relay watch the forwarder, whose end (its node's death
// included) ends the relay.
func (r *relay) watch(f *pidRef) {
	if f == nil {
		r.abort()
		return
	}
	r.n.sys.Root.Send(r.pid, &watchForwarder{pid: f.pid()})
}

// stream is the relay's events as a host stream.
func (r *relay) stream(replay []agent.Event) *host.Stream {
	return host.NewStream(replay, r.events, func() { r.n.sys.Root.Send(r.pid, &clientLeft{}) })
}

// finish sets the outcome, once.
func (r *relay) finish(res *agent.QueryResult, err error) {
	r.once.Do(func() {
		r.res, r.err = res, err
		close(r.done)
	})
}

// wait blocks until the turn has ended, or ctx is done.
func (r *relay) wait(ctx context.Context) (*agent.QueryResult, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// relayActor is the relay's actor; only it sends on and closes events.
type relayActor struct {
	r       *relay
	fwd     *actor.PID
	evDone  bool
	outDone bool
	// in opens the forwarder's frames, out seals the relay's.
	in, out *frameMAC
}

func (a *relayActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *watchForwarder:
		a.fwd = m.pid
		ctx.Watch(m.pid)
	case *wrapperspb.BytesValue:
		f, err := a.in.openFrame(m.Value)
		if errors.Is(err, errFrameRefused) {
			a.refuse(ctx)
			return
		}
		if err != nil {
			a.r.n.log.Error("relay: bad frame", "err", err)
			return
		}
		switch f.Kind {
		case frameEvent:
			if a.evDone || f.Event == nil {
				return
			}
			select {
			case a.r.events <- f.event():
			default:
				// The client fell behind: its stream is dropped, as a
				// session drops a slow subscriber; it re-attaches with
				// Last-Event-ID.
				a.endEvents()
				a.tell(ctx, frameClose)
			}
		case frameEnd:
			a.endEvents()
		case frameOutcome:
			a.outDone = true
			a.r.finish(f.result(), f.Err.err())
		}
		a.maybeStop(ctx)
	case *clientLeft:
		if !a.evDone {
			a.endEvents()
			a.tell(ctx, frameClose)
		}
		a.maybeStop(ctx)
	case *actor.Terminated:
		ctx.Send(ctx.Self(), &forwarderGone{})
	case *forwarderGone:
		// The forwarder ended, or its node is gone: nothing more comes.
		a.endEvents()
		if !a.outDone {
			a.outDone = true
			a.r.finish(nil, errNodeLost)
		}
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		a.endEvents()
		a.r.finish(nil, errNodeLost)
	}
}

// refuse ends the relay on a frame without the stream's MAC, which is
// never delivered: the client's stream ends with an error event, the
// turn's outcome is errFrameRefused, and the forwarder is told to stop.
func (a *relayActor) refuse(ctx actor.Context) {
	a.r.n.log.Warn("refused a stream frame without a valid MAC", "relay", ctx.Self().Id)
	if !a.evDone {
		ev := &agent.Event{Kind: agent.KindError, Error: errFrameRefused.Error()}
		ev.Encode()
		select {
		case a.r.events <- ev: // unnumbered: not one of the turn's events
		default:
		}
	}
	a.endEvents()
	a.tell(ctx, frameClose)
	if !a.outDone {
		a.outDone = true
		a.r.finish(nil, errFrameRefused)
	}
	ctx.Stop(ctx.Self())
}

func (a *relayActor) endEvents() {
	if !a.evDone {
		a.evDone = true
		close(a.r.events)
	}
}

func (a *relayActor) tell(ctx actor.Context, kind string) {
	if a.fwd != nil {
		ctx.Send(a.fwd, a.out.sealFrame(frame{Kind: kind}))
	}
}

func (a *relayActor) maybeStop(ctx actor.Context) {
	if a.evDone && a.outDone {
		ctx.Stop(ctx.Self())
	}
}

// forwarder is the session's side of a relay, on the session's node: it
// reads the host's stream and turn and sends them to the relay.
type forwarder struct {
	n     *Node
	relay *actor.PID
	st    *host.Stream
	turn  *host.Turn
	// out seals the frames pump sends; in opens the relay's in Receive.
	out, in *frameMAC
}

func (n *Node) spawnForwarder(relay *pidRef, st *host.Stream, t *host.Turn) *actor.PID {
	f := &forwarder{n: n, relay: relay.pid(), st: st, turn: t,
		out: newFrameMAC(n.cfg.Secret, relay.Nonce, toRelay), in: newFrameMAC(n.cfg.Secret, relay.Nonce, toForwarder)}
	return n.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return f }))
}

func (f *forwarder) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(f.relay)
		go f.pump(ctx.Self())
	case *wrapperspb.BytesValue:
		fr, err := f.in.openFrame(m.Value)
		switch {
		case errors.Is(err, errFrameRefused):
			// Never acted on; the stream goes on to its relay.
			f.n.log.Warn("refused a relay frame without a valid MAC", "forwarder", ctx.Self().Id)
		case err == nil && fr.Kind == frameClose:
			f.closeStream()
		}
	case *actor.Terminated:
		// The client's node is gone: stop reading for it.
		f.closeStream()
	case *actor.Stopping:
		f.closeStream()
	}
}

func (f *forwarder) closeStream() {
	if f.st != nil {
		f.st.Close()
	}
}

// pump sends the stream's events, then the turn's outcome, and stops the
// forwarder.
func (f *forwarder) pump(self *actor.PID) {
	root := f.n.sys.Root
	defer root.Stop(self)
	if st := f.st; st != nil {
		for i := range st.Replay {
			root.Send(f.relay, f.out.sealFrame(frameOf(&st.Replay[i])))
		}
		for ev := range st.C {
			root.Send(f.relay, f.out.sealFrame(frameOf(ev)))
		}
		root.Send(f.relay, f.out.sealFrame(frame{Kind: frameEnd}))
	}
	if f.turn != nil {
		res, err := f.turn.Wait(context.Background())
		root.Send(f.relay, f.out.sealFrame(outcomeFrame(res, err)))
	}
}
