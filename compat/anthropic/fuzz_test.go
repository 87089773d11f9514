package anthropic

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzStreamDecoder feeds arbitrary bytes to the upstream stream decoder:
// it must end with an event sequence or an error, never a panic or a hang.
func FuzzStreamDecoder(f *testing.F) {
	f.Add("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\",\"input\":{}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	f.Add("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n")
	f.Add("data: {\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		d := NewStreamDecoder(strings.NewReader(in))
		for i := 0; i < 10000; i++ {
			if _, err := d.Next(); err != nil {
				return
			}
		}
	})
}

// FuzzFromMessagesRequest decodes arbitrary JSON as a Messages request and
// converts it: bad input is an error, never a panic.
func FuzzFromMessagesRequest(f *testing.F) {
	f.Add(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"m","system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r"}]}]}],"tools":[{"name":"t","input_schema":{}}],"tool_choice":{"type":"any"}}`)
	f.Add(`{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"image","source":{}}]}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var r MessagesRequest
		if json.Unmarshal([]byte(in), &r) != nil {
			return
		}
		_, _ = FromMessagesRequest(r)
		_ = EstimateTokens(r)
	})
}
