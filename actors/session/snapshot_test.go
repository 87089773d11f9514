package session

import (
	"encoding/json"
	"strings"
	"testing"

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
