package session

import "github.com/seshat-host/seshat/actors/agent"

// eventLog keeps the numbered events of one turn for replay. It is bounded:
// past max events the oldest are dropped, and a cursor older than the
// oldest kept event gets a resync.
type eventLog struct {
	turnID string
	events []agent.Event
	next   uint64
	max    int
	// arena holds the events' payloads (encode).
	arena []byte
}

// firstEvents is the room a turn's log starts with: a short turn's events
// (session, deltas, done) without growing it.
const firstEvents = 8

func (l *eventLog) reset(turnID string) {
	l.turnID = turnID
	l.events = make([]agent.Event, 0, min(firstEvents, max(l.max, 1)))
	l.next = 1
}

// append numbers and encodes ev, keeps it, and returns the kept event.
// Kept events are never modified, nor written over (an append past the
// array's end moves the log to a new one), so the pointer may be shared
// with every subscriber.
func (l *eventLog) append(ev agent.Event) *agent.Event {
	ev.ID = l.next
	l.next++
	l.encode(&ev)
	if len(l.events) >= l.max {
		l.events = l.events[1:]
	}
	l.events = append(l.events, ev)
	return &l.events[len(l.events)-1]
}

// eventArena is the size of the buffers the log encodes its events
// into: one allocation for the payloads of a short turn's events.
const eventArena = 2048

// encode fills ev.Data, in the log's arena: payloads are appended past
// every earlier one and never written over, so they stay valid wherever
// the events they belong to went.
func (l *eventLog) encode(ev *agent.Event) {
	if need := ev.DataSizeHint(); cap(l.arena)-len(l.arena) < need {
		if need > eventArena/2 {
			ev.Encode()
			return
		}
		l.arena = make([]byte, 0, eventArena)
	}
	start := len(l.arena)
	out, ok := ev.AppendData(l.arena)
	if !ok {
		ev.Data = nil
		return
	}
	ev.Data = out[start:len(out):len(out)]
	l.arena = out
}

// after returns the kept events with ids greater than n. resync is true when
// events after n were dropped. The slice shares the log's array: kept events
// are never modified, and appends land past the returned length.
func (l *eventLog) after(n uint64) (events []agent.Event, resync bool) {
	if len(l.events) == 0 {
		return nil, false
	}
	first := l.events[0].ID
	if n+1 < first {
		return l.events[:len(l.events):len(l.events)], true
	}
	i := int(n + 1 - first)
	if i >= len(l.events) {
		return nil, false
	}
	return l.events[i:len(l.events):len(l.events)], false
}

// ended reports whether the log holds a turn's last event.
func (l *eventLog) ended() bool {
	if len(l.events) == 0 {
		return false
	}
	k := l.events[len(l.events)-1].Kind
	return k == agent.KindDone || k == agent.KindError
}
