package turn

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
)

// Setup is what an Extension learns of the turn it contributes to.
type Setup struct {
	SessionID   string
	TurnID      string
	WorkspaceID string
	UserID      string
	// Model is "provider:model" as the turn resolved it.
	Model string
	// Mode is the turn's permission mode ("" is the default mode).
	Mode string
	// Prompt is the text of the turn's last user message.
	Prompt string
	// History is the committed history with the turn's new messages at
	// the end. Read it; never modify it.
	History []agent.Message
	// Context is the turn's context over its session's.
	Context agent.TurnContext
}

// Contribution is what an Extension adds to a turn.
type Contribution struct {
	// System is appended to the system prompt, after a blank line.
	System string
	// Tools are server tools offered in this turn only. A name may be
	// offered once: a clash with another server tool fails the turn.
	Tools []tool.Tool
	// Allow, when not empty, narrows the server tools to those named.
	Allow []string
	// Deny hides the server tools named.
	Deny []string
	// Events are runtime events emitted, in order, before the first model
	// call. The runner fills in their session and turn ids.
	Events []agent.Event
	// Sources are retrieved chunks: they go to every model request and to
	// the turn's rag_results.
	Sources []agent.Source
	// Memories are recalled memories: they go to every model request and
	// to the turn's memories_used.
	Memories []agent.Memory
}

// Extension contributes to a turn before its first model call. Prepare
// runs on a goroutine the runner starts for the turn's preparation and
// waits for, under the turn's context (cancelled with the turn), after the
// provider is selected, in Config.Extensions order. A
// feature that is off for the turn returns an empty Contribution; an error
// fails the turn.
type Extension interface {
	Prepare(ctx context.Context, s Setup) (Contribution, error)
}

// Finisher is implemented by an Extension that acts when the turn has
// ended: after its last model call, before the session reports it done,
// so it may set res.PlanID and emit events such as plan_proposed. Finish
// must be quick (a store write at most); slow work, such as extracting
// memories with a model call, goes to a goroutine or actor the extension
// owns and never delays the turn's end. It is not called for a turn whose
// setup failed.
type Finisher interface {
	Finish(ctx context.Context, s Setup, res *Result, emit func(agent.Event))
}

// setup builds the Setup the extensions see.
func (t *run) setup() Setup {
	var prompt string
	for i := len(t.in.History) - 1; i >= 0; i-- {
		if t.in.History[i].Role == agent.RoleUser {
			prompt = t.in.History[i].Text()
			break
		}
	}
	return Setup{
		SessionID:   t.in.SessionID,
		TurnID:      t.in.TurnID,
		WorkspaceID: t.in.WorkspaceID,
		UserID:      t.in.UserID,
		Model:       t.in.Model,
		Mode:        t.in.PermissionMode,
		Prompt:      prompt,
		History:     t.in.History,
		Context:     t.in.Context,
	}
}

// extend runs the extensions and applies what they contribute: the
// system prompt, the server tools, the sources and memories. It returns
// the events to emit before the first model call.
func (t *run) extend(ctx context.Context) ([]agent.Event, error) {
	t.system = t.in.SystemPrompt
	t.tools, t.order = t.r.baseTools, t.r.baseOrder
	if len(t.r.extensions) == 0 {
		return nil, nil
	}
	t.ext = t.setup()
	var (
		events      []agent.Event
		allow, deny []string
		system      []string
	)
	if t.system != "" {
		system = append(system, t.system)
	}
	for _, e := range t.r.extensions {
		c, err := e.Prepare(ctx, t.ext)
		if err != nil {
			return nil, err
		}
		if c.System != "" {
			system = append(system, c.System)
		}
		for _, tl := range c.Tools {
			name := tl.Spec().Name
			if _, dup := t.tools[name]; dup {
				return nil, fmt.Errorf("%w: tool %q is offered twice", agent.ErrInvalid, name)
			}
			t.ownTools()
			t.tools[name] = tl
			t.order = append(t.order, tl)
		}
		allow = append(allow, c.Allow...)
		deny = append(deny, c.Deny...)
		events = append(events, c.Events...)
		t.res.Sources = append(t.res.Sources, c.Sources...)
		t.res.Memories = append(t.res.Memories, c.Memories...)
		if f, ok := e.(Finisher); ok {
			t.finishers = append(t.finishers, f)
		}
	}
	t.system = strings.Join(system, "\n\n")
	if len(allow) > 0 || len(deny) > 0 {
		t.ownTools()
		t.order = slices.DeleteFunc(t.order, func(tl tool.Tool) bool {
			name := tl.Spec().Name
			hide := slices.Contains(deny, name) || (len(allow) > 0 && !slices.Contains(allow, name))
			if hide {
				delete(t.tools, name)
			}
			return hide
		})
	}
	return events, nil
}

// ownTools gives the turn its own copy of the server tools the turns
// share, before it changes them.
func (t *run) ownTools() {
	if t.ownedTools {
		return
	}
	t.ownedTools = true
	t.tools, t.order = maps.Clone(t.tools), slices.Clone(t.order)
}

// emitAll sends events prepared before the first model call, with the
// turn's ids on runtime events.
func (t *run) emitAll(events []agent.Event) {
	for _, ev := range events {
		t.emit(ev)
	}
}

func (t *run) emit(ev agent.Event) {
	if ev.Runtime != nil {
		rt := *ev.Runtime
		rt.SessionID, rt.TurnID = t.in.SessionID, t.in.TurnID
		ev.Runtime = &rt
	}
	t.sink.Event(ev)
}

// finishAll calls the finishers once the turn has ended. It is not
// inlined: the Setup it passes by value would otherwise sit in the frame
// of run, which the turn's goroutine keeps while it waits for the model.
//
//go:noinline
func (t *run) finishAll(ctx context.Context, res *Result) {
	for _, f := range t.finishers {
		f.Finish(ctx, t.ext, res, t.emit)
	}
}

// addSources records chunks a tool retrieved; tools may report from a
// goroutine of their own.
func (t *run) addSources(src []agent.Source) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Sources = append(t.res.Sources, src...)
}

// sources returns the sources so far, for a model request.
func (t *run) sources() []agent.Source {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clip(t.res.Sources)
}

// Validator is implemented by an Extension that checks the context a
// request gives a turn (or a session, when it is created) before anything
// runs or streams: an unknown or foreign corpus id is refused here, with
// an error wrapping agent.ErrNotFound, rather than failing the turn later.
// Validate must be quick (store reads at most).
type Validator interface {
	Validate(ctx context.Context, userID, workspaceID string, c agent.TurnContext) error
}
