package host

import (
	"context"
	"errors"
	"sync"

	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
)

// msgAccountDisabled is the `error` event that ends a disabled user's
// streams.
const msgAccountDisabled = "account disabled"

// userWork knows, per user, the sessions where they follow a stream or
// run a turn: what ending a user's work (a disabled account) must reach.
// It is safe for concurrent use.
type userWork struct {
	mu sync.Mutex
	by map[string]map[string]int // user id → session id → holds; guarded by mu
}

// hold records that userID follows or runs something in session id, and
// returns what forgets it (idempotent).
func (w *userWork) hold(userID, id string) func() {
	w.mu.Lock()
	if w.by == nil {
		w.by = map[string]map[string]int{}
	}
	s := w.by[userID]
	if s == nil {
		s = map[string]int{}
		w.by[userID] = s
	}
	s[id]++
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			s := w.by[userID]
			if s[id]--; s[id] <= 0 {
				delete(s, id)
			}
			if len(s) == 0 {
				delete(w.by, userID)
			}
		})
	}
}

// sessionsOf returns the sessions userID holds something in.
func (w *userWork) sessionsOf(userID string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.by[userID]))
	for id := range w.by[userID] {
		out = append(out, id)
	}
	return out
}

// EndUser ends a user's work at once: each of their open streams gets a
// last `error` event ("account disabled") and ends, and their running
// turns (a job's runs among them) are interrupted. The tenancy service
// calls it when an account is disabled, after the flag is stored; a turn
// or stream that starts meanwhile checks the flag once it is registered
// (see endIfDisabled), so none slips between the two.
func (h *Host) EndUser(ctx context.Context, userID string) {
	for _, id := range h.work.sessionsOf(userID) {
		h.endUserIn(ctx, userID, id)
	}
}

func (h *Host) endUserIn(ctx context.Context, userID, id string) {
	_, err := ask[session.Done](ctx, h, id, &session.EndUser{UserID: userID, Reason: msgAccountDisabled})
	if err != nil && !errors.Is(err, persist.ErrNotFound) {
		h.log.Warn("end a disabled user's work in a session", "session_id", id, "user_id", userID, "err", err)
	}
}

// endIfDisabled ends what userID just started in session id (held
// already) if their account was disabled meanwhile, and reports whether
// it did.
func (h *Host) endIfDisabled(ctx context.Context, userID, id string) bool {
	u, err := h.cfg.Store.UserByID(userID)
	if err == nil && !u.Disabled {
		return false
	}
	if err != nil && !errors.Is(err, persist.ErrNotFound) {
		return false // a read error is no reason to cut the stream
	}
	h.endUserIn(ctx, userID, id)
	return true
}
