package turn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recSink records what a turn produces. decide and answer stand in for
// the session's permission and prompt handling; onEvent lets a test react
// to the stream (to interrupt it, say).
type recSink struct {
	mu      sync.Mutex
	events  []agent.Event
	commits []agent.Message
	perms   []PermissionRequest
	asks    [][2]string // question, tool use id

	decide  func(ctx context.Context, req PermissionRequest) (Decision, error)
	answer  func(ctx context.Context, question string) (string, error)
	onEvent func(ev agent.Event)
}

func (s *recSink) Event(ev agent.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	on := s.onEvent
	s.mu.Unlock()
	if on != nil {
		on(ev)
	}
}

func (s *recSink) Commit(m agent.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits = append(s.commits, m)
}

func (s *recSink) Permission(ctx context.Context, req PermissionRequest) (Decision, error) {
	s.mu.Lock()
	s.perms = append(s.perms, req)
	decide := s.decide
	s.mu.Unlock()
	if decide == nil {
		return Decision{}, errors.New("no one to ask")
	}
	return decide(ctx, req)
}

func (s *recSink) Ask(ctx context.Context, question, toolUseID string) (string, error) {
	s.mu.Lock()
	s.asks = append(s.asks, [2]string{question, toolUseID})
	answer := s.answer
	s.mu.Unlock()
	if answer == nil {
		return "", errors.New("no one to ask")
	}
	return answer(ctx, question)
}

func (s *recSink) deltas() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		if ev.Kind == agent.KindDelta {
			out = append(out, ev.Delta)
		}
	}
	return out
}

func (s *recSink) runtime() []agent.RuntimeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []agent.RuntimeEvent
	for _, ev := range s.events {
		if ev.Kind == agent.KindRuntime {
			out = append(out, *ev.Runtime)
		}
	}
	return out
}

// mapFiles is a FileStore over a map.
type mapFiles struct {
	mu    sync.Mutex
	files map[string][]byte // "workspace/path" → content
}

func (m *mapFiles) ReadFile(_ context.Context, ws, path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[ws+"/"+path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, agent.ErrNotFound)
	}
	return b, nil
}

func (m *mapFiles) WriteFile(_ context.Context, ws, _, path string, content []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[ws+"/"+path] = content
	return nil
}

func (m *mapFiles) ListFiles(_ context.Context, ws string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.files {
		if p, ok := cutPrefix(k, ws+"/"); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// testTool is a Tool made of a function.
type testTool struct {
	name          string
	needsApproval bool
	readOnly      bool
	run           func(ctx context.Context, call tool.Call) (string, error)
}

func (tt testTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{Name: tt.name, InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (tt testTool) NeedsApproval() bool { return tt.needsApproval }
func (tt testTool) ReadOnly() bool      { return tt.readOnly }
func (tt testTool) Run(ctx context.Context, call tool.Call) (string, error) {
	return tt.run(ctx, call)
}

var extraTools = []tool.Tool{
	testTool{name: "boom", readOnly: true, run: func(context.Context, tool.Call) (string, error) {
		panic("kaboom")
	}},
	testTool{name: "progress", readOnly: true, run: func(_ context.Context, c tool.Call) (string, error) {
		c.Progress("half way")
		return "done", nil
	}},
	testTool{name: "wait", readOnly: true, run: func(ctx context.Context, _ tool.Call) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}},
	testTool{name: "fail", readOnly: true, run: func(context.Context, tool.Call) (string, error) {
		return "", errors.New("disk on fire")
	}},
}

// recProvider wraps the mock and records the requests it gets.
type recProvider struct {
	mu   sync.Mutex
	reqs []agent.ModelRequest
}

func (p *recProvider) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, *req)
	p.mu.Unlock()
	return provider.NewMock().Stream(ctx, req, emit)
}

// loopProvider calls list_files on every call, so only max_turns ends the
// turn.
type loopProvider struct{}

func (loopProvider) Stream(_ context.Context, _ *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	b := agent.Block{Type: agent.BlockToolUse, ID: agent.NewID(agent.PrefixToolUse), Name: tool.NameListFiles}
	emit(agent.ModelChunk{Type: agent.ChunkText, Text: "again"})
	emit(agent.ModelChunk{Type: agent.ChunkToolUse, Block: b})
	return agent.ModelResponse{
		Content:    []agent.Block{agent.TextBlock("again"), b},
		StopReason: agent.StopToolUse,
		Usage:      agent.Usage{InputTokens: 1, OutputTokens: 2},
	}, nil
}

type panicProvider struct{}

func (panicProvider) Stream(context.Context, *agent.ModelRequest, func(agent.ModelChunk)) (agent.ModelResponse, error) {
	panic("provider bug")
}

// thinkingProvider streams a thinking delta, then text.
type thinkingProvider struct{}

func (thinkingProvider) Stream(_ context.Context, _ *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	emit(agent.ModelChunk{Type: agent.ChunkThinking, Text: "hmm"})
	emit(agent.ModelChunk{Type: agent.ChunkText, Text: "answer"})
	return agent.ModelResponse{
		Content:    []agent.Block{{Type: agent.BlockThinking, Text: "hmm", Signature: "sig"}, agent.TextBlock("answer")},
		StopReason: agent.StopEndTurn,
	}, nil
}

const ws = "ws_test"

type fixture struct {
	runner *Runner
	files  *mapFiles
	rec    *recProvider
}

func newFixture(t testing.TB, maxTurns int) fixture {
	t.Helper()
	files := &mapFiles{files: map[string][]byte{ws + "/a.txt": []byte("hello file")}}
	rec := &recProvider{}
	providers := provider.NewRegistry()
	providers.Register("rec", rec)
	providers.Register("loop", loopProvider{})
	providers.Register("panic", panicProvider{})
	providers.Register("think", thinkingProvider{})
	r, err := New(Config{
		Providers: providers,
		Tools:     tool.NewRegistry(append(tool.Builtins(), extraTools...)...),
		Files:     files,
		MaxTurns:  maxTurns,
	})
	require.NoError(t, err)
	return fixture{runner: r, files: files, rec: rec}
}

func input(prompt string) Input {
	return Input{
		SessionID:   "sess_test",
		TurnID:      "turn_test",
		WorkspaceID: ws,
		UserID:      "usr_test",
		Options:     Options{Model: "mock:echo"},
		History:     []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(prompt)}}},
	}
}

func roles(msgs []agent.Message) []agent.Role {
	var out []agent.Role
	for _, m := range msgs {
		out = append(out, m.Role)
	}
	return out
}

func TestNew(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	_, err = New(Config{Providers: provider.NewRegistry(), MaxTurns: -1})
	require.Error(t, err)
	r, err := New(Config{Providers: provider.NewRegistry()})
	require.NoError(t, err)
	require.Equal(t, DefaultMaxTurns, r.maxTurns)
	require.Empty(t, r.tools.Specs())
}

func TestEchoTurn(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	in := input("hello   world")
	history := append([]agent.Message(nil), in.History...)
	res := f.runner.Run(t.Context(), &in, sink)

	require.NoError(t, res.Err)
	require.Equal(t, agent.StopEndTurn, res.StopReason)
	require.Equal(t, "echo: hello world", res.Content)
	require.Equal(t, agent.Usage{InputTokens: 2, OutputTokens: 3}, res.Usage)
	require.Equal(t, []string{"echo:", " hello", " world"}, sink.deltas())
	require.Len(t, sink.commits, 1)
	require.Equal(t, agent.RoleAssistant, sink.commits[0].Role)
	require.Equal(t, "echo: hello world", sink.commits[0].Text())
	require.False(t, sink.commits[0].CreatedAt.IsZero())
	require.Empty(t, res.ToolUses)
	require.Empty(t, sink.runtime())
	require.Equal(t, history, in.History, "Run leaves the history alone")
	for _, ev := range sink.events {
		require.Zero(t, ev.ID)
		require.Nil(t, ev.Data)
	}
}

func TestToolRoundTrip(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	res := f.runner.Run(t.Context(), ptr(input(`@tool read_file {"path":"a.txt"}`)), sink)

	require.NoError(t, res.Err)
	require.Equal(t, agent.StopEndTurn, res.StopReason)
	require.Equal(t, "tool read_file returned: hello file", res.Content)
	require.Equal(t, []agent.Role{agent.RoleAssistant, agent.RoleUser, agent.RoleAssistant}, roles(sink.commits))

	use := sink.commits[0].Content[0]
	require.Equal(t, agent.BlockToolUse, use.Type)
	require.Equal(t, "read_file", use.Name)
	require.Equal(t, []agent.ToolUse{{ID: use.ID, Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)}}, res.ToolUses)
	require.Equal(t, []agent.Block{{Type: agent.BlockToolResult, ToolUseID: use.ID, Content: "hello file"}}, sink.commits[1].Content)
	require.Equal(t, []agent.ToolResult{{ToolUseID: use.ID, Content: "hello file"}}, res.ToolResults)

	isErr, out := false, "hello file"
	require.Equal(t, []agent.RuntimeEvent{
		{Type: agent.RuntimeToolStarted, SessionID: "sess_test", TurnID: "turn_test", ToolUseID: use.ID, Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)},
		{Type: agent.RuntimeToolFinished, SessionID: "sess_test", TurnID: "turn_test", ToolUseID: use.ID, Name: "read_file", IsError: &isErr, Output: &out},
	}, sink.runtime())
	// Call 1: 3 words in, 1 tool use out. Call 2: those 3 words, 1 word of
	// tool input and 2 of tool result in, 1 text chunk out.
	require.Equal(t, agent.Usage{InputTokens: 3 + 6, OutputTokens: 2}, res.Usage)
	require.Empty(t, sink.perms, "read_file needs no approval")
}

func TestToolResults(t *testing.T) {
	tests := []struct {
		name    string
		prompt  string
		want    string
		isError bool
	}{
		{"unknown tool", `@tool nope {}`, "unknown tool: nope", true},
		{"invalid input", `@tool read_file {"path":1}`, `invalid input: property "path": want string, got integer`, true},
		{"missing input", `@tool read_file`, `invalid input: missing required property "path"`, true},
		{"tool error", `@tool fail`, "disk on fire", true},
		{"missing file", `@tool read_file {"path":"nope.txt"}`, "file not found: nope.txt", true},
		{"list files", `@tool list_files`, "a.txt", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			sink := &recSink{}
			res := f.runner.Run(t.Context(), ptr(input(tc.prompt)), sink)
			require.NoError(t, res.Err)
			require.Equal(t, agent.StopEndTurn, res.StopReason)
			require.Len(t, res.ToolResults, 1)
			require.Equal(t, tc.want, res.ToolResults[0].Content)
			require.Equal(t, tc.isError, res.ToolResults[0].IsError)
			require.Len(t, sink.commits, 3)
			require.Equal(t, tc.isError, sink.commits[1].Content[0].IsError)
			require.Empty(t, sink.perms)
		})
	}
}

func TestPermissions(t *testing.T) {
	const prompt = `@tool write_file {"path":"b.txt","content":"bee"}`
	allow := func(context.Context, PermissionRequest) (Decision, error) { return Decision{Allow: true}, nil }
	deny := func(context.Context, PermissionRequest) (Decision, error) {
		return Decision{Reason: "not today"}, nil
	}
	tests := []struct {
		name      string
		mode      string
		decide    func(context.Context, PermissionRequest) (Decision, error)
		wantAsked bool
		want      string
		isError   bool
	}{
		{name: "default allowed", mode: agent.ModeDefault, decide: allow, wantAsked: true, want: "wrote 3 bytes to b.txt"},
		{name: "empty mode allowed", mode: "", decide: allow, wantAsked: true, want: "wrote 3 bytes to b.txt"},
		{name: "default denied", mode: agent.ModeDefault, decide: deny, wantAsked: true, want: "permission denied: not today", isError: true},
		{name: "default denied without reason", mode: agent.ModeDefault,
			decide:    func(context.Context, PermissionRequest) (Decision, error) { return Decision{}, nil },
			wantAsked: true, want: "permission denied", isError: true},
		{name: "permission error", mode: agent.ModeDefault, decide: nil, wantAsked: true,
			want: "permission denied: no one to ask", isError: true},
		{name: "accept_all", mode: agent.ModeAcceptAll, want: "wrote 3 bytes to b.txt"},
		{name: "deny_all", mode: agent.ModeDenyAll, isError: true,
			want: "permission denied: write_file needs approval and the session denies all such tools"},
		{name: "plan", mode: agent.ModePlan, isError: true,
			want: "permission denied: plan mode runs only tools that change nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			sink := &recSink{decide: tc.decide}
			in := input(prompt)
			in.PermissionMode = tc.mode
			res := f.runner.Run(t.Context(), &in, sink)
			require.NoError(t, res.Err)
			require.Equal(t, agent.StopEndTurn, res.StopReason)
			require.Len(t, res.ToolResults, 1)
			require.Equal(t, tc.want, res.ToolResults[0].Content)
			require.Equal(t, tc.isError, res.ToolResults[0].IsError)
			require.Equal(t, "tool write_file returned: "+tc.want, res.Content)

			_, err := f.files.ReadFile(t.Context(), ws, "b.txt")
			if tc.isError {
				require.ErrorIs(t, err, agent.ErrNotFound, "a denied tool does not run")
				for _, ev := range sink.runtime() {
					require.NotEqual(t, agent.RuntimeToolStarted, ev.Type)
				}
			} else {
				require.NoError(t, err)
			}
			if tc.wantAsked {
				use := sink.commits[0].Content[0]
				require.Equal(t, []PermissionRequest{{ToolUseID: use.ID, ToolName: "write_file",
					Input: json.RawMessage(`{"path":"b.txt","content":"bee"}`)}}, sink.perms)
			} else {
				require.Empty(t, sink.perms)
			}
		})
	}
}

func TestAskUser(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{answer: func(_ context.Context, q string) (string, error) { return "blue", nil }}
	in := input(`@tool ask_user {"question":"favourite colour?"}`)
	in.PermissionMode = agent.ModePlan // asking changes nothing
	res := f.runner.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)
	require.Equal(t, "tool ask_user returned: blue", res.Content)
	use := sink.commits[0].Content[0]
	require.Equal(t, [][2]string{{"favourite colour?", use.ID}}, sink.asks)
	require.Empty(t, sink.perms)
}

func TestToolProgress(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	res := f.runner.Run(t.Context(), ptr(input(`@tool progress`)), sink)
	require.NoError(t, res.Err)
	ev := sink.runtime()
	require.Len(t, ev, 3)
	require.Equal(t, agent.RuntimeToolStarted, ev[0].Type)
	require.Equal(t, agent.RuntimeEvent{Type: agent.RuntimeToolProgress, SessionID: "sess_test", TurnID: "turn_test",
		ToolUseID: ev[0].ToolUseID, Message: "half way"}, ev[1])
	require.Equal(t, agent.RuntimeToolFinished, ev[2].Type)
}

func TestToolPanic(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	res := f.runner.Run(t.Context(), ptr(input("@tool boom\n@tool list_files")), sink)

	require.Equal(t, agent.StopError, res.StopReason)
	require.EqualError(t, res.Err, "tool boom panicked: kaboom")
	var pe *PanicError
	require.ErrorAs(t, res.Err, &pe)
	require.Equal(t, "boom", pe.Tool)
	require.NotEmpty(t, pe.Stack)

	// The tool uses are still answered, so the history stays usable.
	require.Equal(t, []agent.Role{agent.RoleAssistant, agent.RoleUser}, roles(sink.commits))
	results := sink.commits[1].Content
	require.Len(t, results, 2)
	require.Equal(t, "tool boom panicked: kaboom", results[0].Content)
	require.True(t, results[0].IsError)
	require.Equal(t, "not run: the turn failed", results[1].Content)
	require.True(t, results[1].IsError)

	ev := sink.runtime()
	require.Len(t, ev, 2, "started and finished for the panicking tool only")
	require.Equal(t, agent.RuntimeToolFinished, ev[1].Type)
	require.True(t, *ev[1].IsError)
}

func TestProviderPanic(t *testing.T) {
	f := newFixture(t, 0)
	in := input("hi")
	in.Model = "panic:x"
	res := f.runner.Run(t.Context(), &in, &recSink{})
	require.Equal(t, agent.StopError, res.StopReason)
	require.EqualError(t, res.Err, "internal error: provider bug")
}

func TestProviderError(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	res := f.runner.Run(t.Context(), ptr(input("@say partial\n@error upstream exploded")), sink)
	require.Equal(t, agent.StopError, res.StopReason)
	require.EqualError(t, res.Err, "provider mock: upstream exploded")
	require.Empty(t, sink.commits)
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Input)
		want   string
	}{
		{"unknown provider", func(in *Input) { in.Model = "nope:x" }, `unknown provider "nope"`},
		{"malformed model", func(in *Input) { in.Model = "echo" }, "not of the form provider:model"},
		{"bad mode", func(in *Input) { in.PermissionMode = "yolo" }, `unknown permission mode "yolo"`},
		{"negative max turns", func(in *Input) { in.MaxTurns = -1 }, "max_turns is negative"},
		{"negative max tokens", func(in *Input) { in.MaxTokens = -1 }, "max_tokens is negative"},
		{"nameless client tool", func(in *Input) { in.ClientTools = []agent.ToolSpec{{}} }, "client tool without a name"},
		{"duplicate client tool", func(in *Input) {
			in.ClientTools = []agent.ToolSpec{{Name: "x"}, {Name: "x"}}
		}, `client tool "x" declared twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			in := input("hi")
			tc.modify(&in)
			sink := &recSink{}
			res := f.runner.Run(t.Context(), &in, sink)
			require.Equal(t, agent.StopError, res.StopReason)
			require.ErrorIs(t, res.Err, agent.ErrInvalid)
			require.ErrorContains(t, res.Err, tc.want)
			require.Empty(t, sink.events)
			require.Empty(t, sink.commits)
		})
	}
	f := newFixture(t, 0)
	res := f.runner.Run(t.Context(), ptr(input("hi")), nil)
	require.ErrorIs(t, res.Err, agent.ErrInvalid)
}

func TestInterruptMidTokens(t *testing.T) {
	f := newFixture(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &recSink{}
	sink.onEvent = func(agent.Event) {
		if len(sink.deltas()) == 3 {
			cancel()
		}
	}
	res := f.runner.Run(ctx, ptr(input("@tokens 100000")), sink)
	require.NoError(t, res.Err)
	require.Equal(t, agent.StopInterrupted, res.StopReason)
	require.Equal(t, "tok0 tok1 tok2", res.Content)
	require.Len(t, sink.commits, 1, "the text received so far is committed")
	require.Equal(t, "tok0 tok1 tok2", sink.commits[0].Text())
	require.Equal(t, int64(3), res.Usage.OutputTokens)
}

func TestInterruptDuringDelay(t *testing.T) {
	f := newFixture(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &recSink{}
	done := make(chan Result, 1)
	go func() { done <- f.runner.Run(ctx, ptr(input("@delay 1h\n@tokens 5")), sink) }()
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	select {
	case res := <-done:
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopInterrupted, res.StopReason)
		require.Empty(t, sink.commits, "nothing was received, so nothing is committed")
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the interrupt")
	}
}

func TestInterruptDuringPermission(t *testing.T) {
	f := newFixture(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &recSink{decide: func(ctx context.Context, _ PermissionRequest) (Decision, error) {
		cancel() // the user interrupts while the request is open
		<-ctx.Done()
		return Decision{}, ctx.Err()
	}}
	res := f.runner.Run(ctx, ptr(input("@tool write_file {\"path\":\"b.txt\",\"content\":\"x\"}\n@tool list_files")), sink)
	require.NoError(t, res.Err)
	require.Equal(t, agent.StopInterrupted, res.StopReason)
	require.Equal(t, []agent.Role{agent.RoleAssistant, agent.RoleUser}, roles(sink.commits))
	for _, r := range sink.commits[1].Content {
		require.Equal(t, "interrupted", r.Content)
		require.True(t, r.IsError)
	}
	require.Len(t, sink.commits[1].Content, 2)
}

func TestInterruptDuringTool(t *testing.T) {
	f := newFixture(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &recSink{onEvent: func(ev agent.Event) {
		if ev.Kind == agent.KindRuntime && ev.Runtime.Type == agent.RuntimeToolStarted {
			cancel()
		}
	}}
	res := f.runner.Run(ctx, ptr(input("@tool wait")), sink)
	require.NoError(t, res.Err)
	require.Equal(t, agent.StopInterrupted, res.StopReason)
	require.Equal(t, []agent.ToolResult{{ToolUseID: res.ToolUses[0].ID, IsError: true, Content: "interrupted"}}, res.ToolResults)
	ev := sink.runtime()
	require.Equal(t, agent.RuntimeToolFinished, ev[len(ev)-1].Type)
}

func TestMaxTurns(t *testing.T) {
	t.Run("input", func(t *testing.T) {
		f := newFixture(t, 0)
		sink := &recSink{}
		in := input("@say looking\n@tool list_files")
		in.MaxTurns = 1
		res := f.runner.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopMaxTurns, res.StopReason)
		require.Equal(t, "looking", res.Content)
		// The tool use is answered even though no call reads the answer.
		require.Equal(t, []agent.Role{agent.RoleAssistant, agent.RoleUser}, roles(sink.commits))
	})
	t.Run("config", func(t *testing.T) {
		f := newFixture(t, 3)
		sink := &recSink{}
		in := input("go")
		in.Model = "loop:x"
		res := f.runner.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopMaxTurns, res.StopReason)
		require.Len(t, sink.commits, 6)
		require.Len(t, res.ToolUses, 3)
		require.Equal(t, agent.Usage{InputTokens: 3, OutputTokens: 6}, res.Usage)
	})
}

func TestMaxTokens(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	in := input("@tokens 5")
	in.MaxTokens = 2
	res := f.runner.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)
	require.Equal(t, agent.StopMaxTokens, res.StopReason)
	require.Equal(t, "tok0 tok1", res.Content)

	// A tool use cut by max_tokens is dropped, never run.
	sink = &recSink{}
	in = input("@say a b\n@tool list_files")
	in.MaxTokens = 2
	res = f.runner.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)
	require.Equal(t, agent.StopMaxTokens, res.StopReason)
	require.Equal(t, "a b", res.Content)
	require.Empty(t, res.ToolUses)
	require.Len(t, sink.commits, 1)
	require.Len(t, sink.commits[0].Content, 1)
}

func TestClientTools(t *testing.T) {
	weather := agent.ToolSpec{Name: "get_weather", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}
	t.Run("only a client tool", func(t *testing.T) {
		f := newFixture(t, 0)
		sink := &recSink{}
		in := input(`@tool get_weather {"city":"Paris"}`)
		in.ClientTools = []agent.ToolSpec{weather}
		res := f.runner.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopToolUse, res.StopReason)
		require.Equal(t, []agent.Role{agent.RoleAssistant}, roles(sink.commits))
		require.Len(t, res.ToolUses, 1)
		require.Equal(t, "get_weather", res.ToolUses[0].Name)
		require.Empty(t, res.ToolResults)
		require.Empty(t, sink.runtime())
	})
	t.Run("mixed with a server tool", func(t *testing.T) {
		f := newFixture(t, 0)
		sink := &recSink{}
		in := input("@tool get_weather {\"city\":\"Paris\"}\n@tool list_files")
		in.ClientTools = []agent.ToolSpec{weather}
		res := f.runner.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopToolUse, res.StopReason)
		require.Equal(t, []agent.Role{agent.RoleAssistant, agent.RoleUser}, roles(sink.commits))
		require.Len(t, res.ToolUses, 2)
		require.Len(t, res.ToolResults, 1)
		require.Equal(t, res.ToolUses[1].ID, res.ToolResults[0].ToolUseID)
	})
	t.Run("forced client tool", func(t *testing.T) {
		f := newFixture(t, 0)
		sink := &recSink{}
		in := input("weather please")
		in.ClientTools = []agent.ToolSpec{weather}
		in.ToolChoice = &agent.ToolChoice{Type: "tool", Name: "get_weather"}
		res := f.runner.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopToolUse, res.StopReason)
		require.JSONEq(t, `{"city":"x"}`, string(res.ToolUses[0].Input))
	})
}

func TestToolListAndChoice(t *testing.T) {
	names := func(specs []agent.ToolSpec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Name)
		}
		return out
	}
	serverNames := []string{"read_file", "write_file", "list_files", "ask_user", "boom", "progress", "wait", "fail"}

	t.Run("server and client tools, choice on the first call only", func(t *testing.T) {
		f := newFixture(t, 0)
		in := input("go")
		in.Model = "rec:x"
		in.SystemPrompt = "be brief"
		in.MaxTokens = 50
		in.ClientTools = []agent.ToolSpec{{Name: "read_file"}, {Name: "client_only"}}
		in.ToolChoice = &agent.ToolChoice{Type: "tool", Name: "list_files"}
		res := f.runner.Run(t.Context(), &in, &recSink{})
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopEndTurn, res.StopReason)
		require.Len(t, f.rec.reqs, 2)
		first := f.rec.reqs[0]
		require.Equal(t, "x", first.Model)
		require.Equal(t, "be brief", first.System)
		require.Equal(t, 50, first.MaxTokens)
		require.Equal(t, append(slicesWithout(serverNames, "read_file"), "read_file", "client_only"), names(first.Tools))
		require.Equal(t, in.ToolChoice, first.ToolChoice)
		require.Nil(t, f.rec.reqs[1].ToolChoice, "a forcing choice applies to the first call only")
		require.Len(t, f.rec.reqs[1].Messages, 3)
	})
	t.Run("auto choice is kept", func(t *testing.T) {
		f := newFixture(t, 0)
		in := input("@tool list_files")
		in.Model = "rec:x"
		in.ToolChoice = &agent.ToolChoice{Type: "auto"}
		res := f.runner.Run(t.Context(), &in, &recSink{})
		require.NoError(t, res.Err)
		require.Len(t, f.rec.reqs, 2)
		require.Equal(t, in.ToolChoice, f.rec.reqs[1].ToolChoice)
	})
	t.Run("server tools disabled", func(t *testing.T) {
		f := newFixture(t, 0)
		in := input("@tool list_files")
		in.Model = "rec:x"
		in.DisableServerTools = true
		res := f.runner.Run(t.Context(), &in, &recSink{})
		require.NoError(t, res.Err)
		require.Empty(t, f.rec.reqs[0].Tools)
		require.Equal(t, "unknown tool: list_files", res.ToolResults[0].Content)
	})
}

func slicesWithout(s []string, drop string) []string {
	var out []string
	for _, v := range s {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}

func TestThinkingDeltas(t *testing.T) {
	f := newFixture(t, 0)
	sink := &recSink{}
	in := input("hi")
	in.Model = "think:x"
	res := f.runner.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)
	require.Equal(t, "answer", res.Content)
	require.Len(t, sink.events, 2)
	require.True(t, sink.events[0].Thinking)
	require.Equal(t, "hmm", sink.events[0].Delta)
	require.False(t, sink.events[1].Thinking)
	require.Len(t, sink.commits[0].Content, 2, "thinking blocks are committed for replay")
}

func TestConcurrentRuns(t *testing.T) {
	f := newFixture(t, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := &recSink{}
			res := f.runner.Run(t.Context(), ptr(input(fmt.Sprintf("@tool read_file {\"path\":\"a.txt\"}\n%d", i))), sink)
			if res.Err != nil || res.Content != "tool read_file returned: hello file" {
				t.Errorf("run %d: %+v", i, res)
			}
		}()
	}
	wg.Wait()
}

type discardSink struct{}

func (discardSink) Event(agent.Event)    {}
func (discardSink) Commit(agent.Message) {}
func (discardSink) Permission(context.Context, PermissionRequest) (Decision, error) {
	return Decision{Allow: true}, nil
}
func (discardSink) Ask(context.Context, string, string) (string, error) { return "", nil }

func BenchmarkRunToolRoundTrip(b *testing.B) {
	f := newFixture(b, 0)
	in := input(`@tool read_file {"path":"a.txt"}`)
	b.ReportAllocs()
	for b.Loop() {
		if res := f.runner.Run(b.Context(), &in, discardSink{}); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func TestLateProgressDropped(t *testing.T) {
	var late func(string)
	var lateAsk func(context.Context, string) (string, error)
	leaky := testTool{name: "leaky", readOnly: true, run: func(_ context.Context, c tool.Call) (string, error) {
		late, lateAsk = c.Progress, c.Ask
		return "ok", nil
	}}
	r, err := New(Config{Providers: provider.NewRegistry(), Tools: tool.NewRegistry(leaky)})
	require.NoError(t, err)
	sink := &recSink{}
	res := r.Run(t.Context(), ptr(input("@tool leaky")), sink)
	require.NoError(t, res.Err)
	n := len(sink.runtime())
	late("too late")
	require.Len(t, sink.runtime(), n)
	_, err = lateAsk(t.Context(), "still there?")
	require.Error(t, err)
	require.Empty(t, sink.asks)
}

func TestToolUseCaps(t *testing.T) {
	newRunner := func(t *testing.T, perResponse, perTurn, maxTurns int) *Runner {
		t.Helper()
		providers := provider.NewRegistry()
		providers.Register("loop", loopProvider{})
		r, err := New(Config{
			Providers: providers, Tools: tool.NewRegistry(tool.Builtins()...), Files: &mapFiles{files: map[string][]byte{}},
			MaxTurns: maxTurns, MaxToolUsesPerResponse: perResponse, MaxToolUsesPerTurn: perTurn,
		})
		require.NoError(t, err)
		return r
	}
	started := func(sink *recSink) int {
		n := 0
		for _, ev := range sink.runtime() {
			if ev.Type == agent.RuntimeToolStarted {
				n++
			}
		}
		return n
	}
	t.Run("defaults", func(t *testing.T) {
		r := newRunner(t, 0, 0, 0)
		require.Equal(t, DefaultMaxToolUsesPerResponse, r.maxUsesPerResponse)
		require.Equal(t, DefaultMaxToolUsesPerTurn, r.maxUsesPerTurn)
		_, err := New(Config{Providers: provider.NewRegistry(), MaxToolUsesPerTurn: -1})
		require.Error(t, err)
	})
	t.Run("per response, a client tool past it too", func(t *testing.T) {
		r := newRunner(t, 2, 0, 0)
		sink := &recSink{}
		in := input("@tool list_files\n@tool list_files\n@tool get_weather {\"city\":\"Paris\"}")
		in.ClientTools = []agent.ToolSpec{{Name: "get_weather", InputSchema: json.RawMessage(`{"type":"object"}`)}}
		res := r.Run(t.Context(), &in, sink)
		require.NoError(t, res.Err)
		require.Equal(t, agent.StopEndTurn, res.StopReason, "the refused client call does not end the turn")
		require.Len(t, res.ToolResults, 3)
		require.False(t, res.ToolResults[0].IsError)
		require.False(t, res.ToolResults[1].IsError)
		require.True(t, res.ToolResults[2].IsError)
		require.Contains(t, res.ToolResults[2].Content, "at most 2 tools")
		require.Equal(t, 2, started(sink))
	})
	t.Run("per turn", func(t *testing.T) {
		r := newRunner(t, 0, 3, 5)
		in := input("go")
		in.Model = "loop:x"
		sink := &recSink{}
		res := r.Run(t.Context(), &in, sink)
		require.Equal(t, agent.StopMaxTurns, res.StopReason)
		require.Len(t, res.ToolResults, 5)
		for i, tr := range res.ToolResults {
			require.Equal(t, i >= 3, tr.IsError, "call %d: %s", i, tr.Content)
		}
		require.Equal(t, 3, started(sink))
	})
	t.Run("too deep an input", func(t *testing.T) {
		r := newRunner(t, 0, 0, 0)
		sink := &recSink{}
		deep := `{"x":` + strings.Repeat("[", agent.MaxJSONDepth) + strings.Repeat("]", agent.MaxJSONDepth) + `}`
		res := r.Run(t.Context(), ptr(input("@tool list_files "+deep)), sink)
		require.NoError(t, res.Err)
		require.True(t, res.ToolResults[0].IsError)
		require.Contains(t, res.ToolResults[0].Content, "256 levels")
		require.JSONEq(t, `{}`, string(res.ToolUses[0].Input))
		require.JSONEq(t, `{}`, string(sink.commits[0].Content[0].Input), "what is stored is shallow")
		require.Zero(t, started(sink))
	})
}

func ptr[T any](v T) *T { return &v }
