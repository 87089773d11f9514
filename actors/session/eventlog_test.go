package session

import (
	"strings"
	"testing"

	"github.com/seshat-host/seshat/actors/agent"
)

// TestEventLogPayloads checks that the events the log hands out keep
// their numbers and payloads, equal to Encode's, however many events
// follow them (the log drops its oldest past max and encodes into shared
// buffers).
func TestEventLogPayloads(t *testing.T) {
	l := eventLog{max: 50}
	l.reset("turn_1")
	type kept struct {
		ev   *agent.Event
		want string
	}
	var all []kept
	for i := range 400 {
		ev := agent.Event{Kind: agent.KindDelta, Delta: strings.Repeat("<w>", i%7*(1+i%90))}
		switch i % 50 {
		case 7:
			ev = agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeToolStarted, SessionID: "sess_1", Input: []byte(`{"a": 1}`)}}
		case 13:
			ev = agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeToolStarted, Input: []byte(`{`)}}
		case 21:
			ev = agent.Event{Kind: agent.KindDone, Result: &agent.QueryResult{Content: strings.Repeat("x", 3000)}}
		}
		want := ev
		want.Encode()
		got := l.append(ev)
		if got.ID != uint64(i+1) || string(got.Data) != string(want.Data) || (want.Data == nil) != (got.Data == nil) {
			t.Fatalf("event %d: id %d data %s, want %s", i+1, got.ID, got.Data, want.Data)
		}
		all = append(all, kept{got, string(want.Data)})
	}
	for i, k := range all {
		if k.ev.ID != uint64(i+1) || string(k.ev.Data) != k.want {
			t.Fatalf("event %d changed: id %d data %s, want %s", i+1, k.ev.ID, k.ev.Data, k.want)
		}
	}
	evs, resync := l.after(0)
	if !resync || len(evs) != 50 || evs[0].ID != 351 {
		t.Fatalf("after(0) = %d events from %d, resync %v", len(evs), evs[0].ID, resync)
	}
}
