package provider

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func TestParseDirectives(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    Directives
		wantErr string
	}{
		{name: "empty", text: "", want: Directives{}},
		{name: "prompt only", text: "hello  world", want: Directives{Prompt: "hello  world"}},
		{name: "multi-line prompt joined with a space", text: "hello\n\n  there \r\nworld", want: Directives{Prompt: "hello there world"}},
		{name: "say", text: "@say Hi there!", want: Directives{Say: "Hi there!", HasSay: true}},
		{name: "empty say", text: "@say", want: Directives{HasSay: true}},
		{name: "several says", text: "@say one\n@say two", want: Directives{Say: "one\ntwo", HasSay: true}},
		{name: "tokens", text: "@tokens 3", want: Directives{Tokens: 3, HasTokens: true}},
		{name: "tokens zero", text: "@tokens 0", want: Directives{HasTokens: true}},
		{name: "last tokens wins", text: "@tokens 3\n@tokens 5", want: Directives{Tokens: 5, HasTokens: true}},
		{name: "delay", text: "@delay 5ms", want: Directives{Delay: 5 * time.Millisecond}},
		{name: "tab separator", text: "@delay\t1s", want: Directives{Delay: time.Second}},
		{
			name: "tools with prompt",
			text: "read it\n@tool read_file {\"path\": \"a.txt\"}\n@tool list_files",
			want: Directives{Prompt: "read it", Tools: []ToolDirective{
				{Name: "read_file", Input: json.RawMessage(`{"path":"a.txt"}`)},
				{Name: "list_files", Input: json.RawMessage(`{}`)},
			}},
		},
		{name: "error", text: "@error upstream exploded", want: Directives{Error: "upstream exploded", HasError: true}},
		{name: "indented directive", text: "   @tokens 2", want: Directives{Tokens: 2, HasTokens: true}},
		{name: "bad tokens", text: "@tokens abc", wantErr: `want a whole number of chunks, got "abc"`},
		{name: "negative tokens", text: "@tokens -1", wantErr: "outside 0..100000"},
		{name: "huge tokens", text: "@tokens 100001", wantErr: "outside 0..100000"},
		{name: "bad delay", text: "@delay soon", wantErr: `want a Go duration such as 5ms, got "soon"`},
		{name: "negative delay", text: "@delay -1s", wantErr: "negative"},
		{name: "tool without name", text: "@tool", wantErr: "missing tool name"},
		{name: "tool bad json", text: "@tool read_file {bad json", wantErr: "input of tool read_file: not a JSON object"},
		{name: "tool non-object json", text: "@tool read_file [1]", wantErr: "not a JSON object"},
		{name: "tool null json", text: "@tool read_file null", wantErr: "not a JSON object"},
		{name: "tool trailing garbage", text: `@tool read_file {"a":1} x`, wantErr: "not a JSON object"},
		{name: "unknown directive", text: "hi\n@tokns 5", wantErr: `unknown mock directive "@tokns" on line 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDirectives(tc.text)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, agent.ErrInvalid)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, seed := range []string{
		"", "hello world", "@say hi", "@tokens 3\n@delay 1ms", `@tool read_file {"path":"a"}`,
		"@error boom", "@tokens abc", "@tool x {", "a\r\n@say b\n\n@tool y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, err := ParseDirectives(text)
		if err != nil {
			require.ErrorIs(t, err, agent.ErrInvalid)
			return
		}
		require.GreaterOrEqual(t, d.Tokens, 0)
		require.LessOrEqual(t, d.Tokens, MaxMockTokens)
		require.GreaterOrEqual(t, d.Delay, time.Duration(0))
		for _, tl := range d.Tools {
			require.NotEmpty(t, tl.Name)
			var obj map[string]any
			require.NoError(t, json.Unmarshal(tl.Input, &obj))
			require.NotNil(t, obj)
		}
	})
}
