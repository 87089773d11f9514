package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"
)

// TestChatResponseFormatReachesUpstream checks a chat completion's
// response_format is sent on to an OpenAI-compatible upstream, and absent
// when the client sent none.
func TestChatResponseFormatReachesUpstream(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]json.RawMessage
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		if _, forced := m["tool_choice"]; !forced {
			// Calls that force a tool are the memory family's extractions,
			// not the turns.
			mu.Lock()
			bodies = append(bodies, m)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, d := range []string{
			`{"id":"u","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"{\"ok\":true}"},"finish_reason":null}]}`,
			`{"id":"u","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`{"id":"u","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`,
			`[DONE]`,
		} {
			_, _ = io.WriteString(w, "data: "+d+"\n\n")
		}
	}))
	t.Cleanup(up.Close)

	s := startServer(t, "", map[string]string{"OPENAI_BASE_URL": up.URL, "OPENAI_API_KEY": "sk-upstream"})
	tok := s.register(t, "rf@example.com", "password123").Token
	key := s.createKey(t, tok, "rf").Key
	c := openaiClient(s, key)

	cc, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "openai:gpt-test", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("answer in JSON")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
	})
	require.NoError(t, err)
	require.Equal(t, `{"ok":true}`, cc.Choices[0].Message.Content)
	_, err = c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "openai:gpt-test", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("plain")},
	})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 2, "the two turns' model calls")
	require.JSONEq(t, `{"type":"json_object"}`, string(bodies[0]["response_format"]))
	require.JSONEq(t, `"gpt-test"`, string(bodies[0]["model"]))
	require.NotContains(t, bodies[1], "response_format")
}
