package turn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tool"
)

// DefaultMaxTurns is the number of model calls a turn may make when
// neither Input nor Config says otherwise.
const DefaultMaxTurns = 20

// Default caps on the tool uses of a turn: of one model response, and of
// the whole turn. Calls past them get error results and do not run.
const (
	DefaultMaxToolUsesPerResponse = 64
	DefaultMaxToolUsesPerTurn     = 256
)

// Log attribute keys.
const (
	keySessionID  = "session_id"
	keyTurnID     = "turn_id"
	keyToolName   = "tool_name"
	keyToolUseID  = "tool_use_id"
	keyStopReason = "stop_reason"
	keyCalls      = "model_calls"
)

// Sink receives what a turn produces. The session actor implements it.
// Run calls it from the goroutine that called Run, except that a tool may
// report progress or ask a question from a goroutine of its own while it
// runs, so Event and Ask must be safe for concurrent use (a non-blocking
// send to the actor is).
type Sink interface {
	// Event hands off a KindDelta event or a KindRuntime event
	// (tool_started, tool_progress, tool_finished) without blocking. The
	// session numbers, encodes and fans it out; the runner leaves ID and
	// Data zero.
	Event(ev agent.Event)
	// Commit records a finished message of the turn, in order: assistant
	// answers, and the user messages holding tool_result blocks.
	Commit(msg agent.Message)
	// Permission blocks until the request is decided or ctx is done. The
	// session emits permission_request and permission_resolved itself and
	// applies remembered decisions.
	Permission(ctx context.Context, req PermissionRequest) (Decision, error)
	// Ask blocks until the question is answered or ctx is done. The
	// session emits prompt_request and prompt_resolved itself.
	Ask(ctx context.Context, question string, toolUseID string) (string, error)
}

// PermissionRequest asks whether a tool call may run.
type PermissionRequest struct {
	ToolUseID string
	ToolName  string
	Input     json.RawMessage
}

// Decision answers a PermissionRequest.
type Decision struct {
	Allow bool
	// Reason is optional; for a denial the model reads it after
	// "permission denied: ".
	Reason string
}

// Config configures a Runner.
type Config struct {
	// Providers selects the provider of Input.Model for Input.UserID
	// (a *provider.Registry serves the server-wide providers). Required.
	Providers provider.Selector
	// Tools are the server-side tools, offered in every turn. If nil,
	// there are none. Their specs are read once, by New.
	Tools *tool.Registry
	// Files is the store the file tools use. If nil, they fail with an
	// error result.
	Files tool.FileStore
	// MaxTurns caps the model calls of a turn when Input.MaxTurns is zero.
	// If zero, DefaultMaxTurns (20).
	MaxTurns int
	// MaxToolUsesPerResponse caps the tool uses of one model response: the
	// ones past it get error results and do not run. If zero,
	// DefaultMaxToolUsesPerResponse (64).
	MaxToolUsesPerResponse int
	// MaxToolUsesPerTurn caps the tool uses of a whole turn, in the same
	// way. If zero, DefaultMaxToolUsesPerTurn (256).
	MaxToolUsesPerTurn int
	// Extensions contribute to every turn before its first model call
	// (retrieval, memories, skills, profiles, outside tools), in order.
	Extensions []Extension
	// Logger receives debug logs and panics. If nil, logs are discarded.
	Logger *slog.Logger
	// Workers, when set, runs the turns' goroutines (see Runner.Go) and
	// their preparations on reused goroutines, which keep the stacks
	// earlier work grew instead of growing new ones; their owner ends
	// them after the turns. If nil, each is a goroutine of its own.
	Workers Scheduler
}

// Scheduler runs functions on goroutines of its own; Schedule never
// blocks. A *workers.Pool is one.
type Scheduler interface {
	Schedule(fn func())
}

// Runner runs turns.
type Runner struct {
	providers  provider.Selector
	tools      *tool.Registry
	files      tool.FileStore
	extensions []Extension
	maxTurns   int
	// maxUsesPerResponse and maxUsesPerTurn cap tool uses.
	maxUsesPerResponse int
	maxUsesPerTurn     int
	log                *slog.Logger
	workers            Scheduler
	// The server tools of every turn, built once: by name, in the order
	// the model sees them, and their specs. Turns share them, read only,
	// until an extension adds or hides a tool (run.ownTools).
	baseTools map[string]tool.Tool
	baseOrder []tool.Tool
	baseSpecs []agent.ToolSpec
}

// New returns a Runner for cfg, with its defaults filled in.
func New(cfg Config) (*Runner, error) {
	if cfg.Providers == nil {
		return nil, errors.New("turn: Config.Providers is required")
	}
	if cfg.MaxTurns < 0 {
		return nil, fmt.Errorf("turn: Config.MaxTurns is negative: %d", cfg.MaxTurns)
	}
	if cfg.MaxToolUsesPerResponse < 0 || cfg.MaxToolUsesPerTurn < 0 {
		return nil, fmt.Errorf("turn: Config.MaxToolUsesPerResponse (%d) and MaxToolUsesPerTurn (%d) must not be negative",
			cfg.MaxToolUsesPerResponse, cfg.MaxToolUsesPerTurn)
	}
	r := &Runner{
		providers:          cfg.Providers,
		tools:              cfg.Tools,
		files:              cfg.Files,
		extensions:         slices.Clone(cfg.Extensions),
		maxTurns:           cfg.MaxTurns,
		maxUsesPerResponse: cmp.Or(cfg.MaxToolUsesPerResponse, DefaultMaxToolUsesPerResponse),
		maxUsesPerTurn:     cmp.Or(cfg.MaxToolUsesPerTurn, DefaultMaxToolUsesPerTurn),
		log:                cfg.Logger,
		workers:            cfg.Workers,
	}
	if r.tools == nil {
		r.tools = tool.NewRegistry()
	}
	r.baseTools = make(map[string]tool.Tool)
	for _, s := range r.tools.Specs() {
		tl, _ := r.tools.Get(s.Name)
		r.baseTools[s.Name] = tl
		r.baseOrder = append(r.baseOrder, tl)
		r.baseSpecs = append(r.baseSpecs, s)
	}
	// Clipped, so that a turn's append copies instead of writing into
	// what every turn shares.
	r.baseOrder, r.baseSpecs = slices.Clip(r.baseOrder), slices.Clip(r.baseSpecs)
	if r.maxTurns == 0 {
		r.maxTurns = DefaultMaxTurns
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r.log = r.log.With("component", "turn")
	return r, nil
}

// Go runs fn, a turn's goroutine, on Config.Workers, or on a goroutine of
// its own.
func (r *Runner) Go(fn func()) {
	if r.workers != nil {
		r.workers.Schedule(fn)
		return
	}
	go fn()
}

// Options tune one turn. They are the one value carried from the turn
// request (host.TurnRequest) through the session (session.StartTurn) to
// the runner (Input): the session only fills in its own defaults.
type Options struct {
	// Model is "provider:model"; in a request, "" means the session's.
	Model string
	// ProviderSettingID, when set, names the user's provider setting that
	// serves Model.
	ProviderSettingID string
	// SystemPrompt is the system prompt; in a request, "" means the
	// session's.
	SystemPrompt string
	// PermissionMode is the permission mode; in a request, "" means the
	// session's, and for the runner "" means default.
	PermissionMode string
	// MaxTurns caps the model calls of this turn. If zero, Config.MaxTurns.
	MaxTurns int
	// MaxTokens caps the output of each model call. If zero, the provider's
	// default.
	MaxTokens int
	// ClientTools are tools declared by an outside client. A call to one
	// ends the turn with StopToolUse: its tool_use stays in the committed
	// assistant message and the client answers it in its next request. A
	// client tool hides a server tool of the same name.
	ClientTools []agent.ToolSpec
	// ToolChoice is sent with the turn's first model call. A choice that
	// forces a tool ("any" or "tool") is dropped from later calls, which
	// would otherwise force a tool call forever and always end at
	// MaxTurns.
	ToolChoice *agent.ToolChoice
	// ResponseFormat is sent with every model call of the turn to the
	// providers that support one (see agent.ModelRequest).
	ResponseFormat json.RawMessage
	// DisableServerTools hides the server tools from the model; calling one
	// then gives "unknown tool".
	DisableServerTools bool
	// NoAsk denies instead of asking where a tool would need approval: no
	// one is there to answer (an unattended or a compat caller). The
	// session's sink applies it.
	NoAsk bool
	// ToolUseLimits caps the calls of named server tools in this turn (a
	// Messages request's web_search max_uses); a call past its cap is
	// answered with an error result that starts with ErrMaxUsesExceeded.
	ToolUseLimits map[string]int
	// Context is what the domain families add to the turn, handed to
	// every Extension; in a request, its empty fields are the session's.
	Context agent.TurnContext
}

// Input is one turn to run.
type Input struct {
	SessionID   string
	TurnID      string
	WorkspaceID string
	UserID      string
	// History is the committed history, including the new user message(s)
	// at the end. Run does not modify it.
	History []agent.Message
	Options
	// Route, when set, is Model already resolved (with its calls metered
	// by the caller); else the runner selects it with Config.Providers.
	Route *provider.Route
}

// Result is how a turn ended.
type Result struct {
	// StopReason is end_turn, max_tokens, refusal (passed through from the
	// model), max_turns, tool_use (a client tool was called), interrupted,
	// or error (Err is set).
	StopReason agent.StopReason
	// Usage sums every model call of the turn.
	Usage agent.Usage
	// Content is the text of the last assistant message the turn
	// committed.
	Content string
	// ToolUses are every tool use of the turn, client tools included.
	ToolUses []agent.ToolUse
	// ToolResults are every tool result the turn committed.
	ToolResults []agent.ToolResult
	// Sources are the chunks retrieved for the turn, before its first
	// model call and by its tools.
	Sources []agent.Source
	// Memories are the memories recalled into the turn.
	Memories []agent.Memory
	// PlanID names the plan the turn proposed (set by a Finisher).
	PlanID string
	// Err is set when the turn failed: a provider failure, a bad input, a
	// panic (*PanicError). StopReason is then agent.StopError. An
	// interrupted turn has no Err.
	Err error
}

// PanicError is a panic recovered in a turn.
type PanicError struct {
	// Tool names the tool that panicked; empty for a panic elsewhere.
	Tool string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, for logs; it never goes
	// to a client.
	Stack []byte
}

// Error returns "tool NAME panicked: VALUE", or "internal error: VALUE"
// for a panic outside a tool.
func (e *PanicError) Error() string {
	if e.Tool != "" {
		return fmt.Sprintf("tool %s panicked: %v", e.Tool, e.Value)
	}
	return fmt.Sprintf("internal error: %v", e.Value)
}
