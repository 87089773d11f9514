package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// Event names of the native stream (API.md, Streaming).
const (
	eventRuntime = "runtime"
	eventDone    = "done"
	eventError   = "error"
)

// streamCheck follows the ids of one turn's events, across one or more
// connections (a re-attach continues the check), and counts what is
// missing or repeated. The turn's events are numbered from 1 without
// holes and end with `done`; want is how many there are, when known.
type streamCheck struct {
	want int64
	// next is the id expected next.
	next uint64
	// lost counts ids skipped; dup counts ids received again.
	lost, dup int64
	// events counts the events received; resync the resync notices.
	events, resync int64
	done           bool
	sessionID      string
	// class is the first problem seen, "" for none.
	class string
	// errMsg is the message of an `error` event, if one came.
	errMsg string
}

func newStreamCheck(want int64) *streamCheck { return &streamCheck{want: want, next: 1} }

func (s *streamCheck) fail(class string) {
	if s.class == "" {
		s.class = class
	}
}

// event checks one event.
func (s *streamCheck) event(ev eventstream.Event) {
	s.events++
	if ev.Name == eventError && ev.ID == "" {
		// The server ends a stream it cannot continue with an unnumbered
		// error event (client too slow, shutting down).
		var e apitype.StreamError
		_ = json.Unmarshal(ev.Data, &e)
		s.errMsg = e.Error
		s.fail("error_event")
		return
	}
	id, err := strconv.ParseUint(ev.ID, 10, 64)
	if err != nil {
		s.fail("bad_event_id")
		return
	}
	switch {
	case id == s.next:
		s.next++
	case id < s.next:
		s.dup++
	default:
		s.lost += int64(id - s.next)
		s.next = id + 1
	}
	switch ev.Name {
	case eventRuntime:
		var re apitype.RuntimeEvent
		if err := json.Unmarshal(ev.Data, &re); err != nil {
			s.fail("bad_event_data")
			return
		}
		if re.SessionID != "" {
			s.sessionID = re.SessionID
		}
		if re.Type == "resync" {
			s.resync++
		}
	case eventDone:
		var qr apitype.QueryResponse
		if err := json.Unmarshal(ev.Data, &qr); err != nil {
			s.fail("bad_event_data")
			return
		}
		s.done = true
		if qr.StopReason != "end_turn" {
			s.fail("stop_" + qr.StopReason)
		}
	case eventError:
		var e apitype.StreamError
		_ = json.Unmarshal(ev.Data, &e)
		s.errMsg = e.Error
		s.fail("error_event")
	}
}

// finish closes the check at the end of the turn's last stream: a turn
// that did not reach `done` lost its remaining events.
func (s *streamCheck) finish() {
	if !s.done {
		s.fail("no_done")
	}
	if s.want > 0 {
		if got := int64(s.next) - 1; got < s.want {
			s.lost += s.want - got
		} else if got > s.want {
			s.fail("extra_events")
		}
	}
}

// streamTimes are the timings of one stream connection.
type streamTimes struct {
	// ttfb is from the request's write to the response's first byte;
	// ttfe to its first event.
	ttfb, ttfe time.Duration
	// gaps are the times between consecutive events.
	gaps []time.Duration
}

// readStream reads a native SSE response to its end (or, when stopAfter
// is non-zero, until the event with that id), feeding check. sent is when
// the request was written and first when the response's first byte came;
// onFirst, if not nil, is called at the first event. It returns the
// connection-level error, if any.
func readStream(resp *http.Response, sent, first time.Time, check *streamCheck, stopAfter uint64, times *streamTimes, onFirst func()) error {
	times.ttfb = first.Sub(sent)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return statusError(resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		return fmt.Errorf("%w: content type %q", errBadAnswer, ct)
	}
	if sid := resp.Header.Get("X-Seshat-Session-Id"); sid != "" && check.sessionID == "" {
		check.sessionID = sid
	}
	dec := eventstream.NewDecoder(resp.Body, 0)
	var last time.Time
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		now := time.Now()
		if last.IsZero() {
			times.ttfe = now.Sub(sent)
			if onFirst != nil {
				onFirst()
			}
		} else {
			times.gaps = append(times.gaps, now.Sub(last))
		}
		last = now
		check.event(ev)
		if stopAfter > 0 && check.next > stopAfter {
			return nil
		}
	}
}
