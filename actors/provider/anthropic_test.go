package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

// anthropicRequest is a second-round request: it replays a signed thinking
// block and a tool round trip, so the body shows how history is sent.
func anthropicRequest() agent.ModelRequest {
	return agent.ModelRequest{
		Model:  "claude-sonnet-4-5",
		System: "You are a weather assistant.",
		Messages: []agent.Message{
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("Weather in San Francisco?")}},
			{Role: agent.RoleAssistant, Content: []agent.Block{
				{Type: agent.BlockThinking, Text: "Use the tool.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA"},
				{Type: agent.BlockToolUse, ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Input: json.RawMessage(`{"city":"San Francisco"}`)},
			}},
			{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_01A09q90qw90lq917835lq9", Content: "64°F, fog"}}},
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("And in Celsius?")}},
		},
		Tools: []agent.ToolSpec{{
			Name: "get_weather", Description: "Current weather of a city",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}`),
		}},
	}
}

func newTestAnthropic(u *upstream, cfg AnthropicConfig) Provider {
	cfg.BaseURL = u.srv.URL
	cfg.HTTPClient = u.srv.Client()
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-ant-test"
	}
	p := NewAnthropic(cfg)
	fastRetries(p)
	return p
}

func TestAnthropicText(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/text.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	chunks, resp, err := collect(t.Context(), p, anthropicRequest())
	require.NoError(t, err)
	require.Equal(t, []string{"I'd be happy", " to help you plan", " a trip to Paris."}, chunkTexts(chunks, agent.ChunkText))
	require.Len(t, chunks, 3)
	require.Equal(t, agent.ModelResponse{
		Content:    []agent.Block{agent.TextBlock("I'd be happy to help you plan a trip to Paris.")},
		StopReason: agent.StopEndTurn,
		Usage:      agent.Usage{InputTokens: 394, OutputTokens: 79},
	}, resp)

	calls := u.Calls()
	require.Len(t, calls, 1)
	c := calls[0]
	require.Equal(t, http.MethodPost, c.Method)
	require.Equal(t, "/v1/messages", c.Path)
	require.Equal(t, "sk-ant-test", c.Header.Get("x-api-key"))
	require.Equal(t, "2023-06-01", c.Header.Get("anthropic-version"))
	require.Equal(t, "application/json", c.Header.Get("content-type"))
	require.Empty(t, c.Header.Get("authorization"))
	require.Len(t, c.Header.Values("anthropic-version"), 1, "the version is sent exactly once")

	var body bytes.Buffer
	require.NoError(t, json.Indent(&body, c.Body, "", "  "))
	body.WriteByte('\n')
	golden(t, "testdata/anthropic/request.golden", body.Bytes())
	var sent struct {
		MaxTokens int  `json:"max_tokens"`
		Stream    bool `json:"stream"`
	}
	require.NoError(t, json.Unmarshal(c.Body, &sent))
	require.Equal(t, 4096, sent.MaxTokens, "the default cap fills in for MaxTokens zero")
	require.True(t, sent.Stream)
}

func TestAnthropicConfig(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/text.sse") })
	p := NewAnthropic(AnthropicConfig{BaseURL: u.srv.URL + "/v1/", Version: "2026-10-21", DefaultMaxTokens: 77, HTTPClient: u.srv.Client()})
	req := anthropicRequest()
	_, _, err := collect(t.Context(), p, req)
	require.NoError(t, err)
	req.MaxTokens = 12
	_, _, err = collect(t.Context(), p, req)
	require.NoError(t, err)

	calls := u.Calls()
	require.Equal(t, "/v1/messages", calls[0].Path, "a base URL ending in /v1 is not doubled")
	require.Equal(t, "2026-10-21", calls[0].Header.Get("anthropic-version"))
	require.Empty(t, calls[0].Header.Get("x-api-key"), "no key, no header")
	require.Contains(t, string(calls[0].Body), `"max_tokens":77`)
	require.Contains(t, string(calls[1].Body), `"max_tokens":12`)

	d := NewAnthropic(AnthropicConfig{}).(*anthropicProvider)
	require.Equal(t, "https://api.anthropic.com/v1/messages", d.url)
	require.Equal(t, "2023-06-01", d.version)
	require.Equal(t, 4096, d.defaultMaxTokens)
	require.Equal(t, 3, d.retry.maxRetries)
	require.NotNil(t, d.client)
	require.Zero(t, d.client.Timeout)
}

func TestAnthropicToolUseAndThinking(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/tool_use.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	chunks, resp, err := collect(t.Context(), p, anthropicRequest())
	require.NoError(t, err)

	use := agent.Block{Type: agent.BlockToolUse, ID: "toolu_017QoD96fYwGzCWvLfaPADWg", Name: "get_weather", Input: json.RawMessage(`{"city":"San Francisco","unit":"fahrenheit"}`)}
	require.Equal(t, []agent.ModelChunk{
		{Type: agent.ChunkThinking, Text: "The user wants the weather"},
		{Type: agent.ChunkThinking, Text: " in San Francisco."},
		{Type: agent.ChunkText, Text: "Okay, let's check the weather for San Francisco, CA:"},
		{Type: agent.ChunkToolUse, Block: use},
	}, chunks, "the tool use is emitted once, complete, with its input joined from the partial JSON")
	require.Equal(t, agent.ModelResponse{
		Content: []agent.Block{
			{Type: agent.BlockThinking, Text: "The user wants the weather in San Francisco.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
			agent.TextBlock("Okay, let's check the weather for San Francisco, CA:"),
			use,
		},
		StopReason: agent.StopToolUse,
		Usage:      agent.Usage{InputTokens: 472 + 128, OutputTokens: 89},
	}, resp)
	require.Equal(t, resp.ToolUses(), []agent.Block{use})
}

func TestAnthropicErrorEventMidStream(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/error_event.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	chunks, resp, err := collect(t.Context(), p, anthropicRequest())
	var ue *UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UpstreamError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}, ue)
	require.ErrorContains(t, err, "anthropic: upstream error 529 overloaded_error: Overloaded")
	require.Equal(t, []string{"Once upon"}, chunkTexts(chunks, agent.ChunkText))
	require.Equal(t, []agent.Block{agent.TextBlock("Once upon")}, resp.Content, "what arrived before the error is returned")
	require.Empty(t, resp.StopReason)
	require.Len(t, u.Calls(), 1, "nothing is retried once the stream started")
}

func TestAnthropicTruncatedStream(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/truncated.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	_, resp, err := collect(t.Context(), p, anthropicRequest())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, "stream ended before the answer was complete")
	require.Equal(t, []agent.Block{agent.TextBlock("Once upon")}, resp.Content)
	require.Len(t, u.Calls(), 1)
}

func TestAnthropicOverloadedThenSuccess(t *testing.T) {
	u := startUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			answerJSON(t, w, 529, "anthropic/overloaded.json")
			return
		}
		replaySSE(t, w, "anthropic/text.sse")
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	chunks, resp, err := collect(t.Context(), p, anthropicRequest())
	require.NoError(t, err)
	require.Len(t, chunks, 3)
	require.Equal(t, agent.StopEndTurn, resp.StopReason)
	calls := u.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, calls[0].Body, calls[1].Body, "a retry resends the same body")
}

func TestAnthropicRateLimitedHonoursRetryAfter(t *testing.T) {
	u := startUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			answerJSON(t, w, http.StatusTooManyRequests, "anthropic/rate_limit.json", "retry-after", "0")
			return
		}
		replaySSE(t, w, "anthropic/text.sse")
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	// With an hour of backoff, the call finishes in time only because
	// retry-after: 0 is honoured instead.
	p.(*anthropicProvider).retry.base = time.Hour
	p.(*anthropicProvider).retry.max = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, resp, err := collect(ctx, p, anthropicRequest())
	require.NoError(t, err)
	require.Equal(t, agent.StopEndTurn, resp.StopReason)
	require.Len(t, u.Calls(), 2)
}

func TestAnthropicRetryWaitIsCancellable(t *testing.T) {
	asked := make(chan struct{})
	u := startUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		answerJSON(t, w, http.StatusTooManyRequests, "anthropic/rate_limit.json", "retry-after", "30")
		if n == 0 {
			close(asked)
		}
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-asked
		cancel()
	}()
	_, _, err := collect(ctx, p, anthropicRequest())
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, u.Calls(), 1)
}

func TestAnthropicRetriesExhausted(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		answerJSON(t, w, 529, "anthropic/overloaded.json")
	})
	p := newTestAnthropic(u, AnthropicConfig{MaxRetries: 2})
	_, _, err := collect(t.Context(), p, anthropicRequest())
	var ue *UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UpstreamError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}, ue)
	require.Len(t, u.Calls(), 3, "the first attempt and two retries")
}

func TestAnthropicNoRetry(t *testing.T) {
	tests := []struct {
		name   string
		answer func(t testing.TB, w http.ResponseWriter)
		cfg    AnthropicConfig
		want   *UpstreamError
	}{
		{
			name: "invalid request",
			answer: func(t testing.TB, w http.ResponseWriter) {
				answerJSON(t, w, http.StatusBadRequest, "anthropic/invalid_request.json")
			},
			want: &UpstreamError{Status: 400, Type: "invalid_request_error", Message: "messages.1.content.0: Invalid `signature` in `thinking` block"},
		},
		{
			name: "x-should-retry false",
			answer: func(t testing.TB, w http.ResponseWriter) {
				answerJSON(t, w, http.StatusInternalServerError, "anthropic/overloaded.json", "x-should-retry", "false")
			},
			want: &UpstreamError{Status: 500, Type: "overloaded_error", Message: "Overloaded"},
		},
		{
			name: "retries disabled",
			answer: func(t testing.TB, w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, "<html>bad gateway</html>")
			},
			cfg:  AnthropicConfig{MaxRetries: -1},
			want: &UpstreamError{Status: 502, Type: "api_error", Message: "<html>bad gateway</html>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { tc.answer(t, w) })
			p := newTestAnthropic(u, tc.cfg)
			_, _, err := collect(t.Context(), p, anthropicRequest())
			var ue *UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, tc.want, ue)
			require.Len(t, u.Calls(), 1)
		})
	}
}

func TestAnthropicConnectionErrorRetried(t *testing.T) {
	u := startUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.Close() // drop the connection without an answer
			return
		}
		replaySSE(t, w, "anthropic/text.sse")
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	_, resp, err := collect(t.Context(), p, anthropicRequest())
	require.NoError(t, err)
	require.Equal(t, agent.StopEndTurn, resp.StopReason)
	require.Len(t, u.Calls(), 2)
}

func TestAnthropicInterruptClosesUpstream(t *testing.T) {
	gone := make(chan struct{})
	u := startUpstream(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		// The first three events of the recording, then silence, as a
		// long generation would give.
		for _, ev := range bytes.SplitAfterN(readTestdata(t, "anthropic/error_event.sse"), []byte("\n\n"), 4)[:3] {
			_, _ = w.Write(ev)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var chunks []agent.ModelChunk
	resp, err := p.Stream(ctx, new(anthropicRequest()), func(c agent.ModelChunk) {
		chunks = append(chunks, c)
		cancel() // the user interrupts as soon as text shows
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"Once upon"}, chunkTexts(chunks, agent.ChunkText))
	require.Equal(t, []agent.Block{agent.TextBlock("Once upon")}, resp.Content)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection stayed open after the interrupt")
	}
}

func TestAnthropicCancelledBeforeStart(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/text.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	chunks, _, err := collect(ctx, p, anthropicRequest())
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, chunks)
	require.Empty(t, u.Calls())
}

func TestAnthropicNonStreamingAnswer(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		answerJSON(t, w, http.StatusOK, "anthropic/message.json")
	})
	p := newTestAnthropic(u, AnthropicConfig{})
	chunks, resp, err := collect(t.Context(), p, anthropicRequest())
	require.NoError(t, err)
	use := agent.Block{Type: agent.BlockToolUse, ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}
	require.Equal(t, []agent.ModelChunk{{Type: agent.ChunkText, Text: "Let me check."}, {Type: agent.ChunkToolUse, Block: use}}, chunks)
	require.Equal(t, agent.ModelResponse{
		Content:    []agent.Block{agent.TextBlock("Let me check."), use},
		StopReason: agent.StopToolUse,
		Usage:      agent.Usage{InputTokens: 402, OutputTokens: 89},
	}, resp)
}

func TestAnthropicConcurrent(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "anthropic/tool_use.sse") })
	p := newTestAnthropic(u, AnthropicConfig{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := p.Stream(t.Context(), new(anthropicRequest()), func(agent.ModelChunk) {})
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}
