package agent

import (
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
