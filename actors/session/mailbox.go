package session

import (
	"github.com/asynkron/protoactor-go/actor"
)

// answeringMailbox is protoactor's default mailbox, except that a request
// it hands over after the actor has stopped is answered ErrPassivated
// instead of being dropped. A stopped actor's context drops its messages
// silently, and a request sent to the session's old PID just as it
// passivated (a one-shot session stops as soon as its turn is durable)
// would otherwise wait for its whole timeout; ErrPassivated makes the
// host activate the session again and send the request there.
type answeringMailbox struct {
	actor.Mailbox
	d *Deps
}

func newAnsweringMailbox(d *Deps) actor.MailboxProducer {
	unbounded := actor.Unbounded()
	return func() actor.Mailbox { return &answeringMailbox{Mailbox: unbounded(), d: d} }
}

// RegisterHandlers implements actor.Mailbox.
func (m *answeringMailbox) RegisterHandlers(inv actor.MessageInvoker, d actor.Dispatcher) {
	m.Mailbox.RegisterHandlers(lateAnswerer{MessageInvoker: inv, d: m.d}, d)
}

// lateAnswerer answers the requests that reach a stopped session actor.
// It runs on the mailbox's goroutine, as the actor does.
type lateAnswerer struct {
	actor.MessageInvoker
	d *Deps
}

// InvokeUserMessage implements actor.MessageInvoker.
func (l lateAnswerer) InvokeUserMessage(msg any) {
	if c, ok := l.MessageInvoker.(actor.Context); ok {
		if a, ok := c.Actor().(*sessionActor); ok && a.stopped.Load() {
			if env, ok := msg.(*actor.MessageEnvelope); ok && env.Sender != nil && l.d.System != nil {
				l.d.System.Root.Send(env.Sender, Reply[Done]{Err: ErrPassivated})
			}
			return
		}
	}
	l.MessageInvoker.InvokeUserMessage(msg)
}
