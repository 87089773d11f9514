package host

import "sync"

// limiter caps a per-user count (running turns, open streams) and,
// optionally, the total over all users.
type limiter struct {
	max      int
	maxTotal int // zero: no total cap

	mu     sync.Mutex // guards counts and total
	counts map[string]int
	total  int
}

func newLimiter(max, maxTotal int) *limiter {
	return &limiter{max: max, maxTotal: maxTotal, counts: map[string]int{}}
}

// acquire takes a slot for user; it returns a release func that frees it
// (safe to call more than once), or false when the user is at the cap.
func (l *limiter) acquire(user string) (func(), bool) {
	l.mu.Lock()
	if l.counts[user] >= l.max || (l.maxTotal > 0 && l.total >= l.maxTotal) {
		l.mu.Unlock()
		return nil, false
	}
	l.counts[user]++
	l.total++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.total--
			if l.counts[user] <= 1 {
				delete(l.counts, user)
			} else {
				l.counts[user]--
			}
			l.mu.Unlock()
		})
	}, true
}
