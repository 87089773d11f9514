package host

import "sync"

// limiter caps a per-user count (running turns, open streams).
type limiter struct {
	max int

	mu     sync.Mutex // guards counts
	counts map[string]int
}

func newLimiter(max int) *limiter { return &limiter{max: max, counts: map[string]int{}} }

// acquire takes a slot for user; it returns a release func that frees it
// (safe to call more than once), or false when the user is at the cap.
func (l *limiter) acquire(user string) (func(), bool) {
	l.mu.Lock()
	if l.counts[user] >= l.max {
		l.mu.Unlock()
		return nil, false
	}
	l.counts[user]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.counts[user] <= 1 {
				delete(l.counts, user)
			} else {
				l.counts[user]--
			}
			l.mu.Unlock()
		})
	}, true
}
