package turn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/permission"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tool"
)

// Contents of the tool results the runner writes itself.
const (
	resultInterrupted = "interrupted"
	resultNotRun      = "not run: the turn failed"
)

// attrs prefixes a log line's attributes with the turn's session and turn
// ids. The runner's logger is not derived per turn (slog's With copies the
// handler, about 1 KiB that a held turn would keep for its whole life only
// for the rare line it logs).
func (t *run) attrs(args ...any) []any {
	return append([]any{keySessionID, t.in.SessionID, keyTurnID, t.in.TurnID}, args...)
}

// run is the state of one Run call.
type run struct {
	r *Runner
	// in is the caller's, read only; the caller leaves it alone until
	// Run returns.
	in   *Input
	sink Sink

	prov     provider.Provider
	provName string
	model    string
	specs    []agent.ToolSpec
	client   map[string]bool
	maxCalls int

	// What the extensions made of the turn: the system prompt, the
	// server tools offered (by name, and in the order the model sees
	// them), and the finishers to call at the end.
	system string
	tools  map[string]tool.Tool
	order  []tool.Tool
	// ownedTools is set once tools and order are the turn's own;
	// until then they are the Runner's, shared by every turn.
	ownedTools bool
	ext        Setup
	finishers  []Finisher
	// mu guards res.Sources, which a tool may add to from a goroutine
	// of its own.
	mu sync.Mutex

	msgs  []agent.Message // history as the next model call sees it
	calls int
	uses  map[string]int // server tool calls by name, for ToolUseLimits
	// toolUses counts the tool uses of the turn, for maxUsesPerTurn.
	toolUses int
	// tooDeep holds the ids of the tool uses whose input nested deeper
	// than agent.MaxJSONDepth; their stored input is {}.
	tooDeep map[string]bool
	res     Result

	// The model call in flight: its request, the text it streamed so
	// far, and the callback its chunks go to (made once per turn). They
	// live here rather than on the stack because the goroutine waits for
	// the model inside the call (see Run).
	req      agent.ModelRequest
	streamed strings.Builder
	onChunk  func(agent.ModelChunk)
}

// Run runs one turn and reports how it ended. It returns when the turn
// ends, including promptly after ctx is cancelled (StopInterrupted); what
// was committed before stays committed. Run does not modify *in, and
// the caller must not until Run returns.
//
// A held stream's turn spends its life in the provider's wait for the
// model, so the frames on that path are kept small (the request and the
// turn's state are on the heap, passed by pointer) and the turn's
// preparation, which goes deep (store reads and searches of the
// extensions), runs on a goroutine of its own: the turn's goroutine then
// keeps a stack of 8 KiB instead of 16 KiB, which the runtime would not
// shrink while more than a quarter of it is in use.
func (r *Runner) Run(ctx context.Context, in *Input, sink Sink) Result {
	t := &run{r: r, in: in, sink: sink}
	t.run(ctx)
	return t.res
}

// run runs the turn and leaves how it ended in t.res.
func (t *run) run(ctx context.Context) {
	defer t.recoverPanic()
	if err := t.prepareAside(ctx); err != nil {
		t.fail(err)
		return
	}
	t.onChunk = t.chunk
	t.loop(ctx)
	t.finishAll(ctx, &t.res)
}

// recoverPanic turns a panic of the turn into its result.
func (t *run) recoverPanic() {
	if v := recover(); v != nil {
		t.fail(t.panicked(v))
	}
}

// panicked logs a panic recovered in the turn, outside a tool, and
// returns it as a *PanicError.
func (t *run) panicked(v any) *PanicError {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	// Logged here because the stack exists nowhere else; the error the
	// session reports carries only the message.
	t.r.log.Error("turn panicked", t.attrs("panic", fmt.Sprint(v), "stack", string(pe.Stack))...)
	return pe
}

// prepareAside runs prepare on a goroutine of its own when there are
// extensions, and waits for it: their work goes deep, and the stack it
// grows is freed with that goroutine instead of staying with the turn's
// for the turn's life. A panic there fails the turn as one in Run does.
// The extensions' events are emitted from the turn's goroutine.
func (t *run) prepareAside(ctx context.Context) error {
	events, err := t.prepareOff(ctx)
	if err == nil {
		t.emitAll(events)
	}
	return err
}

func (t *run) prepareOff(ctx context.Context) ([]agent.Event, error) {
	if len(t.r.extensions) == 0 {
		return t.prepare(ctx)
	}
	type prepared struct {
		events []agent.Event
		err    error
	}
	done := make(chan prepared, 1)
	t.r.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				done <- prepared{err: t.panicked(v)}
			}
		}()
		events, err := t.prepare(ctx)
		done <- prepared{events, err}
	})
	p := <-done
	return p.events, p.err
}

// prepare validates the input, works out the provider, runs the
// extensions and builds the tool list. It returns the extensions' events,
// to emit before the first model call.
func (t *run) prepare(ctx context.Context) ([]agent.Event, error) {
	in := t.in
	if t.sink == nil {
		return nil, fmt.Errorf("%w: turn without a sink", agent.ErrInvalid)
	}
	if in.PermissionMode != "" && !agent.ValidMode(in.PermissionMode) {
		return nil, fmt.Errorf("%w: unknown permission mode %q", agent.ErrInvalid, in.PermissionMode)
	}
	if in.MaxTurns < 0 {
		return nil, fmt.Errorf("%w: max_turns is negative: %d", agent.ErrInvalid, in.MaxTurns)
	}
	if in.MaxTokens < 0 {
		return nil, fmt.Errorf("%w: max_tokens is negative: %d", agent.ErrInvalid, in.MaxTokens)
	}
	route := in.Route
	if route == nil {
		prov, model, err := t.r.providers.Select(ctx, in.UserID, in.ProviderSettingID, in.Model)
		route = &provider.Route{Provider: prov, Model: model, Err: err}
	}
	if route.Err != nil {
		return nil, route.Err
	}
	prov, model := route.Provider, route.Model
	t.prov, t.model = prov, model
	t.provName, _, _ = strings.Cut(in.Model, ":")

	if len(in.ClientTools) > 0 {
		t.client = make(map[string]bool, len(in.ClientTools))
	}
	for _, s := range in.ClientTools {
		if s.Name == "" {
			return nil, fmt.Errorf("%w: client tool without a name", agent.ErrInvalid)
		}
		if t.client[s.Name] {
			return nil, fmt.Errorf("%w: client tool %q declared twice", agent.ErrInvalid, s.Name)
		}
		t.client[s.Name] = true
	}
	events, err := t.extend(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case in.DisableServerTools:
	case !t.ownedTools && len(in.ClientTools) == 0:
		t.specs = t.r.baseSpecs // shared and clipped: an append copies
	default:
		for _, tl := range t.order {
			if s := tl.Spec(); !t.client[s.Name] {
				t.specs = append(t.specs, s)
			}
		}
	}
	t.specs = append(t.specs, in.ClientTools...)

	t.maxCalls = in.MaxTurns
	if t.maxCalls == 0 {
		t.maxCalls = t.r.maxTurns
	}
	t.msgs = slices.Clip(in.History)
	return events, nil
}

// loop alternates model calls and tool rounds until the turn ends, and
// leaves how it ended in t.res. Its frame and callModel's are on the stack
// while the model is awaited; what follows an answer is in answered.
func (t *run) loop(ctx context.Context) {
	for {
		if t.calls >= t.maxCalls {
			t.finish(agent.StopMaxTurns)
			return
		}
		if ctx.Err() != nil {
			t.finish(agent.StopInterrupted)
			return
		}
		resp, err := t.callModel(ctx)
		if t.answered(ctx, &resp, err) {
			return
		}
	}
}

// answered commits a model call's answer and runs its tool uses. It
// reports whether the turn has ended (t.res then says how).
func (t *run) answered(ctx context.Context, resp *agent.ModelResponse, err error) bool {
	t.res.Usage = t.res.Usage.Add(resp.Usage)
	if err != nil && ctx.Err() != nil {
		// The answer was cut short: keep what the user already saw,
		// as plain text, and nothing half-built.
		if t.streamed.Len() > 0 {
			t.commit(agent.Message{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock(t.streamed.String())}})
		}
		t.finish(agent.StopInterrupted)
		return true
	}
	if err != nil {
		t.fail(fmt.Errorf("provider %s: %w", t.provName, err))
		return true
	}

	content := resp.Content
	if resp.StopReason == agent.StopMaxTokens {
		// A tool use in a truncated answer is never run, and an
		// unanswered tool_use would make every later call of this
		// session fail, so it is not kept.
		content = slices.DeleteFunc(slices.Clone(content), func(b agent.Block) bool { return b.Type == agent.BlockToolUse })
	}
	content = t.flattenDeepInputs(content)
	if len(content) > 0 {
		t.commit(agent.Message{Role: agent.RoleAssistant, Content: content})
	}
	var uses []agent.Block
	for _, b := range content {
		if b.Type == agent.BlockToolUse {
			uses = append(uses, b)
		}
	}
	if len(uses) == 0 {
		switch resp.StopReason {
		case agent.StopMaxTokens, agent.StopRefusal:
			t.finish(resp.StopReason)
		default:
			t.finish(agent.StopEndTurn)
		}
		return true
	}
	stop := t.toolRound(ctx, uses)
	switch {
	case t.res.Err != nil: // a tool panicked
		t.fail(t.res.Err)
		return true
	case stop != "":
		t.finish(stop)
		return true
	}
	return false
}

// callModel runs one model call, streaming its text to the sink and
// keeping it in t.streamed, which is all there is of an answer cut short
// by ctx.
func (t *run) callModel(ctx context.Context) (agent.ModelResponse, error) {
	t.nextRequest()
	t.calls++
	t.streamed.Reset()
	return t.prov.Stream(ctx, &t.req, t.onChunk)
}

// nextRequest fills in t.req for the next model call.
func (t *run) nextRequest() {
	t.req = agent.ModelRequest{
		Model:          t.model,
		System:         t.system,
		Messages:       t.msgs,
		Tools:          t.specs,
		ToolChoice:     t.in.ToolChoice,
		MaxTokens:      t.in.MaxTokens,
		ResponseFormat: t.in.ResponseFormat,
		Sources:        t.sources(),
		Memories:       t.res.Memories,
	}
	if t.calls > 0 && forces(t.req.ToolChoice) {
		t.req.ToolChoice = nil
	}
}

// chunk hands a streamed chunk of the model call in flight to the sink.
func (t *run) chunk(c agent.ModelChunk) {
	switch c.Type {
	case agent.ChunkText:
		t.streamed.WriteString(c.Text)
		t.sink.Event(agent.Event{Kind: agent.KindDelta, Delta: c.Text})
	case agent.ChunkThinking:
		t.sink.Event(agent.Event{Kind: agent.KindDelta, Delta: c.Text, Thinking: true})
	}
}

func forces(tc *agent.ToolChoice) bool {
	return tc != nil && (tc.Type == "any" || tc.Type == "tool")
}

// toolRound answers the tool uses of one assistant message and commits
// the results. It returns the turn's stop reason when the turn must end
// after this round (interrupted, or a client tool was called), else "".
// A tool panic is left in t.res.Err; the tools after it do not run.
func (t *run) toolRound(ctx context.Context, uses []agent.Block) agent.StopReason {
	var (
		results    []agent.Block
		clientCall bool
	)
	for i, u := range uses {
		u.Input = normalizeInput(u.Input)
		t.res.ToolUses = append(t.res.ToolUses, agent.ToolUse{ID: u.ID, Name: u.Name, Input: u.Input})
		t.toolUses++
		if refusal := t.overCap(i, u); refusal != "" {
			isError := true
			t.runtime(agent.RuntimeEvent{Type: agent.RuntimeToolFinished, ToolUseID: u.ID, Name: u.Name, IsError: &isError, Output: &refusal})
			results = append(results, agent.Block{Type: agent.BlockToolResult, ToolUseID: u.ID, Content: refusal, IsError: true})
			t.res.ToolResults = append(t.res.ToolResults, agent.ToolResult{ToolUseID: u.ID, IsError: true, Content: refusal})
			continue
		}
		if t.client[u.Name] {
			clientCall = true // the client answers it in its next request
			continue
		}
		var content string
		var isError bool
		switch {
		case t.res.Err != nil:
			content, isError = resultNotRun, true
		case ctx.Err() != nil:
			content, isError = resultInterrupted, true
		default:
			content, isError = t.runTool(ctx, u)
		}
		results = append(results, agent.Block{Type: agent.BlockToolResult, ToolUseID: u.ID, Content: content, IsError: isError})
		t.res.ToolResults = append(t.res.ToolResults, agent.ToolResult{ToolUseID: u.ID, IsError: isError, Content: content})
	}
	if len(results) > 0 {
		t.commit(agent.Message{Role: agent.RoleUser, Content: results})
	}
	switch {
	case ctx.Err() != nil:
		return agent.StopInterrupted
	case clientCall:
		return agent.StopToolUse
	}
	return ""
}

// overCap says why the i-th tool use of a model response may not run at
// all, or "": its input nests too deeply, or it is past the cap of one
// response's or the turn's tool uses (toolUses already counts it). Such a
// call, of a server or a client tool, gets an error result the model
// reads, and the others of the response go on.
func (t *run) overCap(i int, u agent.Block) string {
	switch {
	case t.tooDeep[u.ID]:
		return fmt.Sprintf("not run: the tool input nests arrays and objects deeper than %d levels", agent.MaxJSONDepth)
	case i >= t.r.maxUsesPerResponse:
		return fmt.Sprintf("not run: a model response may call at most %d tools; call the others in a later response", t.r.maxUsesPerResponse)
	case t.toolUses > t.r.maxUsesPerTurn:
		return fmt.Sprintf("not run: a turn may call at most %d tools", t.r.maxUsesPerTurn)
	}
	return ""
}

// flattenDeepInputs replaces the input of every tool use in content that
// nests deeper than agent.MaxJSONDepth with {}, and notes its id in
// t.tooDeep so that the call is answered with an error result. Such an
// input would be stored and then fail to load: whatever the store keeps
// it must read back. content is copied before it is changed.
func (t *run) flattenDeepInputs(content []agent.Block) []agent.Block {
	cloned := false
	for i, b := range content {
		if b.Type != agent.BlockToolUse || agent.JSONDepth(b.Input) <= agent.MaxJSONDepth {
			continue
		}
		if !cloned {
			content, cloned = slices.Clone(content), true
		}
		content[i].Input = json.RawMessage(`{}`)
		if t.tooDeep == nil {
			t.tooDeep = make(map[string]bool)
		}
		t.tooDeep[b.ID] = true
	}
	return content
}

// runTool answers one server tool use: the checks, the permission, the
// run, and the tool_started/tool_finished events. A panic in the tool is
// left in t.res.Err and answered as an error result.
func (t *run) runTool(ctx context.Context, u agent.Block) (content string, isError bool) {
	tl, refusal := t.gate(ctx, u)
	if tl == nil {
		// A refused call still closes with tool_finished, so a client's
		// tool card for it never stays open.
		// The event keeps its own flag: the result below must not write
		// to what the event, encoded elsewhere, points at.
		failed := true
		t.runtime(agent.RuntimeEvent{Type: agent.RuntimeToolFinished, ToolUseID: u.ID, Name: u.Name, IsError: &failed, Output: &refusal})
		return refusal, true
	}
	return t.execute(ctx, tl, u)
}

// gate runs the checks and the permission of one tool use. It returns the
// tool to run, or nil and why the call is refused.
func (t *run) gate(ctx context.Context, u agent.Block) (tool.Tool, string) {
	tl, ok := t.serverTool(u.Name)
	if !ok {
		return nil, "unknown tool: " + u.Name
	}
	if err := tool.ValidateInput(tl.Spec().InputSchema, u.Input); err != nil {
		return nil, err.Error()
	}
	info := permission.ToolInfo{Name: u.Name, NeedsApproval: tl.NeedsApproval(), ReadOnly: tl.ReadOnly()}
	if permission.PlanBlocks(t.in.PermissionMode, info) {
		// The absolute gate: nothing below (a remembered allow, NoAsk,
		// a tool's own approval setting) is consulted in plan mode.
		return nil, deniedByMode(agent.ModePlan, u.Name)
	}
	if limit, ok := t.in.ToolUseLimits[u.Name]; ok {
		if t.uses == nil {
			t.uses = make(map[string]int)
		}
		if t.uses[u.Name] >= limit {
			return nil, fmt.Sprintf("%s: %s may be called at most %d times in this turn", ErrMaxUsesExceeded, u.Name, limit)
		}
		t.uses[u.Name]++
	}
	switch permission.Decide(t.in.PermissionMode, info) {
	case permission.Allow:
	case permission.Ask:
		d, err := t.sink.Permission(ctx, PermissionRequest{ToolUseID: u.ID, ToolName: u.Name, Input: u.Input})
		switch {
		case ctx.Err() != nil:
			return nil, resultInterrupted
		case err != nil:
			return nil, "permission denied: " + err.Error()
		case !d.Allow:
			if d.Reason != "" {
				return nil, "permission denied: " + d.Reason
			}
			return nil, "permission denied"
		}
	default:
		return nil, deniedByMode(t.in.PermissionMode, u.Name)
	}
	return tl, ""
}

// execute runs an allowed tool use between its tool_started and
// tool_finished events.
func (t *run) execute(ctx context.Context, tl tool.Tool, u agent.Block) (content string, isError bool) {
	t.runtime(agent.RuntimeEvent{Type: agent.RuntimeToolStarted, ToolUseID: u.ID, Name: u.Name, Input: u.Input})
	if t.r.log.Enabled(ctx, slog.LevelDebug) {
		t.r.log.Debug("tool started", t.attrs(keyToolName, u.Name, keyToolUseID, u.ID)...)
	}
	out, err := t.invoke(ctx, tl, u)
	var pe *PanicError
	switch {
	case errors.As(err, &pe):
		t.res.Err = pe
		content, isError = pe.Error(), true
	case err != nil && ctx.Err() != nil:
		content, isError = resultInterrupted, true
	case err != nil:
		content, isError = err.Error(), true
	default:
		content = out
	}
	// The event keeps its own copies: the return writes the results.
	failed, output := isError, content
	t.runtime(agent.RuntimeEvent{Type: agent.RuntimeToolFinished, ToolUseID: u.ID, Name: u.Name, IsError: &failed, Output: &output})
	return content, isError
}

// ErrMaxUsesExceeded starts the result of a call past its tool's cap in
// Options.ToolUseLimits.
const ErrMaxUsesExceeded = "max_uses_exceeded"

// errCallOver answers an Ask made after the tool's Run returned.
var errCallOver = errors.New("the tool call is over")

// invoke runs the tool, turning a panic into a *PanicError.
func (t *run) invoke(ctx context.Context, tl tool.Tool, u agent.Block) (out string, err error) {
	// A tool may report from a goroutine of its own that outlives Run;
	// what it sends after Run returned is dropped, so tool_progress never
	// follows tool_finished and no prompt opens for a finished call.
	var over atomic.Bool
	defer over.Store(true)
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Tool: u.Name, Value: v, Stack: debug.Stack()}
			t.r.log.Error("tool panicked", t.attrs(keyToolName, u.Name, keyToolUseID, u.ID,
				"panic", fmt.Sprint(v), "stack", string(pe.Stack))...)
			err = pe
		}
	}()
	return tl.Run(ctx, tool.Call{
		SessionID:   t.in.SessionID,
		WorkspaceID: t.in.WorkspaceID,
		UserID:      t.in.UserID,
		ToolUseID:   u.ID,
		Input:       u.Input,
		Files:       t.r.files,
		Progress: func(msg string) {
			if !over.Load() {
				t.runtime(agent.RuntimeEvent{Type: agent.RuntimeToolProgress, ToolUseID: u.ID, Message: msg})
			}
		},
		Ask: func(ctx context.Context, question string) (string, error) {
			if over.Load() {
				return "", errCallOver
			}
			return t.sink.Ask(ctx, question, u.ID)
		},
		Sources: func(src []agent.Source) {
			if !over.Load() {
				t.addSources(src)
			}
		},
	})
}

// serverTool finds a server tool the model may call in this turn.
func (t *run) serverTool(name string) (tool.Tool, bool) {
	if t.in.DisableServerTools {
		return nil, false
	}
	tl, ok := t.tools[name]
	return tl, ok
}

func deniedByMode(mode, name string) string {
	if mode == agent.ModePlan {
		return "permission denied: plan mode runs only tools that change nothing"
	}
	return fmt.Sprintf("permission denied: %s needs approval and the session denies all such tools", name)
}

// normalizeInput makes an absent input the empty object, the shape every
// tool_use input has on the wire.
func normalizeInput(in json.RawMessage) json.RawMessage {
	if len(in) == 0 {
		return json.RawMessage(`{}`)
	}
	return in
}

func (t *run) commit(m agent.Message) {
	m.CreatedAt = time.Now().UTC()
	t.msgs = append(t.msgs, m)
	if m.Role == agent.RoleAssistant {
		t.res.Content = m.Text()
	}
	t.sink.Commit(m)
}

func (t *run) runtime(ev agent.RuntimeEvent) {
	ev.SessionID, ev.TurnID = t.in.SessionID, t.in.TurnID
	t.sink.Event(agent.Event{Kind: agent.KindRuntime, Runtime: &ev})
}

func (t *run) finish(stop agent.StopReason) {
	t.res.StopReason = stop
	t.res.Sources = t.sources()
	if t.r.log.Enabled(context.Background(), slog.LevelDebug) {
		t.r.log.Debug("turn ended", t.attrs(keyStopReason, string(stop), keyCalls, t.calls)...)
	}
}

func (t *run) fail(err error) {
	t.res.Err = err
	t.finish(agent.StopError)
}
