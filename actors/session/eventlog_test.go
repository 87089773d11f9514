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
	for n := uint64(0); n <= 402; n++ {
		evs, resync := l.after(n)
		from := max(n+1, 351)
		if resync != (n+1 < 351) || len(evs) != int(max(401, from)-from) {
			t.Fatalf("after(%d) = %d events, resync %v", n, len(evs), resync)
		}
		for i, ev := range evs {
			if ev.ID != from+uint64(i) || string(ev.Data) != all[ev.ID-1].want {
				t.Fatalf("after(%d)[%d] = event %d", n, i, ev.ID)
			}
		}
	}
	if l.ended() {
		t.Fatal("a log whose last event is a delta has ended")
	}
}

// TestEventLogBounds checks the log at its smallest bounds and at the
// edges of its chunks.
func TestEventLogBounds(t *testing.T) {
	for _, limit := range []int{1, 2, 7, 8, 9, 63, 64, 65, 72, 73, 200} {
		l := eventLog{max: limit}
		l.reset("turn_1")
		for i := 1; i <= 300; i++ {
			kind := agent.KindDelta
			if i == 300 {
				kind = agent.KindDone
			}
			l.append(agent.Event{Kind: kind, Delta: "x"})
			oldest := max(1, i-limit+1)
			evs, resync := l.after(0)
			if len(evs) != i-oldest+1 || evs[0].ID != uint64(oldest) || evs[len(evs)-1].ID != uint64(i) || resync != (oldest > 1) {
				t.Fatalf("max %d after %d events: %d kept from %d, resync %v", limit, i, len(evs), evs[0].ID, resync)
			}
			if got, _ := l.after(uint64(i - 1)); len(got) != 1 || got[0].ID != uint64(i) {
				t.Fatalf("max %d: after(%d) = %v", limit, i-1, got)
			}
		}
		if !l.ended() {
			t.Fatalf("max %d: the log does not end with its done event", limit)
		}
	}
}
