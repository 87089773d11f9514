package openai

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

// TestRequestGolden decodes each testdata/request/*.json, converts it to
// the runtime's request (golden *.agent.golden) and back to what an
// upstream would get (golden *.upstream.golden).
func TestRequestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/request/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		base := strings.TrimSuffix(file, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var wire ChatRequest
			require.NoError(t, json.Unmarshal(raw, &wire))
			req, err := FromChatRequest(wire)
			require.NoError(t, err)
			golden(t, base+".agent.golden", marshalIndent(t, req))
			golden(t, base+".upstream.golden", marshalIndent(t, ToChatRequest(req, wire.Stream)))
		})
	}
}

func TestFromChatRequest(t *testing.T) {
	raw, err := os.ReadFile("testdata/request/tools.json")
	require.NoError(t, err)
	var wire ChatRequest
	require.NoError(t, json.Unmarshal(raw, &wire))
	req, err := FromChatRequest(wire)
	require.NoError(t, err)
	require.Equal(t, "You are terse.\n\nUse metric units.", req.System)
	require.Equal(t, 512, req.MaxTokens)
	require.Equal(t, &agent.ToolChoice{Type: "tool", Name: "get_weather"}, req.ToolChoice)
	require.Len(t, req.Messages, 5)
	user := req.Messages[0].Content
	require.Len(t, user, 3)
	require.JSONEq(t, `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`, string(user[1].Input))
	require.JSONEq(t, `{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}`, string(user[2].Input))
	calls := req.Messages[1].Content
	require.Equal(t, agent.Block{Type: agent.BlockToolUse, ID: "call_abc", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}, calls[0])
	results := req.Messages[2]
	require.Equal(t, agent.RoleUser, results.Role)
	require.Equal(t, []agent.Block{
		{Type: agent.BlockToolResult, ToolUseID: "call_abc", Content: "18C sunny"},
		{Type: agent.BlockToolResult, ToolUseID: "call_def", Content: "24C clear"},
	}, results.Content, "consecutive tool messages form one user message")
}

func TestFromChatRequestInvalid(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "no messages", body: `{"model":"m","messages":[]}`, wantErr: "at least one message"},
		{name: "unknown role", body: `{"messages":[{"role":"robot","content":"x"}]}`, wantErr: `messages.0.role: unknown role "robot"`},
		{name: "bad arguments", body: `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, wantErr: "messages.0: tool_calls.0: function f: arguments are not a JSON object"},
		{name: "array arguments", body: `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"[1]"}}]}]}`, wantErr: "not a JSON object"},
		{name: "no function name", body: `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}]}`, wantErr: "function.name: required"},
		{name: "tool without id", body: `{"messages":[{"role":"tool","content":"x"}]}`, wantErr: "messages.0.tool_call_id: required"},
		{name: "tool without name", body: `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}`, wantErr: "tools.0.function.name"},
		{name: "bad tool choice", body: `{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, wantErr: `tool_choice: want auto, none, required or a function, got "sometimes"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r ChatRequest
			require.NoError(t, json.Unmarshal([]byte(tc.body), &r))
			_, err := FromChatRequest(r)
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestToChatRequest(t *testing.T) {
	req := agent.ModelRequest{
		Model:     "gpt-4o-mini",
		System:    "be brief",
		MaxTokens: 64,
		Messages: []agent.Message{
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("read a.txt"), agent.TextBlock("and b.txt")}},
			{Role: agent.RoleAssistant, Content: []agent.Block{
				{Type: agent.BlockThinking, Text: "hmm", Signature: "sig"},
				agent.TextBlock("Reading."),
				{Type: agent.BlockToolUse, ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)},
				{Type: agent.BlockToolUse, ID: "toolu_2", Name: "read_file"},
			}},
			{Role: agent.RoleUser, Content: []agent.Block{
				agent.TextBlock("here you go"),
				{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "A"},
				{Type: agent.BlockToolResult, ToolUseID: "toolu_2", Content: "no such file", IsError: true},
			}},
			{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockThinking, Text: "only thinking"}}},
		},
		Tools:      []agent.ToolSpec{{Name: "read_file", InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)}, {Name: "noop"}},
		ToolChoice: &agent.ToolChoice{Type: "any"},
	}
	got, err := json.Marshal(ToChatRequest(req, true))
	require.NoError(t, err)
	require.JSONEq(t, `{
		"model": "gpt-4o-mini",
		"max_tokens": 64,
		"stream": true,
		"stream_options": {"include_usage": true},
		"messages": [
			{"role":"system","content":"be brief"},
			{"role":"user","content":"read a.txt\nand b.txt"},
			{"role":"assistant","content":"Reading.","tool_calls":[
				{"id":"toolu_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.txt\"}"}},
				{"id":"toolu_2","type":"function","function":{"name":"read_file","arguments":"{}"}}
			]},
			{"role":"tool","tool_call_id":"toolu_1","content":"A"},
			{"role":"tool","tool_call_id":"toolu_2","content":"Error: no such file"},
			{"role":"user","content":"here you go"}
		],
		"tools": [
			{"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}},
			{"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}
		],
		"tool_choice": "required"
	}`, string(got))

	noTools := ToChatRequest(agent.ModelRequest{Model: "m", ToolChoice: &agent.ToolChoice{Type: "auto"},
		Messages: []agent.Message{{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, ID: "t", Name: "f"}}}}}, false)
	require.Nil(t, noTools.ToolChoice, "tool_choice only goes with tools")
	require.Nil(t, noTools.StreamOptions)
	got, err = json.Marshal(noTools.Messages[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}`, string(got))
}

func TestToolChoiceJSON(t *testing.T) {
	for _, tc := range []struct {
		in   ToolChoice
		wire string
	}{
		{ToolChoice{Mode: "auto"}, `"auto"`},
		{ToolChoice{Mode: "required"}, `"required"`},
		{ToolChoice{Name: "f"}, `{"type":"function","function":{"name":"f"}}`},
	} {
		b, err := json.Marshal(tc.in)
		require.NoError(t, err)
		require.JSONEq(t, tc.wire, string(b))
		var back ToolChoice
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, tc.in, back)
	}
}

func TestChatResponse(t *testing.T) {
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":1741570283,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}],"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`
	var r ChatResponse
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	resp, err := FromChatResponse(r)
	require.NoError(t, err)
	require.Equal(t, agent.StopToolUse, resp.StopReason, "tool calls win over a finish reason of stop")
	require.Equal(t, agent.Usage{InputTokens: 9, OutputTokens: 3}, resp.Usage)
	require.Equal(t, []agent.Block{{Type: agent.BlockToolUse, ID: "call_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}}, resp.Content)

	refusal := `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`
	r = ChatResponse{}
	require.NoError(t, json.Unmarshal([]byte(refusal), &r))
	resp, err = FromChatResponse(r)
	require.NoError(t, err)
	require.Equal(t, agent.StopRefusal, resp.StopReason)
	require.Equal(t, "I can't help with that.", resp.Content[0].Text)

	out := ToChatResponse("chatcmpl-2", "m", 1, agent.ModelResponse{
		Content:    []agent.Block{{Type: agent.BlockThinking, Text: "hm"}, agent.TextBlock("hi")},
		StopReason: agent.StopMaxTokens, Usage: agent.Usage{InputTokens: 2, OutputTokens: 1},
	})
	b, err := json.Marshal(out)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","reasoning_content":"hm"},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`, string(b))
}

func TestFinishReasons(t *testing.T) {
	for in, want := range map[string]agent.StopReason{
		"stop": agent.StopEndTurn, "tool_calls": agent.StopToolUse, "function_call": agent.StopToolUse,
		"length": agent.StopMaxTokens, "content_filter": agent.StopRefusal, "": agent.StopEndTurn, "eos": agent.StopEndTurn,
	} {
		require.Equal(t, want, FromFinishReason(in), in)
	}
	for in, want := range map[agent.StopReason]string{
		agent.StopEndTurn: "stop", agent.StopToolUse: "tool_calls", agent.StopMaxTokens: "length",
		agent.StopRefusal: "content_filter", agent.StopMaxTurns: "stop",
	} {
		require.Equal(t, want, ToFinishReason(in), in)
	}
}

func TestErrorDetail(t *testing.T) {
	var e ErrorResponse
	require.NoError(t, json.Unmarshal([]byte(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`), &e))
	require.Equal(t, "Incorrect API key provided", e.Error.Message)
	require.Equal(t, "invalid_api_key", e.Error.CodeString())
	require.NoError(t, json.Unmarshal([]byte(`{"error":"model \"x\" not found, try pulling it first"}`), &e))
	require.Equal(t, `model "x" not found, try pulling it first`, e.Error.Message)
	require.Equal(t, "", e.Error.CodeString())
	require.NoError(t, json.Unmarshal([]byte(`{"error":{"message":"m","code":429}}`), &e))
	require.Equal(t, "429", e.Error.CodeString())
}

func TestContentJSON(t *testing.T) {
	var m ChatMessage
	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`), &m))
	require.Equal(t, "a\nb", m.Content.String())
	require.Error(t, json.Unmarshal([]byte(`{"role":"user","content":5}`), &m))
	require.NoError(t, json.Unmarshal([]byte(`{"role":"assistant","content":null}`), &m))
	require.Nil(t, m.Content)
	require.Equal(t, "", m.Content.String())
	b, err := json.Marshal(ChatMessage{Role: "user", Content: &Content{Parts: []ContentPart{}}})
	require.NoError(t, err)
	require.JSONEq(t, `{"role":"user","content":[]}`, string(b))
}

// TestResponseFormatPassesThrough checks a response_format reaches the
// outbound request, and is left out when there is none.
func TestResponseFormatPassesThrough(t *testing.T) {
	rf := json.RawMessage(`{"type":"json_object"}`)
	in, err := FromChatRequest(ChatRequest{Model: "m", ResponseFormat: rf, Messages: []ChatMessage{{Role: RoleUser, Content: TextContent("hi")}}})
	require.NoError(t, err)
	require.JSONEq(t, string(rf), string(in.ResponseFormat))
	b, err := json.Marshal(ToChatRequest(in, false))
	require.NoError(t, err)
	require.Contains(t, string(b), `"response_format":{"type":"json_object"}`)
	in.ResponseFormat = nil
	b, err = json.Marshal(ToChatRequest(in, false))
	require.NoError(t, err)
	require.NotContains(t, string(b), "response_format")
}
