package knowledge

import (
	"encoding/json"
	"sync"

	"github.com/seshat-host/seshat/persist"
)

// Event is one numbered change of a corpus's files, as the corpus's event
// stream carries it.
type Event struct {
	ID   uint64
	Data []byte // JSON of FileEvent
}

// FileEvent is the data of an event: a file's new state.
type FileEvent struct {
	FileID     string               `json:"file_id"`
	Status     string               `json:"status"`
	Stage      string               `json:"stage"`
	ChunkCount int                  `json:"chunk_count"`
	LastError  *persist.IngestError `json:"last_error"`
}

// Feed limits.
const (
	feedKeep      = 1024 // events a corpus keeps for replay
	subscriberCap = 256  // events a subscriber may fall behind by
)

// feed is the numbered event log of one corpus, with its live
// subscribers. It lives as long as the server, across the corpus actor's
// passivation.
type feed struct {
	mu     sync.Mutex
	next   uint64
	log    []Event
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscription follows a corpus's events.
type Subscription struct {
	// Replay holds the events after the cursor still kept.
	Replay []Event
	// Resync is set when events after the cursor were no longer kept.
	Resync bool
	// C carries the later events; it is closed when the subscriber fell
	// behind, the corpus was deleted or the service closed.
	C    <-chan Event
	ch   chan Event
	f    *feed
	once sync.Once
	// gone is set, before C closes, when the corpus was deleted or the
	// service closed (rather than the subscriber falling behind).
	gone bool
	// userID is whose stream it is (see Service.EndUser).
	userID string
	// cut, set before C closes, says why the server ended the stream for
	// its user (their account was disabled).
	cut string
	// release ends the stream's admission, once; nil if none.
	release     func()
	releaseOnce sync.Once
}

// Gone reports, once C is closed, whether it closed because the corpus
// was deleted or the service closed; false means the subscriber fell
// behind (it may re-attach with its last event id).
func (s *Subscription) Gone() bool {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.gone
}

// Cut reports, once C is closed, why the server ended the stream for
// its user ("account disabled"), or "" when it did not.
func (s *Subscription) Cut() string {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.cut
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	s.drop()
	s.f.mu.Unlock()
	if s.release != nil {
		s.releaseOnce.Do(s.release)
	}
}

// drop removes s; the caller holds f.mu.
func (s *Subscription) drop() {
	s.once.Do(func() {
		delete(s.f.subs, s)
		close(s.ch)
	})
}

func (f *feed) publish(ev FileEvent) {
	data, _ := json.Marshal(ev)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.next++
	e := Event{ID: f.next, Data: data}
	f.log = append(f.log, e)
	if len(f.log) > feedKeep {
		f.log = append(f.log[:0:0], f.log[len(f.log)-feedKeep:]...)
	}
	for s := range f.subs {
		select {
		case s.ch <- e:
		default:
			s.drop() // too slow: it re-attaches with Last-Event-ID
		}
	}
}

func (f *feed) subscribe(userID string, after uint64) *Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan Event, subscriberCap)
	s := &Subscription{C: ch, ch: ch, f: f, userID: userID}
	for _, e := range f.log {
		if e.ID > after {
			s.Replay = append(s.Replay, e)
		}
	}
	if len(f.log) > 0 && after+1 < f.log[0].ID && after < f.next {
		s.Resync = true
	}
	if f.closed {
		s.gone = true
		s.drop()
		return s
	}
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		s.gone = true
		s.drop()
	}
}

// endUser ends the user's subscriptions, saying why.
func (f *feed) endUser(userID, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.userID == userID {
			s.cut = why
			s.drop()
		}
	}
}
