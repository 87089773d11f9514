package session

import (
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Reply answers every request the host makes of a session actor.
type Reply struct {
	Value any
	Err   error
}

// TurnOptions tune one turn.
type TurnOptions struct {
	// Model overrides the session's model for this turn when not empty.
	Model string
	// ProviderSettingID picks the user's provider setting for this turn.
	ProviderSettingID string
	// System overrides the session's system prompt for this turn when not empty.
	System string
	// MaxTurns caps model calls in this turn; zero means the configured default.
	MaxTurns int
	// MaxTokens caps each model call's output; zero means the provider's default.
	MaxTokens int
	// ClientTools are tools declared by an outside client (answered by it).
	ClientTools []agent.ToolSpec
	// ToolChoice forces or forbids tool use.
	ToolChoice *agent.ToolChoice
	// DisableServerTools hides the server's own tools from the model.
	DisableServerTools bool
	// PermissionMode overrides the session's mode for this turn when not empty.
	PermissionMode string
	// NoAsk denies instead of asking where a tool would need approval: no
	// one is there to answer (an unattended or a compat caller).
	NoAsk bool
}

// StartTurn asks the session to run a turn. Replies TurnStarted or an
// error (agent.ErrBusy while a turn runs).
type StartTurn struct {
	UserID string
	// Input are the new messages of the turn (user role).
	Input   []agent.Message
	Options TurnOptions
	// Subscribe asks for a subscription to the turn's events.
	Subscribe bool
	// Release, if not nil, is called exactly once when the turn has ended
	// (or at once, if the turn is refused).
	Release func()
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
	idleCheck struct{}
	saveTick  struct{}
	// messagesSaved acknowledges that the messages before upTo are durable.
	messagesSaved struct {
		upTo int
	}
)

// now is the clock; a variable only so the code reads as one place.
func now() time.Time { return time.Now().UTC() }
