package anthropic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func marshalIndent(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

// TestRequestGolden decodes each testdata/request/*.json, converts it to
// the runtime's request (golden *.agent.golden) and back to the request an
// Anthropic upstream would get (golden *.upstream.golden).
func TestRequestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/request/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		base := strings.TrimSuffix(file, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var wire MessagesRequest
			require.NoError(t, json.Unmarshal(raw, &wire))
			req, err := FromMessagesRequest(wire)
			require.NoError(t, err)
			golden(t, base+".agent.golden", marshalIndent(t, req))
			golden(t, base+".upstream.golden", marshalIndent(t, ToMessagesRequest(req, wire.Stream)))
		})
	}
}

func TestFromMessagesRequestBlocks(t *testing.T) {
	raw, err := os.ReadFile("testdata/request/blocks.json")
	require.NoError(t, err)
	var wire MessagesRequest
	require.NoError(t, json.Unmarshal(raw, &wire))
	req, err := FromMessagesRequest(wire)
	require.NoError(t, err)

	require.Equal(t, "You are a coding agent working in a terminal.\n\nFollow the user's instructions.\n\nMid-conversation rules.", req.System)
	require.Len(t, req.Tools, 1, "the server tool is skipped")
	require.Equal(t, &agent.ToolChoice{Type: "auto"}, req.ToolChoice)
	require.Len(t, req.Messages, 3)

	img := req.Messages[0].Content[1]
	require.Equal(t, "image", img.Type)
	require.JSONEq(t, `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`, string(img.Input))

	asst := req.Messages[1].Content
	require.Equal(t, agent.Block{Type: agent.BlockThinking, Text: "The user wants two things.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk"}, asst[0])
	require.Equal(t, agent.Block{Type: BlockRedactedThinking, Text: "EmwKAhgBEgy3va3pzix"}, asst[1])
	require.Equal(t, `{"city":"Paris"}`, string(asst[3].Input))

	results := req.Messages[2].Content
	require.Equal(t, "18°C\nsunny\n[image omitted]", results[0].Content)
	require.Equal(t, agent.Block{Type: agent.BlockToolResult, ToolUseID: "toolu_02", Content: "boom", IsError: true}, results[1])

	// Back to the wire, the signed thinking, redacted thinking and image
	// come out exactly as they came in.
	out := ToMessagesRequest(req, true)
	got, err := json.Marshal(out.Messages[1].Content[:2])
	require.NoError(t, err)
	require.JSONEq(t, `[{"type":"thinking","thinking":"The user wants two things.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk"},{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}]`, string(got))
	got, err = json.Marshal(out.Messages[0].Content[1])
	require.NoError(t, err)
	require.Equal(t, `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`, string(got))
}

func TestFromMessagesRequestInvalid(t *testing.T) {
	msgs := func(s string) []MessageParam {
		var m []MessageParam
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	tests := []struct {
		name    string
		req     MessagesRequest
		wantErr string
	}{
		{name: "no messages", req: MessagesRequest{}, wantErr: "messages: at least one message is required"},
		{name: "only system messages", req: MessagesRequest{Messages: msgs(`[{"role":"system","content":"x"}]`)}, wantErr: "at least one user or assistant message"},
		{name: "bad role", req: MessagesRequest{Messages: msgs(`[{"role":"tool","content":"x"}]`)}, wantErr: `messages.0.role: want "user" or "assistant", got "tool"`},
		{name: "negative max_tokens", req: MessagesRequest{MaxTokens: -1, Messages: msgs(`[{"role":"user","content":"x"}]`)}, wantErr: "max_tokens"},
		{name: "tool_use without id", req: MessagesRequest{Messages: msgs(`[{"role":"assistant","content":[{"type":"tool_use","name":"x","input":{}}]}]`)}, wantErr: "messages.0.content.0: tool_use needs id and name"},
		{name: "tool_result without id", req: MessagesRequest{Messages: msgs(`[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]`)}, wantErr: "tool_result needs tool_use_id"},
		{name: "block without type", req: MessagesRequest{Messages: msgs(`[{"role":"user","content":[{"text":"x"}]}]`)}, wantErr: "block without type"},
		{name: "tool without name", req: MessagesRequest{Messages: msgs(`[{"role":"user","content":"x"}]`), Tools: []Tool{{InputSchema: json.RawMessage(`{}`)}}}, wantErr: "tools.0.name: required"},
		{name: "tool choice without name", req: MessagesRequest{Messages: msgs(`[{"role":"user","content":"x"}]`), ToolChoice: &ToolChoice{Type: "tool"}}, wantErr: "tool_choice.name"},
		{name: "unknown tool choice", req: MessagesRequest{Messages: msgs(`[{"role":"user","content":"x"}]`), ToolChoice: &ToolChoice{Type: "some"}}, wantErr: `tool_choice.type: want auto, any, none or tool, got "some"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromMessagesRequest(tc.req)
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestToMessagesRequest(t *testing.T) {
	req := agent.ModelRequest{
		Model:     "claude-haiku-4-5",
		System:    "be brief",
		MaxTokens: 100,
		Messages: []agent.Message{
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("hi")}},
			{Role: agent.RoleAssistant, Content: []agent.Block{
				{Type: agent.BlockThinking, Text: "unsigned, from another provider"},
				agent.TextBlock(""),
				agent.TextBlock("checking"),
				{Type: agent.BlockToolUse, ID: "toolu_1", Name: "read_file"},
			}},
			{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock("")}},
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("also this")}},
			{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "data"}}},
			{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_2"}}},
			{Role: agent.RoleUser, Content: []agent.Block{{Type: "image"}}},
		},
		Tools:      []agent.ToolSpec{{Name: "read_file"}},
		ToolChoice: &agent.ToolChoice{Type: "any"},
	}
	got, err := json.Marshal(ToMessagesRequest(req, true))
	require.NoError(t, err)
	require.JSONEq(t, `{
		"model": "claude-haiku-4-5",
		"max_tokens": 100,
		"stream": true,
		"system": [{"type":"text","text":"be brief"}],
		"messages": [
			{"role":"user","content":[{"type":"text","text":"hi"}]},
			{"role":"assistant","content":[
				{"type":"text","text":"checking"},
				{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}
			]},
			{"role":"user","content":[
				{"type":"tool_result","tool_use_id":"toolu_1","content":"data"},
				{"type":"tool_result","tool_use_id":"toolu_2"},
				{"type":"text","text":"also this"}
			]}
		],
		"tools": [{"name":"read_file","input_schema":{"type":"object"}}],
		"tool_choice": {"type":"any"}
	}`, string(got))
}

func TestToResponse(t *testing.T) {
	r := ToResponse("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-haiku-4-5", []agent.Block{
		{Type: agent.BlockThinking, Text: "hmm", Signature: "sig"},
		agent.TextBlock("Let me check."),
		agent.TextBlock(""),
		{Type: agent.BlockToolUse, ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Input: json.RawMessage(`{"city": "Paris"}`)},
	}, agent.StopToolUse, agent.Usage{InputTokens: 402, OutputTokens: 89})
	got, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"id": "msg_01XFDUDYJgAACzvnptvVoYEL",
		"type": "message",
		"role": "assistant",
		"model": "claude-haiku-4-5",
		"content": [
			{"type":"thinking","thinking":"hmm","signature":"sig"},
			{"type":"text","text":"Let me check."},
			{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city": "Paris"}}
		],
		"stop_reason": "tool_use",
		"stop_sequence": null,
		"stop_details": null,
		"usage": {"input_tokens":402,"output_tokens":89,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"service_tier":"standard"}
	}`, string(got))

	empty, err := json.Marshal(ToResponse("msg_1", "m", nil, agent.StopMaxTurns, agent.Usage{}))
	require.NoError(t, err)
	require.Contains(t, string(empty), `"content":[]`)
	require.Contains(t, string(empty), `"stop_reason":"pause_turn"`)

	back, err := FromResponse(r)
	require.NoError(t, err)
	require.Equal(t, agent.StopToolUse, back.StopReason)
	require.Len(t, back.Content, 3)
	require.Equal(t, `{"city":"Paris"}`, string(back.Content[2].Input))
}

func TestStopReasons(t *testing.T) {
	to := map[agent.StopReason]string{
		agent.StopEndTurn: StopEndTurn, agent.StopMaxTokens: StopMaxTokens, agent.StopToolUse: StopToolUse,
		agent.StopRefusal: StopRefusal, agent.StopMaxTurns: StopPauseTurn, agent.StopInterrupted: StopEndTurn,
		agent.StopError: StopEndTurn, "": StopEndTurn,
	}
	for in, want := range to {
		require.Equal(t, want, ToStopReason(in), in)
	}
	from := map[string]agent.StopReason{
		StopEndTurn: agent.StopEndTurn, StopStopSequence: agent.StopEndTurn, StopPauseTurn: agent.StopEndTurn,
		StopMaxTokens: agent.StopMaxTokens, StopContextWindowExceeded: agent.StopMaxTokens,
		StopToolUse: agent.StopToolUse, StopRefusal: agent.StopRefusal, "something_new": agent.StopEndTurn,
	}
	for in, want := range from {
		require.Equal(t, want, FromStopReason(in), in)
	}
	require.Equal(t, agent.Usage{InputTokens: 10, OutputTokens: 4}, FromUsage(Usage{InputTokens: 2, CacheCreationInputTokens: 3, CacheReadInputTokens: 5, OutputTokens: 4}))
}
