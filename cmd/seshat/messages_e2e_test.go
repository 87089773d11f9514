package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// These tests drive /v1/messages and its neighbours with the official
// Anthropic Go SDK, unmodified: only its base URL, credential and HTTP
// client are set. The server runs the offline mock provider.

// sdkClient returns an SDK client for s with the given options; the
// environment (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, profiles) is not read,
// and the server's HTTP client is used so that Stop closes its connections.
func sdkClient(s *testServer, opts ...option.RequestOption) anthropic.Client {
	base := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(s.URL),
		option.WithHTTPClient(s.Client),
		option.WithMaxRetries(0),
	}
	return anthropic.NewClient(append(base, opts...)...)
}

// messagesServer starts a server with one user and returns it, the user's
// JWT and an sk- key.
func messagesServer(t *testing.T) (*testServer, string, string) {
	t.Helper()
	s := startServer(t, "", nil)
	tok := s.register(t, "sdk@example.com", "password123").Token
	key := s.createKey(t, tok, "sdk").Key
	return s, tok, key
}

var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather of a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}},
		Required:   []string{"city"},
	},
}}

func userText(s string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(s))
}

// streamed is what a streamed answer delivered: the SDK's accumulated
// message, and the text and tool input as they came in deltas.
type streamed struct {
	Message   anthropic.Message
	Text      string
	InputJSON string
	Events    []string
}

// stream runs a streaming request to its end with the SDK's accumulator.
func stream(t *testing.T, c anthropic.Client, p anthropic.MessageNewParams, opts ...option.RequestOption) streamed {
	t.Helper()
	st := c.Messages.NewStreaming(t.Context(), p, opts...)
	defer st.Close()
	var out streamed
	for st.Next() {
		ev := st.Current()
		out.Events = append(out.Events, ev.Type)
		require.NoError(t, out.Message.Accumulate(ev))
		if ev.Type == "content_block_delta" {
			switch ev.Delta.Type {
			case "text_delta":
				out.Text += ev.Delta.Text
			case "input_json_delta":
				out.InputJSON += ev.Delta.PartialJSON
			}
		}
	}
	require.NoError(t, st.Err())
	return out
}

func TestMessagesSDKNonStreaming(t *testing.T) {
	s, _, key := messagesServer(t)
	c := sdkClient(s, option.WithAPIKey(key))
	var resp *http.Response
	msg, err := c.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model:     "mock:echo",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages:  []anthropic.MessageParam{userText("hello big world")},
	}, option.WithResponseInto(&resp))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(msg.ID, "msg_"), msg.ID)
	require.Equal(t, anthropic.Model("mock:echo"), msg.Model)
	require.Len(t, msg.Content, 1)
	require.Equal(t, "text", msg.Content[0].Type)
	require.Equal(t, "echo: hello big world", msg.Content[0].Text)
	require.Equal(t, anthropic.StopReasonEndTurn, msg.StopReason)
	require.Positive(t, msg.Usage.InputTokens)
	require.Equal(t, int64(4), msg.Usage.OutputTokens)
	require.NotEmpty(t, resp.Header.Get("request-id"))
	require.True(t, strings.HasPrefix(resp.Header.Get("x-seshat-session-id"), "sess_"))

	// A bare Claude model name falls back to the session's model (here the
	// server default, mock:echo) and is echoed as sent.
	msg, err = c.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: anthropic.ModelClaudeOpus5_5, MaxTokens: 64, Messages: []anthropic.MessageParam{userText("hi")},
	})
	require.NoError(t, err)
	require.Equal(t, anthropic.ModelClaudeOpus5_5, msg.Model)
	require.Equal(t, "echo: hi", msg.Content[0].Text)
}

func TestMessagesSDKStreaming(t *testing.T) {
	s, _, key := messagesServer(t)
	c := sdkClient(s, option.WithAPIKey(key))
	out := stream(t, c, anthropic.MessageNewParams{
		Model: "mock:echo", MaxTokens: 1024, Messages: []anthropic.MessageParam{userText("@tokens 40")},
	})
	require.Equal(t, "message_start", out.Events[0])
	require.Equal(t, "message_stop", out.Events[len(out.Events)-1])
	require.Equal(t, 1, strings.Count(strings.Join(out.Events, " "), "message_stop"))
	require.Len(t, out.Message.Content, 1)
	require.Equal(t, out.Text, out.Message.Content[0].Text, "the accumulated message holds what was streamed")
	require.True(t, strings.HasPrefix(out.Text, "tok0 tok1 tok2"), out.Text)
	require.True(t, strings.HasSuffix(out.Text, " tok39"), out.Text)
	require.Equal(t, anthropic.StopReasonEndTurn, out.Message.StopReason)
	require.Equal(t, int64(40), out.Message.Usage.OutputTokens)
	require.Positive(t, out.Message.Usage.InputTokens)
	require.True(t, strings.HasPrefix(out.Message.ID, "msg_"))
}

func TestMessagesSDKClientToolRoundTrip(t *testing.T) {
	s, tok, key := messagesServer(t)
	c := sdkClient(s, option.WithAPIKey(key))
	prompt := userText(`@tool get_weather {"city":"Paris"}`)
	params := anthropic.MessageNewParams{
		Model: "mock:echo", MaxTokens: 1024, Tools: []anthropic.ToolUnionParam{weatherTool},
		Messages: []anthropic.MessageParam{prompt},
	}
	var resp *http.Response
	first := stream(t, c, params, option.WithResponseInto(&resp))
	sessionID := resp.Header.Get("x-seshat-session-id")
	require.NotEmpty(t, sessionID)
	require.Equal(t, anthropic.StopReasonToolUse, first.Message.StopReason)
	require.Len(t, first.Message.Content, 1)
	use := first.Message.Content[0]
	require.Equal(t, "tool_use", use.Type)
	require.Equal(t, "get_weather", use.Name)
	require.True(t, strings.HasPrefix(use.ID, "toolu_"))
	require.JSONEq(t, `{"city":"Paris"}`, string(use.Input))
	require.JSONEq(t, `{"city":"Paris"}`, first.InputJSON, "the arguments came as input_json_delta pieces")

	// The client answers with the whole history, as SDK users do, on the
	// same session.
	params.Messages = append(params.Messages, first.Message.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny, 21°C", false)))
	second := stream(t, c, params, option.WithHeader("x-seshat-session-id", sessionID))
	require.Equal(t, anthropic.StopReasonEndTurn, second.Message.StopReason)
	require.Equal(t, "tool get_weather returned: sunny, 21°C", second.Text)
	require.Equal(t, second.Text, second.Message.Content[0].Text)

	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 4, "prompt, tool use, tool result, answer: each once")
	require.Equal(t, "tool_result", sess.Messages[2].Content[0].Type)

	// tool_choice forcing the tool, non-streaming, and the continuation in
	// a new session, which starts from the client's whole conversation.
	forced := anthropic.MessageNewParams{
		Model: "mock:echo", MaxTokens: 1024, Tools: []anthropic.ToolUnionParam{weatherTool},
		ToolChoice: anthropic.ToolChoiceParamOfTool("get_weather"),
		Messages:   []anthropic.MessageParam{userText("what is the weather like?")},
	}
	msg, err := c.Messages.New(t.Context(), forced)
	require.NoError(t, err)
	require.Equal(t, anthropic.StopReasonToolUse, msg.StopReason)
	require.Equal(t, "get_weather", msg.Content[0].Name)
	require.JSONEq(t, `{"city":"x"}`, string(msg.Content[0].Input))
	forced.Messages = append(forced.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, "rain", false)))
	msg, err = c.Messages.New(t.Context(), forced)
	require.NoError(t, err)
	require.Equal(t, anthropic.StopReasonEndTurn, msg.StopReason)
	require.Equal(t, "tool get_weather returned: rain", msg.Content[0].Text)
}

func TestMessagesSDKAuth(t *testing.T) {
	s, tok, key := messagesServer(t)
	p := anthropic.MessageNewParams{Model: "mock:echo", MaxTokens: 64, Messages: []anthropic.MessageParam{userText("auth check")}}

	for name, opt := range map[string]option.RequestOption{
		"x-api-key with an sk- key": option.WithHeader("x-api-key", key),
		"bearer with a JWT":         option.WithAuthToken(tok),
		"bearer with an sk- key":    option.WithAPIKey(key),
	} {
		t.Run(name, func(t *testing.T) {
			c := sdkClient(s, opt)
			msg, err := c.Messages.New(t.Context(), p)
			require.NoError(t, err)
			require.Equal(t, "echo: auth check", msg.Content[0].Text)
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		c := sdkClient(s, option.WithAPIKey("sk-wrong"))
		_, err := c.Messages.New(t.Context(), p)
		var apiErr *anthropic.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		require.Equal(t, "authentication_error", string(apiErr.Type()))
		require.True(t, strings.HasPrefix(apiErr.RequestID, "req_"), apiErr.RequestID)
	})
}

func TestMessagesSDKErrors(t *testing.T) {
	s, tok, key := messagesServer(t)
	c := sdkClient(s, option.WithAPIKey(key))
	requireAPIErr := func(t *testing.T, err error, status int, typ string) {
		t.Helper()
		var apiErr *anthropic.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, status, apiErr.StatusCode, "%s", apiErr.RawJSON())
		require.Equal(t, typ, string(apiErr.Type()))
	}
	p := func(model, text string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64, Messages: []anthropic.MessageParam{userText(text)}}
	}

	_, err := c.Messages.New(t.Context(), p("nope:model", "hi"))
	requireAPIErr(t, err, http.StatusNotFound, "not_found_error")

	_, err = c.Messages.New(t.Context(), p("mock:echo", "hi"), option.WithHeader("x-seshat-session-id", "sess_unknown"))
	requireAPIErr(t, err, http.StatusNotFound, "not_found_error")

	other := s.register(t, "other@example.com", "password123").Token
	theirs := s.query(t, other, apitype.QueryRequest{Prompt: "mine"}).SessionID
	_, err = c.Messages.New(t.Context(), p("mock:echo", "hi"), option.WithHeader("x-seshat-session-id", theirs))
	requireAPIErr(t, err, http.StatusNotFound, "not_found_error")

	prefill := p("mock:echo", "hi")
	prefill.Messages = append(prefill.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock("Sure")))
	_, err = c.Messages.New(t.Context(), prefill)
	requireAPIErr(t, err, http.StatusBadRequest, "invalid_request_error")

	// A turn that fails before its answer starts is a real status; one that
	// fails once the stream is under way ends it with an error event.
	_, err = c.Messages.New(t.Context(), p("mock:echo", "@error upstream fell over"))
	requireAPIErr(t, err, http.StatusBadGateway, "api_error")
	st := c.Messages.NewStreaming(t.Context(), p("mock:echo", "@error upstream fell over"))
	for st.Next() {
	}
	requireAPIErr(t, st.Err(), http.StatusOK, "api_error")
	require.NoError(t, st.Close())

	// Raw HTTP: the envelope and the request-id header.
	resp := s.do(t, request{Method: http.MethodPost, Path: "/v1/messages?beta=true", Token: tok,
		Body: map[string]any{"model": "mock:echo", "messages": []any{}}})
	require.Equal(t, http.StatusBadRequest, resp.Status)
	var env struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	resp.JSON(t, &env)
	require.Equal(t, "error", env.Type)
	require.Equal(t, "invalid_request_error", env.Error.Type)
	require.Equal(t, resp.Header.Get("request-id"), env.RequestID)
}

func TestMessagesSDKCountTokensAndModels(t *testing.T) {
	s, tok, _ := messagesServer(t)
	c := sdkClient(s, option.WithAuthToken(tok))

	n, err := c.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
		Model: "mock:echo", Messages: []anthropic.MessageParam{userText("how many tokens is this sentence?")},
	})
	require.NoError(t, err)
	require.Positive(t, n.InputTokens)

	page, err := c.Models.List(t.Context(), anthropic.ModelListParams{})
	require.NoError(t, err)
	require.False(t, page.HasMore)
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	require.Contains(t, ids, "mock:echo")
	require.Equal(t, page.Data[0].ID, page.FirstID)
	require.Equal(t, page.Data[len(page.Data)-1].ID, page.LastID)

	var all []string
	pager := c.Models.ListAutoPaging(t.Context(), anthropic.ModelListParams{Limit: anthropic.Int(1)})
	for pager.Next() {
		all = append(all, pager.Current().ID)
	}
	require.NoError(t, pager.Err())
	require.Equal(t, ids, all, "the auto-pager walks every page and stops")

	m, err := c.Models.Get(t.Context(), "mock:echo", anthropic.ModelGetParams{})
	require.NoError(t, err)
	require.Equal(t, "mock:echo", m.ID)
	require.NotEmpty(t, m.DisplayName)

	_, err = c.Models.Get(t.Context(), "nope:model", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	require.Equal(t, "not_found_error", string(apiErr.Type()))
}

// TestMessagesSDKTwoTurnSession binds two requests to one session with
// x-seshat-session-id while the client resends the whole conversation: the
// session keeps each message exactly once.
func TestMessagesSDKTwoTurnSession(t *testing.T) {
	s, tok, key := messagesServer(t)
	c := sdkClient(s, option.WithHeader("x-api-key", key))
	params := anthropic.MessageNewParams{Model: "mock:echo", MaxTokens: 256, Messages: []anthropic.MessageParam{userText("first question")}}
	var resp *http.Response
	first, err := c.Messages.New(t.Context(), params, option.WithResponseInto(&resp))
	require.NoError(t, err)
	sessionID := resp.Header.Get("x-seshat-session-id")
	require.NotEmpty(t, sessionID)

	params.Messages = append(params.Messages, first.ToParam(), userText("second question"))
	second := stream(t, c, params, option.WithHeader("x-seshat-session-id", sessionID))
	require.Equal(t, "echo: second question", second.Text)

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

// TestMessagesRawSSE checks the wire of a stream as curl sees it: event
// names equal the data's type, no data-only events, one message_stop.
func TestMessagesRawSSE(t *testing.T) {
	s, _, key := messagesServer(t)
	st := s.openAnthropicStream(t, key, map[string]any{
		"model": "mock:echo", "max_tokens": 64, "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": "hello"}},
	})
	var names []string
	for _, ev := range st.Rest() {
		var typed struct {
			Type string `json:"type"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &typed))
		require.Equal(t, ev.Name, typed.Type)
		names = append(names, ev.Name)
	}
	require.Equal(t, []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}, names)
}

// openAnthropicStream posts a streaming Messages body with x-api-key and
// returns the open stream.
func (s *testServer) openAnthropicStream(t *testing.T, key string, body any) *sseStream {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/messages", strings.NewReader(string(b)))
	require.NoError(t, err)
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", "interleaved-thinking-2025-05-14,some-future-beta")
	resp, err := s.Client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	require.NotEmpty(t, resp.Header.Get("request-id"))
	st := &sseStream{t: t, Resp: resp, dec: eventstream.NewDecoder(resp.Body, 0)}
	t.Cleanup(st.Close)
	return st
}
