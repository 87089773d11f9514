package provider

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/seshat-host/seshat/actors/agent"
)

// BenchmarkAnthropicStreamDecode reads a 32-delta streamed answer from
// memory as a call reads its upstream's body: decoding, the chunks
// emitted and the response assembled, per op.
func BenchmarkAnthropicStreamDecode(b *testing.B) {
	var sse bytes.Buffer
	sse.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
	sse.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := range 32 {
		fmt.Fprintf(&sse, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok%d \"}}\n\n", i)
	}
	sse.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	sse.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":32}}\n\n")
	sse.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	data := sse.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	emit := func(c agent.ModelChunk) { n += len(c.Text) }
	for b.Loop() {
		resp, err := anthropicStream(context.Background(), bytes.NewReader(data), emit)
		if err != nil || resp.StopReason != agent.StopEndTurn {
			b.Fatal(resp, err)
		}
	}
}
