package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// These tests drive /v1/chat/completions and /v1/models with the official
// OpenAI Go SDK, unmodified: only its base URL, key and HTTP client are
// set. The server runs the offline mock provider.

// openaiClient returns an SDK client for s with key; the server's HTTP
// client is used so that Stop closes its connections.
func openaiClient(s *testServer, key string, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(s.URL + "/v1/"),
		option.WithAPIKey(key),
		option.WithHTTPClient(s.Client),
		option.WithMaxRetries(0),
	}
	return openai.NewClient(append(base, opts...)...)
}

var openaiWeatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Current weather of a city"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

// chatStream runs a streaming request to its end with the SDK's
// accumulator and returns it with the text as it came in deltas.
func chatStream(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams, opts ...option.RequestOption) (openai.ChatCompletionAccumulator, string) {
	t.Helper()
	st := c.Chat.Completions.NewStreaming(t.Context(), p, opts...)
	defer st.Close()
	var acc openai.ChatCompletionAccumulator
	var text strings.Builder
	for st.Next() {
		ch := st.Current()
		require.True(t, acc.AddChunk(ch))
		if len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	require.NoError(t, st.Err())
	return acc, text.String()
}

func TestChatSDKNonStreaming(t *testing.T) {
	s, _, key := messagesServer(t)
	c := openaiClient(s, key)
	var resp *http.Response
	cc, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock:echo",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("hello big world"),
		},
	}, option.WithResponseInto(&resp))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(cc.ID, "chatcmpl-"), cc.ID)
	require.Equal(t, "chat.completion", string(cc.Object))
	require.Equal(t, "mock:echo", cc.Model)
	require.Len(t, cc.Choices, 1)
	require.Equal(t, "echo: hello big world", cc.Choices[0].Message.Content)
	require.Equal(t, "stop", cc.Choices[0].FinishReason)
	require.Positive(t, cc.Usage.PromptTokens)
	require.Equal(t, int64(4), cc.Usage.CompletionTokens)
	require.Equal(t, cc.Usage.PromptTokens+cc.Usage.CompletionTokens, cc.Usage.TotalTokens)
	require.True(t, strings.HasPrefix(resp.Header.Get("x-seshat-session-id"), "sess_"))

	// response_format is accepted (the mock has no use for it), n other
	// than 1 is a clear 400.
	cc, err = c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock:echo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("json please")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
	})
	require.NoError(t, err)
	require.Equal(t, "echo: json please", cc.Choices[0].Message.Content)
	_, err = c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock:echo", N: openai.Int(2), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("twice")},
	})
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	require.Equal(t, "invalid_request_error", apiErr.Type)
	require.Contains(t, apiErr.Message, "n: only 1 is supported")
}

func TestChatSDKStreaming(t *testing.T) {
	s, _, key := messagesServer(t)
	c := openaiClient(s, key)
	acc, text := chatStream(t, c, openai.ChatCompletionNewParams{
		Model: "mock:echo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("@tokens 40")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	require.True(t, strings.HasPrefix(text, "tok0 tok1 tok2"), text)
	require.True(t, strings.HasSuffix(text, " tok39"), text)
	require.Len(t, acc.Choices, 1)
	require.Equal(t, text, acc.Choices[0].Message.Content, "the accumulated completion holds what was streamed")
	require.Equal(t, "stop", acc.Choices[0].FinishReason)
	require.Equal(t, int64(40), acc.Usage.CompletionTokens, "include_usage sends the usage chunk")
	require.Positive(t, acc.Usage.PromptTokens)
	require.True(t, strings.HasPrefix(acc.ID, "chatcmpl-"))

	// Without include_usage there is no usage chunk.
	acc, _ = chatStream(t, c, openai.ChatCompletionNewParams{
		Model: "mock:echo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("@tokens 3")},
	})
	require.Zero(t, acc.Usage.CompletionTokens)
	require.Equal(t, "tok0 tok1 tok2", acc.Choices[0].Message.Content)
}

func TestChatSDKClientToolRoundTrip(t *testing.T) {
	s, tok, key := messagesServer(t)
	c := openaiClient(s, key)
	params := openai.ChatCompletionNewParams{
		Model: "mock:echo", Tools: []openai.ChatCompletionToolUnionParam{openaiWeatherTool},
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(`@tool get_weather {"city":"Paris"}`)},
	}
	var resp *http.Response
	first, _ := chatStream(t, c, params, option.WithResponseInto(&resp))
	sessionID := resp.Header.Get("x-seshat-session-id")
	require.NotEmpty(t, sessionID)
	require.Equal(t, "tool_calls", first.Choices[0].FinishReason)
	calls := first.Choices[0].Message.ToolCalls
	require.Len(t, calls, 1)
	require.Equal(t, "get_weather", calls[0].Function.Name)
	require.True(t, strings.HasPrefix(calls[0].ID, "toolu_"), calls[0].ID)
	require.JSONEq(t, `{"city":"Paris"}`, calls[0].Function.Arguments)

	// The client answers with the whole history on the same session.
	params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(),
		openai.ToolMessage("sunny, 21°C", calls[0].ID))
	second, err := c.Chat.Completions.New(t.Context(), params, option.WithHeader("x-seshat-session-id", sessionID))
	require.NoError(t, err)
	require.Equal(t, "stop", second.Choices[0].FinishReason)
	require.Equal(t, "tool get_weather returned: sunny, 21°C", second.Choices[0].Message.Content)

	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 4, "prompt, tool use, tool result, answer: each once")
	require.Equal(t, "tool_result", sess.Messages[2].Content[0].Type)

	// tool_choice naming the function, non-streaming.
	forced, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock:echo", Tools: []openai.ChatCompletionToolUnionParam{openaiWeatherTool},
		ToolChoice: openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}),
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("what is the weather like?")},
	})
	require.NoError(t, err)
	require.Equal(t, "tool_calls", forced.Choices[0].FinishReason)
	require.Equal(t, "get_weather", forced.Choices[0].Message.ToolCalls[0].Function.Name)
}

// TestChatSDKTwoTurnSession binds two requests to one session with
// x-seshat-session-id while the client resends the whole conversation.
func TestChatSDKTwoTurnSession(t *testing.T) {
	s, tok, key := messagesServer(t)
	c := openaiClient(s, key)
	params := openai.ChatCompletionNewParams{Model: "mock:echo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("first question")}}
	var resp *http.Response
	first, err := c.Chat.Completions.New(t.Context(), params, option.WithResponseInto(&resp))
	require.NoError(t, err)
	sessionID := resp.Header.Get("x-seshat-session-id")
	require.NotEmpty(t, sessionID)

	params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(), openai.UserMessage("second question"))
	second, text := chatStream(t, c, params, option.WithHeader("x-seshat-session-id", sessionID), option.WithResponseInto(&resp))
	require.Equal(t, "echo: second question", text)
	require.Equal(t, text, second.Choices[0].Message.Content)
	require.Equal(t, sessionID, resp.Header.Get("x-seshat-session-id"))

	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &sess)
	var got []string
	for _, m := range sess.Messages {
		var text []string
		for _, b := range m.Content {
			text = append(text, b.Text)
		}
		got = append(got, m.Role+": "+strings.Join(text, ""))
	}
	require.Equal(t, []string{
		"user: first question",
		"assistant: echo: first question",
		"user: second question",
		"assistant: echo: second question",
	}, got)
}

func TestChatSDKErrors(t *testing.T) {
	s, tok, key := messagesServer(t)
	requireAPIErr := func(t *testing.T, err error, status int, typ string) {
		t.Helper()
		var apiErr *openai.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, status, apiErr.StatusCode, "%s", apiErr.RawJSON())
		require.Equal(t, typ, apiErr.Type, "%s", apiErr.RawJSON())
	}
	p := func(model, text string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
	}

	// A wrong key is the SDK's authentication error, on both routes.
	wrong := openaiClient(s, "sk-wrong")
	_, err := wrong.Chat.Completions.New(t.Context(), p("mock:echo", "hi"))
	requireAPIErr(t, err, http.StatusUnauthorized, "authentication_error")
	_, err = wrong.Models.List(t.Context())
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)

	c := openaiClient(s, tok) // a JWT works as the bearer too
	_, err = c.Chat.Completions.New(t.Context(), p("nope:model", "hi"))
	requireAPIErr(t, err, http.StatusNotFound, "not_found_error")

	other := s.register(t, "other@example.com", "password123").Token
	theirs := s.query(t, other, apitype.QueryRequest{Prompt: "mine"}).SessionID
	_, err = c.Chat.Completions.New(t.Context(), p("mock:echo", "hi"), option.WithHeader("x-seshat-session-id", theirs))
	requireAPIErr(t, err, http.StatusNotFound, "not_found_error")

	prefill := p("mock:echo", "hi")
	prefill.Messages = append(prefill.Messages, openai.AssistantMessage("Sure"))
	_, err = c.Chat.Completions.New(t.Context(), prefill)
	requireAPIErr(t, err, http.StatusBadRequest, "invalid_request_error")

	// A turn that fails before its answer starts is a real status; one that
	// fails once the stream is under way ends it with an error envelope.
	_, err = c.Chat.Completions.New(t.Context(), p("mock:echo", "@error upstream fell over"))
	requireAPIErr(t, err, http.StatusBadGateway, "server_error")
	st := c.Chat.Completions.NewStreaming(t.Context(), p("mock:echo", "@error upstream fell over"))
	for st.Next() {
	}
	require.Error(t, st.Err())
	require.Contains(t, st.Err().Error(), "upstream fell over")
	require.NoError(t, st.Close())

	// Raw HTTP: the envelope's four fields.
	resp := s.do(t, request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: key,
		Body: map[string]any{"model": "mock:echo", "messages": []any{}}})
	require.Equal(t, http.StatusBadRequest, resp.Status)
	var env map[string]map[string]any
	resp.JSON(t, &env)
	require.Equal(t, "invalid_request_error", env["error"]["type"])
	require.Contains(t, env["error"], "param")
	require.Contains(t, env["error"], "code")
	require.NotEmpty(t, env["error"]["message"])
}

func TestChatSDKModels(t *testing.T) {
	s, _, key := messagesServer(t)
	c := openaiClient(s, key)
	page, err := c.Models.List(t.Context())
	require.NoError(t, err)
	require.Equal(t, "list", page.Object)
	var ids []string
	for _, m := range page.Data {
		require.Equal(t, "model", string(m.Object))
		require.NotEmpty(t, m.OwnedBy)
		ids = append(ids, m.ID)
	}
	require.Contains(t, ids, "mock:echo")

	m, err := c.Models.Get(t.Context(), "mock:echo")
	require.NoError(t, err)
	require.Equal(t, "mock:echo", m.ID)
	require.Equal(t, "mock", m.OwnedBy)
}

// TestChatRawSSE checks the wire of a chunk stream: data-only lines, the
// role first, the finish reason, the usage chunk without choices, and
// data: [DONE] last.
func TestChatRawSSE(t *testing.T) {
	s, _, key := messagesServer(t)
	body := strings.NewReader(`{"model":"mock:echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"@tokens 2"}]}`)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+"/v1/chat/completions", body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		require.False(t, strings.HasPrefix(line, "event:"), "no event names: %s", line)
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, d)
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, "[DONE]", data[len(data)-1])
	type chunk struct {
		Object  string `json:"object"`
		Choices []struct {
			Delta        map[string]any `json:"delta"`
			FinishReason *string        `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	var chunks []chunk
	for _, d := range data[:len(data)-1] {
		var c chunk
		require.NoError(t, json.Unmarshal([]byte(d), &c), d)
		require.Equal(t, "chat.completion.chunk", c.Object)
		chunks = append(chunks, c)
	}
	require.Equal(t, "assistant", chunks[0].Choices[0].Delta["role"])
	fin := chunks[len(chunks)-2]
	require.NotNil(t, fin.Choices[0].FinishReason)
	require.Equal(t, "stop", *fin.Choices[0].FinishReason)
	last := chunks[len(chunks)-1]
	require.Empty(t, last.Choices)
	require.NotNil(t, last.Usage)
	require.Equal(t, 2, last.Usage.CompletionTokens)
	require.False(t, errors.Is(err, context.Canceled))
}
