package anthropic

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deltaStream is a stream whose block 0 is of blockType and which carries
// each of deltas as the data of a content_block_delta event.
func deltaStream(blockType string, deltas ...string) string {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n")
	block := map[string]string{
		BlockText:     `{"type":"text","text":""}`,
		BlockThinking: `{"type":"thinking","thinking":"","signature":""}`,
		BlockToolUse:  `{"type":"tool_use","id":"toolu_1","name":"f","input":{}}`,
	}[blockType]
	fmt.Fprintf(&b, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":%s}\n\n", block)
	for _, d := range deltas {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: %s\n\n", d)
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.String()
}

// decodeBoth decodes in to its end, copying every event's Delta, and
// returns the events, the message and the error that ended it.
func decodeBoth(in string, slow bool) ([]StreamEvent, MessagesResponse, error) {
	d := NewStreamDecoder(strings.NewReader(in))
	d.slow = slow
	var evs []StreamEvent
	for range 1000 {
		ev, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return evs, d.Message(), err
		}
		if ev.Delta != nil {
			c := *ev.Delta
			ev.Delta = &c
		}
		evs = append(evs, ev)
	}
	return evs, d.Message(), errors.New("too many events")
}

// checkSameAsSlow decodes the stream with and without the fast path: the
// events, the message and whether it failed must be the same.
func checkSameAsSlow(t *testing.T, in string) {
	t.Helper()
	fe, fm, ferr := decodeBoth(in, false)
	se, sm, serr := decodeBoth(in, true)
	require.Equal(t, se, fe, "events")
	require.Equal(t, sm, fm, "message")
	require.Equal(t, serr == nil, ferr == nil, "fast %v, encoding/json %v", ferr, serr)
	if serr != nil {
		require.Equal(t, serr.Error(), ferr.Error())
	}
}

func TestFastDeltaSameAsEncodingJSON(t *testing.T) {
	text := []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		` { "type" : "content_block_delta" , "index" : 0 , "delta" : { "type" : "text_delta" , "text" : " world" } } `,
		`{"index":0,"delta":{"text":"order","type":"text_delta"},"type":"content_block_delta"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"esc \" \\ \/ \b \f \n \r \t \u00e9 \u4e2d \u0000 end"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"pair \ud83d\ude00 lone \ud83d x \ude00"}}`,
		"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"bad utf-8 \xff\xfe and é 中 😀\"}}",
		`{"Type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"case"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","Text":"case"}}`,
		`{"type":"content_block_delta","index":0,"index":0,"delta":{"type":"text_delta","text":"twice"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","text":"b"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"extra"},"extra":1}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","thinking":"wrong field"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} trailing`,
		`{"type":"content_block_delta","index":00,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":0.0,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":-0,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"not open"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"wrong block"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"x"}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ctl ` + "\t" + `"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"bad \x escape"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"short \u12"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text\u005fdelta","text":"escaped type"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"unterminated}}`,
	}
	for _, d := range text {
		checkSameAsSlow(t, deltaStream(BlockText, text[0], d))
	}
	checkSameAsSlow(t, deltaStream(BlockText, text...))
	checkSameAsSlow(t, deltaStream(BlockThinking,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me \"think\"\n"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"wrong block"}}`,
	))
	checkSameAsSlow(t, deltaStream(BlockToolUse,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}`,
	))
	checkSameAsSlow(t, deltaStream(BlockToolUse,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"broken"}}`,
	))
}

// FuzzFastDelta decodes arbitrary content_block_delta data with and without
// the fast path: both must agree.
func FuzzFastDelta(f *testing.F) {
	f.Add(BlockText, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \u00e9\n"}}`)
	f.Add(BlockThinking, `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}`)
	f.Add(BlockToolUse, `{"delta":{"partial_json":"{}","type":"input_json_delta"},"index":0,"type":"content_block_delta"}`)
	f.Fuzz(func(t *testing.T, block, data string) {
		switch block {
		case BlockText, BlockThinking, BlockToolUse:
		default:
			return
		}
		if strings.ContainsAny(data, "\r\n") {
			return // one data line
		}
		checkSameAsSlow(t, deltaStream(block, data))
	})
}

// TestFastDeltaAllocations checks that a text delta of the common shape
// is decoded without an allocation of its own.
func TestFastDeltaAllocations(t *testing.T) {
	ev := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \\\"q\\\" \"}}\n\n"
	const n = 2000
	in := deltaStream(BlockText) // blocks and stops around the deltas
	head, tail, ok := strings.Cut(in, "event: content_block_stop")
	require.True(t, ok)
	d := NewStreamDecoder(strings.NewReader(head + strings.Repeat(ev, n+10) + "event: content_block_stop" + tail))
	for range 2 { // message_start, content_block_start
		_, err := d.Next()
		require.NoError(t, err)
	}
	allocs := testing.AllocsPerRun(n, func() {
		ev, err := d.Next()
		if err != nil || ev.Delta == nil || ev.Delta.Text != `tok "q" ` {
			t.Fatalf("event %+v, %v", ev, err)
		}
	})
	require.Less(t, allocs, 0.1, "allocations per delta event")
	require.Equal(t, strings.Repeat(`tok "q" `, n+1), d.Block(0).Text)
}

// bareStream is a text block of one delta, then the events of bare in
// place of its content_block_stop, then the usual stops.
func bareStream(bare ...string) string {
	in := deltaStream(BlockText, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`)
	head, tail, _ := strings.Cut(in, "event: content_block_stop")
	var b strings.Builder
	b.WriteString(head)
	for _, e := range bare {
		fmt.Fprintf(&b, "event: x\ndata: %s\n\n", e)
	}
	return b.String() + "event: content_block_stop" + tail
}

func TestFastBareSameAsEncodingJSON(t *testing.T) {
	bare := []string{
		`{"type":"content_block_stop","index":0}`,
		` { "index" : 0 , "type" : "content_block_stop" } `,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_stop","index":00}`,
		`{"type":"content_block_stop","index":-1}`,
		`{"type":"content_block_stop","index":0.5}`,
		`{"type":"content_block_stop","index":"0"}`,
		`{"type":"content_block_stop"}`,
		`{"type":"content_block_stop","index":0,"index":0}`,
		`{"type":"content_block_stop","Index":0}`,
		`{"type":"content_block_stop","index":0,"x":1}`,
		`{"type":"content_block_stop","index":0} x`,
		`{"type":"content_block_stop","index":0`,
		`{"type":"ping"}`,
		`{"type":"ping","index":0}`,
		`{"TYPE":"ping"}`,
		`{"type":"p\u0069ng"}`,
		`{"type":"ping","type":"ping"}`,
		`{"type":"message_stop"}`,
		`{"type":"message_stop","index":3}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":32}}`,
		` { "usage" : { "input_tokens" : 3 , "cache_read_input_tokens" : 4 , "cache_creation_input_tokens" : 5 , "output_tokens" : 6 } , "delta" : { "stop_sequence" : "END" , "stop_reason" : "stop_sequence" } , "type" : "message_delta" } `,
		`{"type":"message_delta","delta":{}}`,
		`{"type":"message_delta","usage":{}}`,
		`{"type":"message_delta"}`,
		`{"type":"message_delta","delta":null,"usage":null}`,
		`{"type":"message_delta","delta":{"stop_reason":nul}}`,
		`{"type":"message_delta","delta":{"stop_reason":"a\nb"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"a","stop_reason":"b"}}`,
		`{"type":"message_delta","delta":{"Stop_Reason":"a"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"a","stop_details":{"x":1}}}`,
		`{"type":"message_delta","delta":{"type":"x","stop_reason":"a"}}`,
		`{"type":"message_delta","usage":{"output_tokens":-1}}`,
		`{"type":"message_delta","usage":{"output_tokens":12345678901}}`,
		`{"type":"message_delta","usage":{"output_tokens":1,"output_tokens":2}}`,
		`{"type":"message_delta","usage":{"output_tokens":null}}`,
		`{"type":"message_delta","usage":{"output_tokens":1e3}}`,
		`{"type":"message_delta","usage":{"output_tokens":1,"service_tier":"standard"}}`,
		`{"type":"message_delta","index":0,"usage":{"output_tokens":1}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		` { "content_block" : { "text" : "pre" , "type" : "text" } , "index" : 1 , "type" : "content_block_start" } `,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"text":"no type"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"a\u00e9"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":null}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"a","text":"b"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"","citations":[]}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_start","index":1,"content_block":{}}`,
		`{"type":"content_block_start","index":1,"content_block":null}`,
		`{"type":"content_block_start","content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`,
		`{}`,
		`{"type":null}`,
		`[]`,
	}
	for _, e := range bare {
		checkSameAsSlow(t, bareStream(e))
	}
	checkSameAsSlow(t, bareStream(bare...))
}

// FuzzFastBare decodes arbitrary event data where a block stops with and
// without the fast path: both must agree.
func FuzzFastBare(f *testing.F) {
	f.Add(`{"type":"content_block_stop","index":0}`)
	f.Add(`{"type":"ping"}`)
	f.Add(`{"type":"message_stop"}`)
	f.Add(`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`)
	f.Add(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":32}}`)
	f.Fuzz(func(t *testing.T, data string) {
		if strings.ContainsAny(data, "\r\n") {
			return // one data line
		}
		checkSameAsSlow(t, bareStream(data))
	})
}
