package scenario

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
)

// turnEvents is the native stream of a turn of n tokens: session, n
// deltas, done.
func turnEvents(n int) []eventstream.Event {
	evs := []eventstream.Event{{ID: "1", Name: "runtime", Data: []byte(`{"type":"session","session_id":"sess_a","turn_id":"turn_a"}`)}}
	for i := range n {
		evs = append(evs, eventstream.Event{ID: strconv.Itoa(i + 2), Data: []byte(fmt.Sprintf(`{"type":"text_delta","text":"tok%d"}`, i))})
	}
	return append(evs, eventstream.Event{ID: strconv.Itoa(n + 2), Name: "done", Data: []byte(`{"session_id":"sess_a","stop_reason":"end_turn"}`)})
}

func TestStreamCheck(t *testing.T) {
	full := turnEvents(3) // ids 1..5
	pick := func(idx ...int) []eventstream.Event {
		var out []eventstream.Event
		for _, i := range idx {
			out = append(out, full[i])
		}
		return out
	}
	tests := []struct {
		name            string
		events          []eventstream.Event
		want            int64
		lost, dup       int64
		class           string
		done            bool
		sessionID       string
		wantEventsCount int64
	}{
		{name: "complete", events: full, want: 5, done: true, sessionID: "sess_a", wantEventsCount: 5},
		{name: "complete, length unknown", events: full, done: true, sessionID: "sess_a", wantEventsCount: 5},
		{name: "a hole", events: pick(0, 1, 3, 4), want: 5, lost: 1, done: true, sessionID: "sess_a", wantEventsCount: 4},
		{name: "a repeat", events: pick(0, 1, 2, 2, 3, 4), want: 5, dup: 1, done: true, sessionID: "sess_a", wantEventsCount: 6},
		{name: "cut before done", events: pick(0, 1, 2), want: 5, lost: 2, class: "no_done", sessionID: "sess_a", wantEventsCount: 3},
		{name: "nothing", want: 5, lost: 5, class: "no_done"},
		{name: "more than the turn has", events: append(pick(0, 1, 2, 3), eventstream.Event{ID: "5"}, eventstream.Event{ID: "6", Name: "done", Data: full[4].Data}), want: 5, done: true, class: "extra_events", sessionID: "sess_a", wantEventsCount: 6},
		{
			name: "dropped by the server", want: 5, lost: 3, class: "error_event", sessionID: "sess_a", wantEventsCount: 3,
			events: append(pick(0, 1), eventstream.Event{Name: "error", Data: []byte(`{"error":"stream dropped"}`)}),
		},
		{
			name: "the turn failed", want: 0, class: "error_event", wantEventsCount: 2,
			events: []eventstream.Event{full[0], {ID: "2", Name: "error", Data: []byte(`{"error":"provider failed"}`)}}, sessionID: "sess_a",
		},
		{
			name: "interrupted", class: "stop_interrupted", done: true, wantEventsCount: 1,
			events: []eventstream.Event{{ID: "1", Name: "done", Data: []byte(`{"stop_reason":"interrupted"}`)}},
		},
		{name: "bad id", events: []eventstream.Event{{ID: "x"}}, class: "bad_event_id", wantEventsCount: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newStreamCheck(tc.want)
			for _, ev := range tc.events {
				c.event(ev)
			}
			c.finish()
			require.Equal(t, tc.lost, c.lost, "lost")
			require.Equal(t, tc.dup, c.dup, "dup")
			require.Equal(t, tc.class, c.class, "class")
			require.Equal(t, tc.done, c.done, "done")
			require.Equal(t, tc.sessionID, c.sessionID, "session")
			require.Equal(t, tc.wantEventsCount, c.events, "events")
		})
	}
}

func TestStreamCheckAcrossReattach(t *testing.T) {
	full := turnEvents(3)
	c := newStreamCheck(5)
	for _, ev := range full[:2] { // ids 1, 2, then the client drops
		c.event(ev)
	}
	require.EqualValues(t, 3, c.next)
	// The re-attach after id 2 replays from 3; a server that replayed
	// from 2 would count a duplicate.
	c.event(eventstream.Event{ID: "1", Name: "runtime", Data: []byte(`{"type":"resync","session_id":"sess_a"}`)})
	for _, ev := range full[2:] {
		c.event(ev)
	}
	c.finish()
	require.Empty(t, c.class)
	require.Zero(t, c.lost)
	require.EqualValues(t, 1, c.dup)
	require.EqualValues(t, 1, c.resync)
}

// sseHandler writes a turn's events 5ms apart, as the host does.
func sseHandler(events []eventstream.Event) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Seshat-Session-Id", "sess_a")
		fl := w.(http.Flusher)
		_, _ = w.Write(eventstream.AppendComment(nil, "connected"))
		fl.Flush()
		for _, ev := range events {
			time.Sleep(5 * time.Millisecond)
			_, _ = w.Write(eventstream.AppendEvent(nil, ev.ID, ev.Name, ev.Data))
			fl.Flush()
		}
	}
}

func TestReadStream(t *testing.T) {
	srv := httptest.NewServer(sseHandler(turnEvents(4)))
	defer srv.Close()
	cl, err := NewClient(srv.Listener.Addr().String(), 0)
	require.NoError(t, err)

	read := func(stopAfter uint64) (*streamCheck, streamTimes, int) {
		c, err := cl.Dial(t.Context())
		require.NoError(t, err)
		defer c.Close()
		sent := time.Now()
		require.NoError(t, c.Write(cl.Build(Request{Method: http.MethodGet, Path: "/"}), sent.Add(5*time.Second)))
		resp, first, err := c.ReadStream()
		require.NoError(t, err)
		check := newStreamCheck(6)
		var times streamTimes
		firsts := 0
		require.NoError(t, readStream(resp, sent, first, check, stopAfter, &times, func() { firsts++ }))
		return check, times, firsts
	}

	check, times, firsts := read(0)
	check.finish()
	require.Empty(t, check.class)
	require.True(t, check.done)
	require.EqualValues(t, 6, check.events)
	require.Equal(t, "sess_a", check.sessionID)
	require.Equal(t, 1, firsts)
	require.Len(t, times.gaps, 5)
	require.Positive(t, times.ttfb)
	require.GreaterOrEqual(t, times.ttfe, times.ttfb, "the first event comes after the first byte")

	check, _, _ = read(3)
	require.EqualValues(t, 4, check.next, "stopped after id 3")
	require.False(t, check.done)
}

func TestReadStreamStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":"at most 1024 open streams per user","code":"too_many_streams"}`))
	}))
	defer srv.Close()
	cl, err := NewClient(srv.Listener.Addr().String(), 0)
	require.NoError(t, err)
	c, err := cl.Dial(t.Context())
	require.NoError(t, err)
	defer c.Close()
	sent := time.Now()
	require.NoError(t, c.Write(cl.Build(Request{Method: http.MethodGet, Path: "/"}), sent.Add(5*time.Second)))
	resp, first, err := c.ReadStream()
	require.NoError(t, err)
	err = readStream(resp, sent, first, newStreamCheck(0), 0, &streamTimes{}, nil)
	require.Equal(t, "http_429_too_many_streams", Classify(err))
}
