package provider

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func userMsg(text string) agent.Message {
	return agent.Message{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(text)}}
}

// stream runs the mock and collects what it emitted.
func stream(ctx context.Context, req agent.ModelRequest) ([]agent.ModelChunk, agent.ModelResponse, error) {
	var chunks []agent.ModelChunk
	resp, err := NewMock().Stream(ctx, &req, func(c agent.ModelChunk) { chunks = append(chunks, c) })
	return chunks, resp, err
}

func texts(chunks []agent.ModelChunk) []string {
	var out []string
	for _, c := range chunks {
		if c.Type == agent.ChunkText {
			out = append(out, c.Text)
		}
	}
	return out
}

func respText(r agent.ModelResponse) string {
	return agent.Message{Content: r.Content}.Text()
}

var weatherTool = agent.ToolSpec{
	Name: "get_weather",
	InputSchema: json.RawMessage(`{"type":"object","properties":{
		"city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"},
		"tags":{"type":"array"},"opts":{"type":"object"},"note":{"type":["null","string"]},
		"free":{},"unused":{"type":"string"}},
		"required":["city","days","metric","tags","opts","note","free"]}`),
}

var otherTool = agent.ToolSpec{Name: "other", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"number"}},"required":["q"]}`)}

func TestMockAnswers(t *testing.T) {
	tests := []struct {
		name       string
		req        agent.ModelRequest
		wantChunks []string // text chunks
		wantText   string
		wantTools  []agent.Block // compared by name and input
		wantStop   agent.StopReason
		wantUsage  agent.Usage
	}{
		{
			name:       "echo",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("hello big   world")}},
			wantChunks: []string{"echo:", " hello", " big", " world"},
			wantText:   "echo: hello big world",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 3, OutputTokens: 4},
		},
		{
			name:       "echo multi-line",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("hello\nworld")}},
			wantChunks: []string{"echo:", " hello", " world"},
			wantText:   "echo: hello world",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 2, OutputTokens: 3},
		},
		{
			name:       "echo empty prompt",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("")}},
			wantChunks: []string{"echo: "},
			wantText:   "echo: ",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 0, OutputTokens: 1},
		},
		{
			name:       "no messages",
			req:        agent.ModelRequest{},
			wantChunks: []string{"echo: "},
			wantText:   "echo: ",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{OutputTokens: 1},
		},
		{
			name: "echo reads only the last user message, counts all",
			req: agent.ModelRequest{System: "be brief", Messages: []agent.Message{
				userMsg("first question"),
				{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock("echo: first question")}},
				userMsg("second"),
			}},
			wantChunks: []string{"echo:", " second"},
			wantText:   "echo: second",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 2 + 2 + 3 + 1, OutputTokens: 2},
		},
		{
			name:       "say",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("ignored prompt\n@say Hi  there, friend.")}},
			wantChunks: []string{"Hi", "  there,", " friend."},
			wantText:   "Hi  there, friend.",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 6, OutputTokens: 3},
		},
		{
			name:       "say multi-line",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("@say one\n@say two")}},
			wantChunks: []string{"one", "\ntwo"},
			wantText:   "one\ntwo",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 4, OutputTokens: 2},
		},
		{
			name:       "tokens",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("@tokens 3")}},
			wantChunks: []string{"tok0", " tok1", " tok2"},
			wantText:   "tok0 tok1 tok2",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 2, OutputTokens: 3},
		},
		{
			name:      "tokens zero",
			req:       agent.ModelRequest{Messages: []agent.Message{userMsg("@tokens 0")}},
			wantStop:  agent.StopEndTurn,
			wantUsage: agent.Usage{InputTokens: 2},
		},
		{
			name:       "delay",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("@delay 1ms\n@tokens 2")}},
			wantChunks: []string{"tok0", " tok1"},
			wantText:   "tok0 tok1",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 4, OutputTokens: 2},
		},
		{
			name:       "max tokens truncates",
			req:        agent.ModelRequest{MaxTokens: 3, Messages: []agent.Message{userMsg("@tokens 10")}},
			wantChunks: []string{"tok0", " tok1", " tok2"},
			wantText:   "tok0 tok1 tok2",
			wantStop:   agent.StopMaxTokens,
			wantUsage:  agent.Usage{InputTokens: 2, OutputTokens: 3},
		},
		{
			name:       "max tokens not reached",
			req:        agent.ModelRequest{MaxTokens: 3, Messages: []agent.Message{userMsg("@tokens 3")}},
			wantChunks: []string{"tok0", " tok1", " tok2"},
			wantText:   "tok0 tok1 tok2",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 2, OutputTokens: 3},
		},
		{
			name: "tools",
			req:  agent.ModelRequest{Messages: []agent.Message{userMsg("@tool read_file {\"path\": \"a.txt\"}\n@tool list_files")}},
			wantTools: []agent.Block{
				{Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)},
				{Name: "list_files", Input: json.RawMessage(`{}`)},
			},
			wantStop:  agent.StopToolUse,
			wantUsage: agent.Usage{InputTokens: 6, OutputTokens: 2},
		},
		{
			name:       "say then tool",
			req:        agent.ModelRequest{Messages: []agent.Message{userMsg("@say Let me check.\n@tool list_files {}")}},
			wantChunks: []string{"Let", " me", " check."},
			wantText:   "Let me check.",
			wantTools:  []agent.Block{{Name: "list_files", Input: json.RawMessage(`{}`)}},
			wantStop:   agent.StopToolUse,
			wantUsage:  agent.Usage{InputTokens: 7, OutputTokens: 4},
		},
		{
			name:      "max tokens cuts tool uses",
			req:       agent.ModelRequest{MaxTokens: 1, Messages: []agent.Message{userMsg("@tool a\n@tool b")}},
			wantTools: []agent.Block{{Name: "a", Input: json.RawMessage(`{}`)}},
			wantStop:  agent.StopMaxTokens,
			wantUsage: agent.Usage{InputTokens: 4, OutputTokens: 1},
		},
		{
			name: "forced tool",
			req: agent.ModelRequest{
				Messages:   []agent.Message{userMsg("what's the weather")},
				Tools:      []agent.ToolSpec{otherTool, weatherTool},
				ToolChoice: &agent.ToolChoice{Type: "tool", Name: "get_weather"},
			},
			wantTools: []agent.Block{{Name: "get_weather", Input: json.RawMessage(
				`{"city":"x","days":0,"metric":false,"tags":[],"opts":{},"note":"x","free":null}`)}},
			wantStop:  agent.StopToolUse,
			wantUsage: agent.Usage{InputTokens: 3, OutputTokens: 1},
		},
		{
			name: "forced any takes the first tool",
			req: agent.ModelRequest{
				Messages:   []agent.Message{userMsg("go")},
				Tools:      []agent.ToolSpec{otherTool, weatherTool},
				ToolChoice: &agent.ToolChoice{Type: "any"},
			},
			wantTools: []agent.Block{{Name: "other", Input: json.RawMessage(`{"q":0}`)}},
			wantStop:  agent.StopToolUse,
			wantUsage: agent.Usage{InputTokens: 1, OutputTokens: 1},
		},
		{
			name: "forced any without tools echoes",
			req: agent.ModelRequest{
				Messages:   []agent.Message{userMsg("go")},
				ToolChoice: &agent.ToolChoice{Type: "any"},
			},
			wantChunks: []string{"echo:", " go"},
			wantText:   "echo: go",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 1, OutputTokens: 2},
		},
		{
			name: "auto does not force",
			req: agent.ModelRequest{
				Messages:   []agent.Message{userMsg("go")},
				Tools:      []agent.ToolSpec{otherTool},
				ToolChoice: &agent.ToolChoice{Type: "auto"},
			},
			wantChunks: []string{"echo:", " go"},
			wantText:   "echo: go",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 1, OutputTokens: 2},
		},
		{
			name: "tool directive beats forced choice",
			req: agent.ModelRequest{
				Messages:   []agent.Message{userMsg(`@tool other {"q":7}`)},
				Tools:      []agent.ToolSpec{weatherTool, otherTool},
				ToolChoice: &agent.ToolChoice{Type: "tool", Name: "get_weather"},
			},
			wantTools: []agent.Block{{Name: "other", Input: json.RawMessage(`{"q":7}`)}},
			wantStop:  agent.StopToolUse,
			wantUsage: agent.Usage{InputTokens: 3, OutputTokens: 1},
		},
		{
			name: "tool results",
			req: agent.ModelRequest{
				Tools:      []agent.ToolSpec{otherTool},
				ToolChoice: &agent.ToolChoice{Type: "any"}, // results still end the round trip
				Messages: []agent.Message{
					userMsg("@tool read_file {\"path\":\"a.txt\"}\n@tool list_files"),
					{Role: agent.RoleAssistant, Content: []agent.Block{
						{Type: agent.BlockToolUse, ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)},
						{Type: agent.BlockToolUse, ID: "toolu_2", Name: "list_files", Input: json.RawMessage(`{}`)},
					}},
					{Role: agent.RoleUser, Content: []agent.Block{
						{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "hello there"},
						{Type: agent.BlockToolResult, ToolUseID: "toolu_2", Content: "boom", IsError: true},
						{Type: agent.BlockToolResult, ToolUseID: "toolu_9", Content: "?"},
					}},
				},
			},
			wantChunks: []string{"tool read_file returned: hello there\ntool list_files returned: boom\ntool unknown returned: ?"},
			wantText:   "tool read_file returned: hello there\ntool list_files returned: boom\ntool unknown returned: ?",
			wantStop:   agent.StopEndTurn,
			wantUsage:  agent.Usage{InputTokens: 5 + 1 + 1 + 2 + 1 + 1, OutputTokens: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks, resp, err := stream(t.Context(), tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.wantChunks, texts(chunks))
			require.Equal(t, tc.wantText, respText(resp))
			require.Equal(t, tc.wantStop, resp.StopReason)
			require.Equal(t, tc.wantUsage, resp.Usage)

			uses := resp.ToolUses()
			require.Len(t, uses, len(tc.wantTools))
			var emitted []agent.Block
			for _, c := range chunks {
				if c.Type == agent.ChunkToolUse {
					emitted = append(emitted, c.Block)
				}
			}
			require.Equal(t, uses, emitted, "every tool use is emitted as a chunk")
			for i, want := range tc.wantTools {
				require.Equal(t, agent.BlockToolUse, uses[i].Type)
				require.Equal(t, want.Name, uses[i].Name)
				require.JSONEq(t, string(want.Input), string(uses[i].Input))
				require.True(t, agent.ValidID(agent.PrefixToolUse, uses[i].ID), uses[i].ID)
			}
			if tc.wantText != "" {
				require.Equal(t, tc.wantText, strings.Join(tc.wantChunks, ""))
				require.Equal(t, agent.TextBlock(tc.wantText), resp.Content[0])
			}
		})
	}
}

func TestMockFailures(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantErr  string
		wantInvl bool
	}{
		{name: "error directive", text: "hi\n@error upstream exploded", wantErr: "upstream exploded"},
		{name: "error without message", text: "@error", wantErr: "mock provider error"},
		{name: "bad tokens", text: "@tokens abc", wantErr: `got "abc"`, wantInvl: true},
		{name: "bad tool json", text: "@tool read_file {bad json", wantErr: "not a JSON object", wantInvl: true},
		{name: "unknown directive", text: "@shout hi", wantErr: `unknown mock directive "@shout"`, wantInvl: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks, _, err := stream(t.Context(), agent.ModelRequest{Messages: []agent.Message{userMsg(tc.text)}})
			require.Error(t, err)
			require.ErrorContains(t, err, tc.wantErr)
			if tc.wantInvl {
				require.ErrorIs(t, err, agent.ErrInvalid)
			}
			require.Empty(t, chunks)
		})
	}
}

func TestMockCancelMidTokens(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []string
	resp, err := NewMock().Stream(ctx, &agent.ModelRequest{Messages: []agent.Message{userMsg("@tokens 1000")}},
		func(c agent.ModelChunk) {
			got = append(got, c.Text)
			if len(got) == 3 {
				cancel()
			}
		})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"tok0", " tok1", " tok2"}, got)
	require.Equal(t, "tok0 tok1 tok2", respText(resp))
	require.Equal(t, int64(3), resp.Usage.OutputTokens)
}

func TestMockCancelDuringDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var emitted int
	go func() {
		_, err := NewMock().Stream(ctx, &agent.ModelRequest{Messages: []agent.Message{userMsg("@delay 1h\n@tokens 3")}},
			func(agent.ModelChunk) { emitted++ })
		done <- err
	}()
	// Cancel while the first wait is pending; the wait must end at once
	// rather than after the hour.
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, emitted)
	case <-time.After(30 * time.Second):
		t.Fatal("Stream did not return after cancellation")
	}
}

func TestMockCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	chunks, _, err := stream(ctx, agent.ModelRequest{Messages: []agent.Message{userMsg("hi")}})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, chunks)
}

func TestMockConcurrent(t *testing.T) {
	m := NewMock()
	req := agent.ModelRequest{Messages: []agent.Message{userMsg("@tokens 50")}}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := m.Stream(t.Context(), &req, func(agent.ModelChunk) {})
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

func BenchmarkMockTokens(b *testing.B) {
	m := NewMock()
	req := agent.ModelRequest{System: "be brief", Messages: []agent.Message{userMsg("@tokens 100")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Stream(b.Context(), &req, func(agent.ModelChunk) {}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMockRecallDirectives(t *testing.T) {
	ask := func(text string, src []agent.Source, mem []agent.Memory) string {
		t.Helper()
		_, resp, err := stream(t.Context(), agent.ModelRequest{Messages: []agent.Message{userMsg(text)}, Sources: src, Memories: mem})
		require.NoError(t, err)
		return respText(resp)
	}
	require.Equal(t, "sources: none", ask("@sources", nil, nil))
	require.Equal(t, "memories: none", ask("@memories", nil, nil))
	src := []agent.Source{{Path: "b.md"}, {Path: "a.md"}, {Path: "b.md"}}
	require.Equal(t, "sources: b.md, a.md", ask("what is it?\n@sources", src, nil))
	mem := []agent.Memory{{ID: "mem_1", Content: "lives in Oslo"}, {ID: "mem_2", Content: "likes tea"}}
	require.Equal(t, "memories: lives in Oslo | likes tea", ask("@memories", nil, mem))
	require.Equal(t, "echo: hello", ask("hello\n@remember likes tea", nil, nil), "@remember leaves the reply alone")
	require.Equal(t, "system: none", ask("@system", nil, nil))
	_, sys, err := stream(t.Context(), agent.ModelRequest{System: "be brief", Messages: []agent.Message{userMsg("@system")}})
	require.NoError(t, err)
	require.Equal(t, "system: be brief", respText(sys))

	d, err := ParseDirectives("@remember lives in Bergen !replaces lives in Oslo\n@remember likes tea")
	require.NoError(t, err)
	require.Equal(t, []RememberDirective{{Content: "lives in Bergen", Replaces: "lives in Oslo"}, {Content: "likes tea"}}, d.Remember)
	_, err = ParseDirectives("@remember")
	require.ErrorIs(t, err, agent.ErrInvalid)
}
