package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func openaiRequest() agent.ModelRequest {
	return agent.ModelRequest{
		Model:     "gpt-4o",
		System:    "You are a weather assistant.",
		MaxTokens: 256,
		Messages: []agent.Message{
			{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("Weather in Paris and Bogotá?")}},
		},
		Tools: []agent.ToolSpec{{
			Name: "get_weather", Description: "Current weather of a location",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`),
		}},
		ToolChoice: &agent.ToolChoice{Type: "auto"},
	}
}

func newTestOpenAI(u *upstream, cfg OpenAIConfig) Provider {
	if cfg.BaseURL == "" {
		cfg.BaseURL = u.srv.URL + "/v1"
	}
	cfg.HTTPClient = u.srv.Client()
	p := NewOpenAI(cfg)
	fastRetries(p)
	return p
}

func TestOpenAIToolCallsSplitAcrossChunks(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "openai/tool_calls.sse") })
	p := newTestOpenAI(u, OpenAIConfig{APIKey: "sk-test"})
	chunks, resp, err := collect(t.Context(), p, openaiRequest())
	require.NoError(t, err)

	paris := agent.Block{Type: agent.BlockToolUse, ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_weather", Input: json.RawMessage(`{"location":"Paris, France"}`)}
	bogota := agent.Block{Type: agent.BlockToolUse, ID: "call_5Hh8Gv4iL5CqmKFYoNNEZKjx", Name: "get_weather", Input: json.RawMessage(`{"location":"Bogotá, Colombia"}`)}
	require.Equal(t, []agent.ModelChunk{
		{Type: agent.ChunkText, Text: "Checking both."},
		{Type: agent.ChunkToolUse, Block: paris},
		{Type: agent.ChunkToolUse, Block: bogota},
	}, chunks)
	require.Equal(t, agent.ModelResponse{
		Content:    []agent.Block{agent.TextBlock("Checking both."), paris, bogota},
		StopReason: agent.StopToolUse,
		Usage:      agent.Usage{InputTokens: 82, OutputTokens: 38},
	}, resp, "the usage chunk after the finish is read")

	calls := u.Calls()
	require.Len(t, calls, 1)
	c := calls[0]
	require.Equal(t, "/v1/chat/completions", c.Path)
	require.Equal(t, "Bearer sk-test", c.Header.Get("authorization"))
	require.Equal(t, "application/json", c.Header.Get("content-type"))
	var body bytes.Buffer
	require.NoError(t, json.Indent(&body, c.Body, "", "  "))
	body.WriteByte('\n')
	golden(t, "testdata/openai/request.golden", body.Bytes())
	var sent struct {
		Stream        bool `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		MaxTokens int `json:"max_tokens"`
	}
	require.NoError(t, json.Unmarshal(c.Body, &sent))
	require.True(t, sent.Stream)
	require.True(t, sent.StreamOptions.IncludeUsage)
	require.Equal(t, 256, sent.MaxTokens)
}

func TestOpenAIFinishLength(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "openai/length.sse") })
	p := newTestOpenAI(u, OpenAIConfig{APIKey: "sk-test"})
	chunks, resp, err := collect(t.Context(), p, openaiRequest())
	require.NoError(t, err)
	require.Equal(t, []string{"Once", " upon", " a"}, chunkTexts(chunks, agent.ChunkText))
	require.Equal(t, agent.ModelResponse{
		Content:    []agent.Block{agent.TextBlock("Once upon a")},
		StopReason: agent.StopMaxTokens,
		Usage:      agent.Usage{InputTokens: 11, OutputTokens: 3},
	}, resp)
}

func TestOpenAIOllamaWithoutKey(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "openai/ollama.sse") })
	// Ollama's OpenAI-compatible root, as a user would configure it.
	p := newTestOpenAI(u, OpenAIConfig{BaseURL: u.srv.URL + "/v1/"})
	chunks, resp, err := collect(t.Context(), p, agent.ModelRequest{
		Model:     "qwen3:4b",
		MaxTokens: 100,
		Messages:  []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("list the files")}}},
		Tools:     []agent.ToolSpec{{Name: "list_files"}},
	})
	require.NoError(t, err)
	use := agent.Block{Type: agent.BlockToolUse, ID: "call_lsu1n7kp", Name: "list_files", Input: json.RawMessage(`{"path":"."}`)}
	require.Equal(t, []agent.ModelChunk{
		{Type: agent.ChunkThinking, Text: "The user wants a file listing."},
		{Type: agent.ChunkText, Text: "Sure."},
		{Type: agent.ChunkToolUse, Block: use},
	}, chunks)
	require.Equal(t, agent.StopToolUse, resp.StopReason, "tool calls win over Ollama's finish_reason stop")
	require.Equal(t, agent.Usage{InputTokens: 147, OutputTokens: 31}, resp.Usage)
	require.Len(t, resp.Content, 3)

	c := u.Calls()[0]
	require.Equal(t, "/v1/chat/completions", c.Path)
	_, hasAuth := c.Header["Authorization"]
	require.False(t, hasAuth, "no key, no Authorization header")
	require.Contains(t, string(c.Body), `"max_tokens":100`, "other servers get max_tokens")
	require.NotContains(t, string(c.Body), "max_completion_tokens")
}

func TestOpenAIOfficialMaxCompletionTokens(t *testing.T) {
	p := NewOpenAI(OpenAIConfig{}).(*openaiProvider)
	require.Equal(t, "https://api.openai.com/v1/chat/completions", p.url)
	require.True(t, p.official)
	require.Equal(t, 3, p.retry.maxRetries)
	require.Zero(t, p.client.Timeout)
	body, err := p.body(new(openaiRequest()))
	require.NoError(t, err)
	require.Contains(t, string(body), `"max_completion_tokens":256`)
	require.NotContains(t, string(body), `"max_tokens"`)
}

func TestOpenAIErrorEventMidStream(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "openai/error_event.sse") })
	p := newTestOpenAI(u, OpenAIConfig{})
	chunks, resp, err := collect(t.Context(), p, openaiRequest())
	var ue *UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UpstreamError{Status: 500, Type: "server_error", Message: "The server had an error while processing your request. Sorry about that!"}, ue)
	require.Equal(t, []string{"Partial"}, chunkTexts(chunks, agent.ChunkText))
	require.Equal(t, []agent.Block{agent.TextBlock("Partial")}, resp.Content)
	require.Empty(t, resp.StopReason)
	require.Len(t, u.Calls(), 1)
}

func TestOpenAIErrorAnswers(t *testing.T) {
	t.Run("invalid key is not retried", func(t *testing.T) {
		u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			answerJSON(t, w, http.StatusUnauthorized, "openai/invalid_key.json")
		})
		p := newTestOpenAI(u, OpenAIConfig{APIKey: "sk-proj-wrong"})
		_, _, err := collect(t.Context(), p, openaiRequest())
		var ue *UpstreamError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, 401, ue.Status)
		require.Equal(t, "invalid_request_error", ue.Type)
		require.Contains(t, ue.Message, "Incorrect API key provided")
		require.Len(t, u.Calls(), 1)
	})
	t.Run("rate limit then success", func(t *testing.T) {
		u := startUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 0 {
				answerJSON(t, w, http.StatusTooManyRequests, "openai/rate_limit.json", "retry-after-ms", "1")
				return
			}
			replaySSE(t, w, "openai/length.sse")
		})
		p := newTestOpenAI(u, OpenAIConfig{})
		p.(*openaiProvider).retry.base = time.Hour
		p.(*openaiProvider).retry.max = time.Hour
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, resp, err := collect(ctx, p, openaiRequest())
		require.NoError(t, err)
		require.Equal(t, agent.StopMaxTokens, resp.StopReason)
		require.Len(t, u.Calls(), 2)
	})
	t.Run("ollama error string", func(t *testing.T) {
		u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"model \"llama9\" not found, try pulling it first"}`))
		})
		p := newTestOpenAI(u, OpenAIConfig{})
		_, _, err := collect(t.Context(), p, openaiRequest())
		var ue *UpstreamError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, &UpstreamError{Status: 404, Message: `model "llama9" not found, try pulling it first`}, ue)
	})
}

func TestOpenAIStreamWithoutDone(t *testing.T) {
	t.Run("finished choice", func(t *testing.T) {
		u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("content-type", "text/event-stream")
			_, _ = w.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}` + "\n\n"))
		})
		p := newTestOpenAI(u, OpenAIConfig{})
		_, resp, err := collect(t.Context(), p, openaiRequest())
		require.NoError(t, err, "a finished choice is a complete answer even without [DONE]")
		require.Equal(t, agent.StopEndTurn, resp.StopReason)
	})
	t.Run("unfinished choice", func(t *testing.T) {
		u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("content-type", "text/event-stream")
			_, _ = w.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n"))
		})
		p := newTestOpenAI(u, OpenAIConfig{})
		_, resp, err := collect(t.Context(), p, openaiRequest())
		require.ErrorContains(t, err, "stream ended before the answer was complete")
		require.Equal(t, []agent.Block{agent.TextBlock("hi")}, resp.Content)
	})
}

func TestOpenAIInterruptClosesUpstream(t *testing.T) {
	gone := make(chan struct{})
	u := startUpstream(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(bytes.SplitAfterN(readTestdata(t, "openai/length.sse"), []byte("\n\n"), 3)[1])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	})
	p := newTestOpenAI(u, OpenAIConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp, err := p.Stream(ctx, new(openaiRequest()), func(agent.ModelChunk) { cancel() })
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []agent.Block{agent.TextBlock("Once")}, resp.Content)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection stayed open after the interrupt")
	}
}

func TestOpenAINonStreamingAnswer(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`))
	})
	p := newTestOpenAI(u, OpenAIConfig{})
	chunks, resp, err := collect(t.Context(), p, openaiRequest())
	require.NoError(t, err)
	require.Equal(t, []agent.ModelChunk{{Type: agent.ChunkText, Text: "Hello!"}}, chunks)
	require.Equal(t, agent.ModelResponse{Content: []agent.Block{agent.TextBlock("Hello!")}, StopReason: agent.StopEndTurn, Usage: agent.Usage{InputTokens: 5, OutputTokens: 2}}, resp)
}
