package openai

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

// replay decodes a recorded stream into an accumulator and returns the
// runtime chunks it produced.
func replay(t *testing.T, stream string) ([]agent.ModelChunk, *Accumulator) {
	t.Helper()
	d := NewStreamDecoder(strings.NewReader(stream))
	a := NewAccumulator()
	var out []agent.ModelChunk
	for {
		c, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		chunks, err := a.Add(c)
		require.NoError(t, err)
		out = append(out, chunks...)
	}
	rest, err := a.Finish()
	require.NoError(t, err)
	return append(out, rest...), a
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestAccumulatorToolCallsSplitAcrossChunks(t *testing.T) {
	chunks, a := replay(t, readFile(t, "testdata/stream/tool_calls.sse"))
	require.Len(t, chunks, 2)
	want := []agent.Block{
		{Type: agent.BlockToolUse, ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
		{Type: agent.BlockToolUse, ID: "call_5Hh8Gv4iL5CqmKFYoNNEZKjx", Name: "get_time", Input: json.RawMessage(`{"tz":"Europe/Paris"}`)},
	}
	for i, c := range chunks {
		require.Equal(t, agent.ChunkToolUse, c.Type)
		require.Equal(t, want[i], c.Block)
	}
	require.True(t, a.Finished())
	require.True(t, a.HasUsage())
	resp := a.Response()
	require.Equal(t, agent.StopToolUse, resp.StopReason)
	require.Equal(t, want, resp.Content)
	require.Equal(t, agent.Usage{InputTokens: 82, OutputTokens: 38}, resp.Usage)
}

func TestAccumulatorTextReasoningLength(t *testing.T) {
	chunks, a := replay(t, readFile(t, "testdata/stream/text_reasoning.sse"))
	require.Equal(t, []agent.ModelChunk{
		{Type: agent.ChunkThinking, Text: "Two plus "},
		{Type: agent.ChunkThinking, Text: "two is four."},
		{Type: agent.ChunkText, Text: "It is"},
		{Type: agent.ChunkText, Text: " 4."},
	}, chunks)
	resp := a.Response()
	require.Equal(t, agent.StopMaxTokens, resp.StopReason)
	require.Equal(t, []agent.Block{{Type: agent.BlockThinking, Text: "Two plus two is four."}, agent.TextBlock("It is 4.")}, resp.Content)
	require.Equal(t, agent.Usage{InputTokens: 12, OutputTokens: 7}, resp.Usage)
}

func chunk(t *testing.T, s string) ChatChunk {
	t.Helper()
	var c ChatChunk
	require.NoError(t, json.Unmarshal([]byte(s), &c))
	return c
}

func TestAccumulatorWholeCallsWithoutIndex(t *testing.T) {
	// Some servers send each call whole, without index, and say "stop".
	a := NewAccumulator()
	_, err := a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","function":{"name":"a","arguments":"{\"x\":1}"}},{"id":"call_2","function":{"name":"b","arguments":"{"}}]}}]}`))
	require.NoError(t, err)
	_, err = a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}`))
	require.NoError(t, err)
	_, err = a.Add(chunk(t, `{"choices":[{"index":1,"delta":{"content":"other choice"}}]}`))
	require.NoError(t, err)
	out, err := a.Add(chunk(t, `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`))
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, "a", out[0].Block.Name)
	require.Equal(t, `{}`, string(out[1].Block.Input))
	resp := a.Response()
	require.Equal(t, agent.StopToolUse, resp.StopReason)
	require.Len(t, resp.Content, 2, "the other choice is ignored")

	again, err := a.Finish()
	require.NoError(t, err)
	require.Nil(t, again, "tool uses are announced once")
}

func TestAccumulatorMissingIDAndFinish(t *testing.T) {
	a := NewAccumulator()
	_, err := a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"content":"ok"}}]}`))
	require.NoError(t, err)
	_, err = a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":""}}]}}]}`))
	require.NoError(t, err)
	require.False(t, a.Finished())
	out, err := a.Finish()
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.True(t, agent.ValidID(agent.PrefixToolUse, out[0].Block.ID), out[0].Block.ID)
	require.Equal(t, `{}`, string(out[0].Block.Input))
}

func TestAccumulatorErrors(t *testing.T) {
	a := NewAccumulator()
	_, err := a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]}`))
	require.ErrorIs(t, err, ErrMalformedStream)
	require.ErrorContains(t, err, "tool call 0")

	a = NewAccumulator()
	_, err = a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`))
	require.ErrorContains(t, err, "no function name")
}

func TestAccumulatorRefusal(t *testing.T) {
	a := NewAccumulator()
	out, err := a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"refusal":"I can't."},"finish_reason":"stop"}]}`))
	require.NoError(t, err)
	require.Equal(t, []agent.ModelChunk{{Type: agent.ChunkText, Text: "I can't."}}, out)
	require.Equal(t, agent.StopRefusal, a.Response().StopReason)

	a = NewAccumulator()
	_, err = a.Add(chunk(t, `{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"content_filter"}]}`))
	require.NoError(t, err)
	require.Equal(t, agent.StopRefusal, a.Response().StopReason)
}

func TestStreamDecoder(t *testing.T) {
	d := NewStreamDecoder(strings.NewReader("data: {\"choices\":[]}\n\n"))
	_, err := d.Next()
	require.NoError(t, err)
	_, err = d.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a stream cut before [DONE]")

	d = NewStreamDecoder(strings.NewReader("data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n"))
	_, err = d.Next()
	var se *StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "openai stream error: server_error: The server had an error", se.Error())
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF)

	d = NewStreamDecoder(strings.NewReader("event: error\ndata: {\"error\":\"boom\"}\n\n"))
	_, err = d.Next()
	require.ErrorAs(t, err, &se)
	require.Equal(t, "openai stream error: boom", se.Error())

	d = NewStreamDecoder(strings.NewReader("data: not json\n\n"))
	_, err = d.Next()
	require.ErrorIs(t, err, ErrMalformedStream)

	d = NewStreamDecoder(strings.NewReader("data:\n\ndata: [DONE]\n\ndata: {\"choices\":[]}\n\n"))
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF)
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF, "nothing is read after [DONE]")
}
