package openai

import (
	"strings"
	"testing"
)

// FuzzStreamDecoder feeds arbitrary bytes through the chunk decoder and the
// accumulator: malformed streams are errors, never panics.
func FuzzStreamDecoder(f *testing.F) {
	f.Add("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"n\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n")
	f.Add("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":1}}\n\n")
	f.Add("data: {\"error\":{\"message\":\"boom\"}}\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		d := NewStreamDecoder(strings.NewReader(in))
		acc := NewAccumulator()
		for i := 0; i < 10000; i++ {
			c, err := d.Next()
			if err != nil {
				return
			}
			if _, err := acc.Add(c); err != nil {
				return
			}
		}
	})
}
