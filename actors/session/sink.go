package session

import (
	"context"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
)

// sink is the runner's way back to its session: every call becomes a
// message to the actor. It is used only by the runner goroutine of one turn.
type sink struct {
	sys    *actor.ActorSystem
	self   *actor.PID
	turnID string
	noAsk  bool
}

func (s *sink) Event(ev agent.Event) {
	m := turnEvents.Get().(*turnEvent)
	m.turnID, m.ev = s.turnID, ev
	s.sys.Root.Send(s.self, m)
}

// turnEvents recycles the messages that carry a turn's events to its
// actor, one per delta of a streamed answer: the actor puts each back
// once it has logged the event (release); one the actor never handles is
// left to the collector.
var turnEvents = sync.Pool{New: func() any { return new(turnEvent) }}

// release gives m back to turnEvents; nothing may use it after.
func (m *turnEvent) release() {
	*m = turnEvent{}
	turnEvents.Put(m)
}

func (s *sink) Commit(msg agent.Message) {
	s.sys.Root.Send(s.self, &turnCommit{turnID: s.turnID, msg: msg})
}

func (s *sink) Permission(ctx context.Context, req turn.PermissionRequest) (turn.Decision, error) {
	reply := make(chan turn.Decision, 1)
	s.sys.Root.Send(s.self, &permissionNeeded{turnID: s.turnID, req: req, reply: reply, noAsk: s.noAsk})
	select {
	case d := <-reply:
		return d, nil
	case <-ctx.Done():
		return turn.Decision{}, ctx.Err()
	}
}

func (s *sink) Ask(ctx context.Context, question, toolUseID string) (string, error) {
	if s.noAsk {
		return "", errNoOneToAsk
	}
	reply := make(chan promptReply, 1)
	s.sys.Root.Send(s.self, &promptNeeded{turnID: s.turnID, question: question, toolUseID: toolUseID, reply: reply})
	select {
	case r := <-reply:
		return r.answer, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

var _ turn.Sink = (*sink)(nil)
