package session

import "github.com/seshat-host/seshat/actors/agent"

// eventLog keeps the numbered events of one turn for replay. It is bounded:
// past max events the oldest are dropped, and a cursor older than the
// oldest kept event gets a resync. Events are kept in chunks that never
// move, so that a long turn's log grows without copying what it holds.
type eventLog struct {
	turnID string
	// chunks hold the kept events in order; every chunk but the last is
	// full, and the first skip events of the first are dropped ones.
	chunks [][]agent.Event
	skip   int
	// kept counts the kept events.
	kept int
	next uint64
	max  int
	// arena holds the events' payloads (encode).
	arena []byte
}

// Chunk sizes: the first holds a short turn's events (session, deltas,
// done); a long turn's log grows by the larger ones.
const (
	firstEvents = 8
	chunkEvents = 64
)

func (l *eventLog) reset(turnID string) {
	l.turnID = turnID
	l.chunks = nil
	l.skip, l.kept = 0, 0
	l.next = 1
}

// append numbers and encodes ev, keeps it, and returns the kept event.
// Kept events are never modified, moved or written over, so the pointer
// may be shared with every subscriber.
func (l *eventLog) append(ev agent.Event) *agent.Event {
	ev.ID = l.next
	l.next++
	l.encode(&ev)
	if l.kept >= max(l.max, 1) {
		l.dropOldest()
	}
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last]) == cap(l.chunks[last]) {
		size := chunkEvents
		if last < 0 {
			size = firstEvents
		}
		l.chunks = append(l.chunks, make([]agent.Event, 0, min(size, max(l.max, 1))))
		last++
	}
	l.chunks[last] = append(l.chunks[last], ev)
	l.kept++
	return &l.chunks[last][len(l.chunks[last])-1]
}

// dropOldest drops the oldest kept event, and its chunk once all of the
// chunk's events are dropped.
func (l *eventLog) dropOldest() {
	l.skip++
	l.kept--
	if first := l.chunks[0]; l.skip == len(first) && len(first) == cap(first) {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.skip = 0
	}
}

// Sizes of the buffers the log encodes its events into: the first holds
// the payloads of a short turn's events, the next ones those of many
// deltas.
const (
	firstArena = 1024
	eventArena = 2048
)

// encode fills ev.Data, in the log's arena: payloads are appended past
// every earlier one and never written over, so they stay valid wherever
// the events they belong to went.
func (l *eventLog) encode(ev *agent.Event) {
	if need := ev.DataSizeHint(); cap(l.arena)-len(l.arena) < need {
		if need > eventArena/2 {
			ev.Encode()
			return
		}
		size := eventArena
		if l.arena == nil {
			size = firstArena
		}
		l.arena = make([]byte, 0, max(size, need))
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
// events after n were dropped. The events must not be modified: when they
// lie in one chunk, the slice shares the log's array (appends land past
// its end); otherwise it is a copy.
func (l *eventLog) after(n uint64) (events []agent.Event, resync bool) {
	if l.kept == 0 {
		return nil, false
	}
	first := l.chunks[0][l.skip].ID
	i := 0
	if n+1 < first {
		resync = true
	} else {
		i = int(n + 1 - first)
	}
	if i >= l.kept {
		return nil, false
	}
	// Skip i kept events, then take the rest.
	c, off := 0, l.skip+i
	for off >= len(l.chunks[c]) {
		off -= len(l.chunks[c])
		c++
	}
	if c == len(l.chunks)-1 {
		ch := l.chunks[c]
		return ch[off:len(ch):len(ch)], resync
	}
	events = make([]agent.Event, 0, l.kept-i)
	events = append(events, l.chunks[c][off:]...)
	for _, ch := range l.chunks[c+1:] {
		events = append(events, ch...)
	}
	return events, resync
}

// ended reports whether the log holds a turn's last event.
func (l *eventLog) ended() bool {
	if l.kept == 0 {
		return false
	}
	last := l.chunks[len(l.chunks)-1]
	k := last[len(last)-1].Kind
	return k == agent.KindDone || k == agent.KindError
}
