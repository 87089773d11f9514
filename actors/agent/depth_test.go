package agent

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`1`, 0},
		{`{}`, 1},
		{`{"a":[1,{"b":[]}]}`, 4},
		{`{"a":"[[[{{{"}`, 1},
		{`{"a":"\"[[["}`, 1},
		{`[[],[[]],[]]`, 3},
		{strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1), MaxJSONDepth + 1},
	} {
		if got := JSONDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("JSONDepth(%.40q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestTrimJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{`{"a":[1,2]}`, 2, `{"a":[1,2]}`},
		{`{"a":[1,[2,{"b":3}]],"c":"[[["}`, 2, `{"a":[1,null],"c":"[[["}`},
		{`{"a":"\"{","b":{"c":{}}}`, 1, `{"a":"\"{","b":null}`},
		{`[[[]],[[[]]]]`, 2, `[[null],[null]]`},
	} {
		if got := string(TrimJSONDepth([]byte(tc.in), tc.max)); got != tc.want {
			t.Errorf("TrimJSONDepth(%s, %d) = %s, want %s", tc.in, tc.max, got, tc.want)
		}
	}
	deep := []byte(`{"role":"assistant","content":[{"input":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}]}`)
	trimmed := TrimJSONDepth(deep, MaxJSONDepth)
	var v any
	if err := json.Unmarshal(trimmed, &v); err != nil {
		t.Fatalf("the trimmed document does not decode: %v", err)
	}
	if d := JSONDepth(trimmed); d != MaxJSONDepth {
		t.Errorf("trimmed depth %d, want %d", d, MaxJSONDepth)
	}
}
