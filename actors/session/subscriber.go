package session

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
)

// Subscription is a subscriber's view of a turn's events: Replay first,
// then everything that arrives on C. C is closed by the session when the
// turn ends (its last event was `done` or `error`), when the subscriber
// fell behind and was dropped, or when the session stops. Close leaves the
// subscription; it is safe to call more than once and from any goroutine.
type Subscription struct {
	// Replay are the events already logged after the cursor.
	Replay []agent.Event
	// Resync is true when events after the cursor were no longer kept.
	Resync bool
	// C delivers the following events. They are shared with the log and
	// every other subscriber, and must not be modified.
	C <-chan *agent.Event

	once  sync.Once
	close func()
	sub   *subscriber
}

// Notify registers wake, which the session then calls after every event
// it queues on C and after closing C, so that a reader need not wait on C
// with a goroutine of its own. wake must not block. Events queued before
// Notify are not announced: the reader looks at C once after registering.
func (s *Subscription) Notify(wake func()) {
	if s.sub != nil {
		s.sub.wake.Store(&wake)
	}
}

// Close unsubscribes.
func (s *Subscription) Close() {
	s.once.Do(func() {
		if s.close != nil {
			s.close()
		}
	})
}

// subscriber is the actor's side of a subscription.
type subscriber struct {
	ch chan *agent.Event
	// userID is whose stream it is: ending a user's work ends it.
	userID string
	// idle, while set, ends a subscriber that waits for a turn that does
	// not come; only the actor touches it.
	idle *time.Timer
	// ended is set once the actor has closed ch; the subscription then
	// has nothing to tell the actor, which may be gone.
	ended atomic.Bool
	// wake, if set, is called after each send on ch and after its close
	// (Subscription.Notify).
	wake atomic.Pointer[func()]
}

// poke tells the reader, if it asked to be told, that ch changed.
func (s *subscriber) poke() {
	if w := s.wake.Load(); w != nil {
		(*w)()
	}
}

// end closes the subscriber's channel; only the actor calls it.
func (s *subscriber) end() {
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.ended.Store(true)
	close(s.ch)
	s.poke()
}

func newSubscription(sys *actor.ActorSystem, self *actor.PID, userID string, buffer int, replay []agent.Event, resync bool) (*Subscription, *subscriber) {
	sub := &subscriber{ch: make(chan *agent.Event, buffer), userID: userID}
	s := &Subscription{Replay: replay, Resync: resync, C: sub.ch, sub: sub}
	s.close = func() {
		if !sub.ended.Load() {
			sys.Root.Send(self, &unsubscribe{sub: sub})
		}
	}
	return s, sub
}

// finalTo hands sub one last event of its own, not logged and not
// numbered (ID 0), and ends it. A full channel ends it without the event:
// the subscriber fell behind anyway.
func finalTo(sub *subscriber, ev agent.Event) {
	ev.Encode()
	select {
	case sub.ch <- &ev:
	default:
	}
	sub.end()
}
