package chatcompat

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/openai"
)

func request(t *testing.T, body string) openai.ChatRequest {
	t.Helper()
	var r openai.ChatRequest
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	return r
}

func TestFromRequest(t *testing.T) {
	r, err := FromRequest(request(t, `{"model":"mock:echo","n":1,"stream":true,"stream_options":{"include_usage":true},
		"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
		"tools":[{"type":"function","function":{"name":"f"}}],
		"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	require.True(t, r.Stream)
	require.True(t, r.IncludeUsage)
	require.Equal(t, "be brief", r.Turn.System)
	require.JSONEq(t, `{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`, string(r.Turn.ResponseFormat))
	require.Equal(t, "f", r.Turn.Tools[0].Name)

	r, err = FromRequest(request(t, `{"model":"m","response_format":{"type":"text"},"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	require.Nil(t, r.Turn.ResponseFormat, "text asks for nothing")

	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"hi"}]}`:                                                      "model: required",
		`{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`:                                    "n: only 1 is supported, got 2",
		`{"model":"m","n":0,"messages":[{"role":"user","content":"hi"}]}`:                                    "n: only 1",
		`{"model":"m","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"hi"}]}`:        "response_format.type",
		`{"model":"m","response_format":{"type":"json_schema"},"messages":[{"role":"user","content":"hi"}]}`: "response_format.json_schema",
		`{"model":"m","response_format":"json","messages":[{"role":"user","content":"hi"}]}`:                 "response_format: must be an object",
		`{"model":"m","messages":[]}`: "messages",
		`{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"hi"}]}`: "max_tokens",
	} {
		_, err := FromRequest(request(t, body))
		require.ErrorIs(t, err, agent.ErrInvalid, body)
		require.ErrorContains(t, err, want, body)
	}
}

func TestErrorEnvelope(t *testing.T) {
	for status, typ := range map[int]string{
		400: ErrorInvalidRequest, 401: ErrorAuthentication, 403: ErrorPermission, 404: ErrorNotFound,
		409: ErrorConflict, 413: ErrorInvalidRequest, 429: ErrorRateLimit, 500: ErrorServer, 502: ErrorServer, 503: ErrorServer,
	} {
		require.Equal(t, typ, ErrorType(status), "%d", status)
	}
	b, err := json.Marshal(NewError(http.StatusUnauthorized, "bad key", "unauthorized"))
	require.NoError(t, err)
	require.JSONEq(t, `{"error":{"message":"bad key","type":"authentication_error","param":null,"code":"invalid_api_key"}}`, string(b))
	b, err = json.Marshal(NewError(http.StatusInternalServerError, "boom", ""))
	require.NoError(t, err)
	require.JSONEq(t, `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`, string(b))
}

// turnResult is a finished turn: the input, then an assistant message
// with text, a server tool use, its result, and a client tool use.
func turnResult() *agent.QueryResult {
	return &agent.QueryResult{
		StopReason: agent.StopToolUse,
		Usage:      agent.Usage{InputTokens: 7, OutputTokens: 3},
		Messages: []agent.Message{
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("hi")}},
			{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock("let me look"),
				{Type: agent.BlockToolUse, ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"a"}`)}}},
			{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "x"}}},
			{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, ID: "toolu_2", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}},
		},
	}
}

func TestCompletionShowsOnlyClientTools(t *testing.T) {
	req := Request{Model: "mock:echo", Turn: agent.ModelRequest{Tools: []agent.ToolSpec{{Name: "get_weather"}}}}
	reply := NewReply(req, 1, 42)
	reply.ID = "chatcmpl-x"
	c := reply.Completion(turnResult())
	require.Equal(t, "chat.completion", c.Object)
	require.Equal(t, int64(42), c.Created)
	msg := c.Choices[0].Message
	require.Equal(t, "let me look", msg.Content.String())
	require.Len(t, msg.ToolCalls, 1, "the server's read_file stays inside")
	require.Equal(t, "get_weather", msg.ToolCalls[0].Function.Name)
	require.Equal(t, "toolu_2", msg.ToolCalls[0].ID)
	require.Equal(t, openai.FinishToolCalls, c.Choices[0].FinishReason)
	require.Equal(t, int64(10), c.Usage.TotalTokens)
}

func TestStream(t *testing.T) {
	req := Request{Model: "mock:echo", Turn: agent.ModelRequest{Tools: []agent.ToolSpec{{Name: "get_weather"}}}}
	reply := NewReply(req, 1, 42)
	reply.ID = "chatcmpl-x"
	s := NewStream(reply, true)
	first := s.Start()
	require.Len(t, first, 1)
	require.Equal(t, openai.RoleAssistant, first[0].Choices[0].Delta.Role)
	require.Nil(t, first[0].Choices[0].FinishReason)
	require.Empty(t, s.Start(), "the role chunk is sent once")

	chunks, end := s.Next(agent.Event{Kind: agent.KindDelta, Delta: "let me look"})
	require.False(t, end)
	require.Len(t, chunks, 1)
	require.Equal(t, "let me look", chunks[0].Choices[0].Delta.Content)
	chunks, _ = s.Next(agent.Event{Kind: agent.KindDelta, Delta: "hmm", Thinking: true})
	require.Equal(t, "hmm", chunks[0].Choices[0].Delta.ReasoningContent)
	chunks, _ = s.Next(agent.Event{Kind: agent.KindRuntime})
	require.Empty(t, chunks, "runtime events are not forwarded")

	chunks, end = s.Next(agent.Event{Kind: agent.KindDone, Result: turnResult()})
	require.True(t, end)
	require.Len(t, chunks, 3, "the client tool call, the finish reason, the usage")
	call := chunks[0].Choices[0].Delta.ToolCalls[0]
	require.Equal(t, 0, *call.Index)
	require.Equal(t, "get_weather", call.Function.Name)
	require.JSONEq(t, `{"city":"Paris"}`, call.Function.Arguments)
	require.Equal(t, openai.FinishToolCalls, *chunks[1].Choices[0].FinishReason)
	require.Empty(t, chunks[2].Choices)
	require.Equal(t, int64(3), chunks[2].Usage.CompletionTokens)

	ev := agent.Event{Kind: agent.KindError, Error: "upstream fell over"}
	chunks, end = NewStream(reply, false).Next(ev)
	require.True(t, end)
	require.Len(t, chunks, 1, "only the role chunk")
	e, bad := Failed(ev)
	require.True(t, bad)
	require.Equal(t, ErrorServer, e.Error.Type)
	require.Equal(t, "upstream fell over", e.Error.Message)
}
