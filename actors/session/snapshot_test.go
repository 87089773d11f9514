package session

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// TestDecodeSnapshotStoredTooDeep reads a snapshot written before tool
// inputs had a depth bound, with an input nested 12,000 levels in the
// last turn's result and in a pending request: it decodes, with those
// inputs as {} and the rest kept.
func TestDecodeSnapshotStoredTooDeep(t *testing.T) {
	deep := strings.Repeat("[", 12_000) + strings.Repeat("]", 12_000)
	data := `{"usage":{"input_tokens":7,"output_tokens":3},"remembered":{"write_file":"allow"},` +
		`"pending":[{"type":"permission","request_id":"perm_1","tool_name":"write_file","input":{"p":` + deep + `}}],` +
		`"last_turn":{"turn_id":"turn_1","result":{"tool_uses":[{"id":"toolu_1","name":"list_files","input":` + deep + `}]},"last_event_id":9}}`
	var probe any
	if json.Unmarshal([]byte(data), &probe) == nil {
		t.Fatal("a decoder should refuse the snapshot whole")
	}
	s, inline, err := decodeSnapshot(persist.Snapshot{Version: snapshotVersion, Data: []byte(data)})
	if err != nil {
		t.Fatalf("decodeSnapshot: %v", err)
	}
	if inline || s.Usage != (agent.Usage{InputTokens: 7, OutputTokens: 3}) || s.Remembered["write_file"] != "allow" {
		t.Errorf("the shallow parts are not kept: %+v", s)
	}
	if len(s.Pending) != 1 || string(s.Pending[0].Input) != `{}` {
		t.Errorf("pending = %+v, want one with input {}", s.Pending)
	}
	if s.LastTurn == nil || s.LastTurn.LastEventID != 9 || len(s.LastTurn.Result.ToolUses) != 1 || string(s.LastTurn.Result.ToolUses[0].Input) != `{}` {
		t.Errorf("last turn = %+v, want its tool use with input {}", s.LastTurn)
	}
}

// sampleSnapshot fills every field of a snapshot with s, raw and n.
func sampleSnapshot(s string, raw []byte, n int) snapshot {
	at := time.Date(2026, 12, 4, 20, 43, 2, n, time.UTC)
	res := agent.QueryResult{SessionID: s, TurnID: s, Content: s, StopReason: agent.StopEndTurn,
		ToolUses: []agent.ToolUse{{ID: s, Name: s, Input: raw}}, PlanID: s}
	res.Normalize()
	return snapshot{
		Messages:   []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(s)}, CreatedAt: at}},
		Usage:      agent.Usage{InputTokens: int64(n), OutputTokens: 3},
		Remembered: map[string]string{s: s, "write_file": agent.DecisionAllow, "<b>": "x", "a": s},
		Pending: []agent.Pending{
			{Type: agent.PendingPermission, RequestID: s, ToolUseID: s, ToolName: s, Input: raw, CreatedAt: at, ExpiresAt: at.Add(time.Minute)},
			{Type: agent.PendingPrompt, RequestID: s, Question: s},
		},
		RunningTurn: s, RunningFrom: n,
		LastTurn: &lastTurn{TurnID: s, Result: res, LastEventID: uint64(n)},
	}
}

func checkSnapshotEncode(t *testing.T, s snapshot) {
	t.Helper()
	want, wantErr := s.encodeStd()
	got, err := s.encode()
	if (err != nil) != (wantErr != nil) || (err == nil && string(got.Data) != string(want)) {
		t.Fatalf("snapshot encode:\n got %s, %v\nwant %s, %v", got.Data, err, want, wantErr)
	}
	if err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("snapshot encode error %q, encoding/json %q", err, wantErr)
	}
	if got.Version != snapshotVersion {
		t.Fatalf("version %d", got.Version)
	}
}

// TestSnapshotEncodeMatchesEncodingJSON checks that the snapshot's
// hand-written encoder writes what encoding/json writes.
func TestSnapshotEncodeMatchesEncodingJSON(t *testing.T) {
	checkSnapshotEncode(t, snapshot{})
	checkSnapshotEncode(t, snapshot{Remembered: map[string]string{}, Pending: []agent.Pending{}, LastTurn: &lastTurn{}})
	for _, s := range []string{"", "x", "<a href=\"&\">\u2028\xff\n"} {
		for _, raw := range []string{`{"a": [1, 2]}`, ``, `{`} {
			checkSnapshotEncode(t, sampleSnapshot(s, []byte(raw), 7))
		}
	}
	bad := sampleSnapshot("x", nil, 1)
	bad.Pending[0].CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	checkSnapshotEncode(t, bad)
}

func FuzzSnapshotEncode(f *testing.F) {
	f.Add("x<y>", []byte(` [ "a" ] `), 3)
	f.Fuzz(func(t *testing.T, s string, raw []byte, n int) {
		checkSnapshotEncode(t, sampleSnapshot(s, raw, n))
	})
}

// TestEncodeMessagesMatchesEncodingJSON checks the saved messages and
// their index text against encoding/json and Message.Text.
func TestEncodeMessagesMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 4, 20, 43, 2, 0, time.UTC)
	ms := []agent.Message{
		{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("Plan a <trip>"), agent.TextBlock("")}, CreatedAt: at},
		{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, ID: "toolu_1", Name: "ls", Input: []byte(`{"p": "."}`)}}, CreatedAt: at},
		{Role: agent.RoleUser, Content: []agent.Block{{Type: agent.BlockToolResult, ToolUseID: "toolu_1", Content: "a\nb"}}, CreatedAt: at},
		{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock(""), agent.TextBlock("one"), {Type: agent.BlockThinking, Text: "t"}, agent.TextBlock("two")}, CreatedAt: at},
		{Role: agent.RoleUser},
	}
	for from := range ms {
		got, err := encodeMessages(ms[from:])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ms)-from {
			t.Fatalf("%d messages, want %d", len(got), len(ms)-from)
		}
		var idx strings.Builder
		for i, m := range ms[from:] {
			want, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[i]) != string(want) {
				t.Fatalf("message %d:\n got %s\nwant %s", from+i, got[i], want)
			}
			if text := m.Text(); text != "" {
				if idx.Len() > 0 {
					idx.WriteByte('\n')
				}
				idx.WriteString(text)
			}
		}
		if text := indexText(ms[from:]); text != idx.String() {
			t.Fatalf("index text from %d = %q, want %q", from, text, idx.String())
		}
	}
	if got, err := encodeMessages(nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("no messages: %v, %v", got, err)
	}
	_, err := encodeMessages([]agent.Message{{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, Input: []byte(`{`)}}}})
	_, wantErr := json.Marshal(agent.Message{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, Input: []byte(`{`)}}})
	if err == nil || err.Error() != wantErr.Error() {
		t.Fatalf("bad input: error %v, want %v", err, wantErr)
	}
}
