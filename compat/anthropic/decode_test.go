package anthropic

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sse joins events given as "name data" lines into a stream.
func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		name, data, _ := strings.Cut(e, " ")
		b.WriteString("event: " + name + "\ndata: " + data + "\n\n")
	}
	return b.String()
}

const (
	evStart = `message_start {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1}}}`
	evStop  = `message_stop {"type":"message_stop"}`
)

func TestStreamDecoderAssembles(t *testing.T) {
	stream := sse(
		evStart,
		`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`ping {"type":"ping"}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"brand_new_delta","x":1}}`,
		`content_block_stop {"type":"content_block_stop","index":0}`,
		`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": "}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`content_block_stop {"type":"content_block_stop","index":1}`,
		`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}}}`,
		`content_block_stop {"type":"content_block_stop","index":2}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}`,
		`brand_new_event {"type":"brand_new_event"}`,
		evStop,
		`message_start {"type":"message_start"}`, // after message_stop nothing is read
	)
	d := NewStreamDecoder(strings.NewReader(stream))
	var types []string
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		types = append(types, ev.Type)
		if ev.Type == EventContentBlockStop && ev.Index == 1 {
			require.JSONEq(t, `{"a":1}`, string(d.Block(1).Input), "tool input is parsed at its block's stop")
		}
		if ev.Type == EventContentBlockDelta && ev.Index == 0 && ev.Delta.Text == "Hel" {
			require.Equal(t, "Hel", d.Message().Content[0].Text, "open blocks show their text so far")
		}
	}
	require.Contains(t, types, EventPing)
	require.Contains(t, types, "brand_new_event")
	require.True(t, d.Done())
	m := d.Message()
	require.Equal(t, "msg_1", m.ID)
	require.Equal(t, StopToolUse, m.StopReason)
	require.Equal(t, Usage{InputTokens: 10, CacheReadInputTokens: 4, OutputTokens: 42}, m.Usage, "message_delta keeps message_start's input counts")
	require.Len(t, m.Content, 3)
	require.Equal(t, "Hello", m.Content[0].Text)
	require.JSONEq(t, `[{"type":"char_location","cited_text":"x"}]`, string(m.Content[0].Citations))
	require.Equal(t, `{"a":1}`, string(m.Content[1].Input))
	require.Equal(t, "server_tool_use", m.Content[2].Type)
	require.Equal(t, ContentBlock{}, d.Block(7))

	_, err := d.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestStreamDecoderDataOnlyEvents(t *testing.T) {
	// Without `event:` lines the type comes from the data.
	stream := "data: " + strings.TrimPrefix(evStart, "message_start ") + "\n\n" +
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
		"event: ping\ndata:\n\n" +
		"data: {\"type\":\"message_stop\"}\n\n"
	d := NewStreamDecoder(strings.NewReader(stream))
	for {
		_, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, StopEndTurn, d.Message().StopReason)
}

func TestStreamDecoderErrors(t *testing.T) {
	tests := []struct {
		name      string
		events    []string
		raw       string
		malformed string
		wantErr   error
	}{
		{name: "eof before message_stop", events: []string{evStart}, wantErr: io.ErrUnexpectedEOF},
		{name: "empty stream", raw: "", wantErr: io.ErrUnexpectedEOF},
		{name: "block before message_start", events: []string{`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`}, malformed: "content_block_start before message_start"},
		{name: "second message_start", events: []string{evStart, evStart}, malformed: "second message_start"},
		{name: "message_start without message", events: []string{`message_start {"type":"message_start"}`}, malformed: "message_start without message"},
		{name: "index gap", events: []string{evStart, `content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`}, malformed: "content_block_start index 1, want 0"},
		{name: "start without block", events: []string{evStart, `content_block_start {"type":"content_block_start","index":0}`}, malformed: "without content_block"},
		{name: "delta for unopened block", events: []string{evStart, `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`}, malformed: "content_block_delta for block 0, which is not open"},
		{name: "delta without delta", events: []string{evStart, `content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, `content_block_delta {"type":"content_block_delta","index":0}`}, malformed: "without delta"},
		{name: "stop twice", events: []string{evStart, `content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, `content_block_stop {"type":"content_block_stop","index":0}`, `content_block_stop {"type":"content_block_stop","index":0}`}, malformed: "not open"},
		{name: "mismatched delta", events: []string{evStart, `content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}`}, malformed: "input_json_delta for block 0 of type text"},
		{name: "broken tool json", events: []string{evStart, `content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`, `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`, `content_block_stop {"type":"content_block_stop","index":0}`}, malformed: "tool_use toolu_1 input is not valid JSON"},
		{name: "broken event json", raw: "event: message_start\ndata: {nope\n\n", malformed: `event "message_start"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.raw
			if tc.events != nil {
				stream = sse(tc.events...)
			}
			d := NewStreamDecoder(strings.NewReader(stream))
			var err error
			for err == nil {
				_, err = d.Next()
			}
			if tc.malformed != "" {
				require.ErrorIs(t, err, ErrMalformedStream)
				require.ErrorContains(t, err, tc.malformed)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestStreamDecoderErrorEvent(t *testing.T) {
	stream := sse(evStart,
		`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"part"}}`,
		`error {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`,
		evStop)
	d := NewStreamDecoder(strings.NewReader(stream))
	var err error
	for err == nil {
		_, err = d.Next()
	}
	var se *StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, ErrorDetail{Type: ErrorOverloaded, Message: "Overloaded"}, se.ErrorDetail)
	require.Equal(t, "anthropic stream error: overloaded_error: Overloaded", se.Error())
	require.False(t, d.Done())
	require.Equal(t, "part", d.Message().Content[0].Text, "what arrived before the error is kept")
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF)

	d = NewStreamDecoder(strings.NewReader(sse(`error {"type":"error"}`)))
	_, err = d.Next()
	require.ErrorAs(t, err, &se)
	require.Equal(t, ErrorAPI, se.Type)
}
