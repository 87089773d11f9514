package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func TestReplyBlocks(t *testing.T) {
	r := &Reply{Skip: 1, Client: map[string]bool{"get_weather": true}}
	msgs := []agent.Message{
		{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("input")}},
		{Role: agent.RoleAssistant, Content: []agent.Block{
			{Type: agent.BlockThinking, Text: "hmm", Signature: "sig"},
			agent.TextBlock("Let me look. "),
			{Type: agent.BlockToolUse, ID: "toolu_1", Name: "read_file", Input: json.RawMessage(`{"path":"a"}`)},
		}},
		{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "x"}}},
		{Role: agent.RoleAssistant, Content: []agent.Block{
			agent.TextBlock("It says x."),
			{Type: agent.BlockToolUse, ID: "toolu_2", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
		}},
	}
	require.Equal(t, []agent.Block{
		{Type: agent.BlockThinking, Text: "hmm", Signature: "sig"},
		agent.TextBlock("Let me look. It says x."),
		{Type: agent.BlockToolUse, ID: "toolu_2", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
	}, r.Blocks(msgs), "server tool uses and results stay inside; the input is skipped")
}

func TestPageModels(t *testing.T) {
	ms := []Model{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	ids := func(ms []Model) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	tests := []struct {
		name          string
		after, before string
		limit         int
		want          []string
		more          bool
	}{
		{"first page", "", "", 2, []string{"a", "b"}, true},
		{"all", "", "", 20, []string{"a", "b", "c", "d"}, false},
		{"after", "b", "", 2, []string{"c", "d"}, false},
		{"after, more", "a", "", 2, []string{"b", "c"}, true},
		{"before", "", "d", 2, []string{"b", "c"}, true},
		{"before, start", "", "b", 2, []string{"a"}, false},
		{"unknown cursor", "zz", "", 2, []string{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, more := PageModels(ms, tc.after, tc.before, tc.limit)
			require.Equal(t, tc.want, ids(got))
			require.Equal(t, tc.more, more)
		})
	}
}
