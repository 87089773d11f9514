package upstream

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestSDKReadsAnswers checks the answers with the official SDK, as a
// client of the real API would read them.
func TestSDKReadsAnswers(t *testing.T) {
	// fasthttp's date ticker and its idle-worker sweeper end on their own
	// schedule, after the server has stopped.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	s := New(Config{Deltas: 5})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{}}
	defer func() {
		hc.CloseIdleConnections()
		require.NoError(t, s.Shutdown(context.Background()))
		require.NoError(t, <-done)
	}()
	c := anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(base), option.WithHTTPClient(hc),
		option.WithAPIKey("sk-bench"), option.WithMaxRetries(0))
	params := anthropic.MessageNewParams{
		Model: "claude-bench", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}

	msg, err := c.Messages.New(t.Context(), params)
	require.NoError(t, err)
	require.Equal(t, "tok0 tok1 tok2 tok3 tok4 ", msg.Content[0].Text)
	require.EqualValues(t, 5, msg.Usage.OutputTokens)

	st := c.Messages.NewStreaming(t.Context(), params)
	var acc anthropic.Message
	deltas := 0
	for st.Next() {
		ev := st.Current()
		require.NoError(t, acc.Accumulate(ev))
		if ev.Type == "content_block_delta" {
			deltas++
		}
	}
	require.NoError(t, st.Err())
	require.Equal(t, 5, deltas)
	require.Equal(t, "tok0 tok1 tok2 tok3 tok4 ", acc.Content[0].Text)
	require.Equal(t, anthropic.StopReasonEndTurn, acc.StopReason)

	resp, err := hc.Get(base + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	require.EqualValues(t, 2, stats.Requests)
	require.GreaterOrEqual(t, stats.Connections, int64(1))
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
}
