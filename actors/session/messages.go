package session

import (
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Reply[T] answers a request the host makes of a session actor: T is the
// request's result type (struct{} for those that return only an error).
type Reply[T any] struct {
	Value T
	Err   error
}

// ReplyErr returns the reply's error, whatever its value type.
func (r Reply[T]) ReplyErr() error { return r.Err }

// Replier is any Reply.
type Replier interface{ ReplyErr() error }

// Done is the value of a reply that carries only an error.
type Done = struct{}

// TurnOptions tune one turn (see turn.Options): its empty Model,
// SystemPrompt and PermissionMode and its Context's empty fields are the
// session's own.
type TurnOptions = turn.Options

// StartTurn asks the session to run a turn. Replies TurnStarted or an
// error (agent.ErrBusy while a turn runs).
type StartTurn struct {
	UserID string
	// Input are the new messages of the turn (user role).
	Input   []agent.Message
	Options TurnOptions
	// Route, when set, is the turn's model resolved by the host, its calls
	// metered against the turn's quota lease.
	Route *provider.Route
	// Subscribe asks for a subscription to the turn's events.
	Subscribe bool
	// Release, if not nil, is called exactly once when the turn has ended
	// (or at once, if the turn is refused).
	Release func()
	// OneShot says the caller will not come back to the session (an
	// outside client that resends the whole conversation): the actor
	// stops as soon as the turn is durable and no one follows it, instead
	// of holding its state for the idle timeout. A later request
	// activates it again from the store.
	OneShot bool
}

// TurnStarted is the reply to StartTurn.
type TurnStarted struct {
	TurnID string
	// Sub is set when StartTurn.Subscribe was set.
	Sub *Subscription
	// Outcome receives the turn's outcome once, after it is durable.
	Outcome <-chan Outcome
}

// Outcome is how a turn ended. Err is set when the turn failed (the
// stream's `error` event); Result is set otherwise.
type Outcome struct {
	Result *agent.QueryResult
	Err    error
}

// Attach subscribes to the current or last turn's events after After.
// Replies *Subscription.
type Attach struct {
	After uint64
	// UserID is whose stream it is (see EndUser).
	UserID string
}

// EndUser ends a user's work in the session at once, as when their
// account is disabled: each of their streams gets a last `error` event
// (Reason) and ends, and their running turn is interrupted. Replies nil.
type EndUser struct {
	UserID string
	Reason string
}

// Interrupt cancels the running turn. Replies bool: whether one ran.
type Interrupt struct{}

// Decide answers a permission request. Replies nil, agent.ErrNotFound for
// an unknown request, agent.ErrConflict for one already decided.
type Decide struct {
	RequestID string
	Allow     bool
	Remember  bool
	Reason    string
}

// Answer answers a prompt request. Replies like Decide.
type Answer struct {
	RequestID string
	Answer    string
}

// Get asks for the session's view. Replies View.
type Get struct{}

// View is a session as the API shows it.
type View struct {
	Session  persist.Session
	Messages []agent.Message
	Pending  []agent.Pending
}

// Update changes the session's settings. Nil fields stay. Replies View.
type Update struct {
	Title          *string
	Model          *string
	SystemPrompt   *string
	PermissionMode *string
}

// Delete interrupts a running turn, deletes the session from the store and
// stops the actor. Replies nil.
type Delete struct{}

// Passivate stops the actor after a final durable snapshot, interrupting a
// running turn (streams get an `error` event). The host sends it at
// shutdown. Replies nil once the snapshot is durable.
type Passivate struct {
	Reason string
}

// Messages from the turn runner and timers to the actor. Each carries the
// turn id so that a message of an ended turn is recognised and dropped.
type (
	turnEvent struct {
		turnID string
		ev     agent.Event
	}
	turnCommit struct {
		turnID string
		msg    agent.Message
	}
	permissionNeeded struct {
		turnID string
		req    turn.PermissionRequest
		reply  chan turn.Decision
		// noAsk: decide from remembered decisions only; deny the rest.
		noAsk bool
	}
	promptNeeded struct {
		turnID    string
		question  string
		toolUseID string
		reply     chan promptReply
	}
	promptReply struct {
		answer string
		err    error
	}
	turnDone struct {
		turnID string
		res    turn.Result
	}
	forceFinish struct {
		turnID string
	}
	requestExpired struct {
		requestID string
	}
	turnSaved struct {
		turnID string
		err    error
	}
	unsubscribe struct {
		sub *subscriber
	}
	// streamIdle is due when a subscriber waited for a turn for the idle
	// stream lifetime.
	streamIdle struct {
		sub *subscriber
	}
	idleCheck struct{}
	saveTick  struct{}
	// messagesSaved acknowledges that the messages before upTo are durable.
	messagesSaved struct {
		upTo int
	}
)

// now is the clock; a variable only so the code reads as one place.
func now() time.Time { return time.Now().UTC() }
