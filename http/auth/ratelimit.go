package auth

import (
	"net/netip"
	"sync"
	"time"
)

// addressKey is the key a client address is counted under: an IPv4
// address (also when IPv4-mapped) as it is, an IPv6 address by its /64,
// the smallest network one subscriber is given, so that rotating through
// the addresses of one's own network does not buy fresh attempts. Any
// other string (no address known) is its own key.
func addressKey(clientIP string) string {
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientIP
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// failureLimiter counts failures per key in fixed windows: a key's window
// opens with its first failure, and once limit failures are in, the key is
// blocked until the window ends. The map is bounded: expired windows are
// pruned at most once a minute on access, and when it is still full an
// arbitrary entry makes room. Under a flood of distinct keys that can
// forget a blocked key early, which is the price of bounded memory; the
// other limiter (email or IP) still holds.
type failureLimiter struct {
	limit   int
	window  time.Duration
	maxKeys int

	mu sync.Mutex
	// Guarded by mu.
	windows   map[string]failureWindow
	lastPrune time.Time
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newFailureLimiter(limit int, window time.Duration, maxKeys int) *failureLimiter {
	return &failureLimiter{limit: limit, window: window, maxKeys: maxKeys, windows: make(map[string]failureWindow)}
}

// blocked returns how long key stays blocked, or 0 if it may try now.
func (l *failureLimiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if !ok {
		return 0
	}
	end := w.start.Add(l.window)
	if !now.Before(end) {
		delete(l.windows, key)
		return 0
	}
	if w.failures < l.limit {
		return 0
	}
	return end.Sub(now)
}

// fail records a failure for key.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	w, ok := l.windows[key]
	if !ok || !now.Before(w.start.Add(l.window)) {
		if !ok && len(l.windows) >= l.maxKeys {
			for k := range l.windows {
				delete(l.windows, k)
				break
			}
		}
		w = failureWindow{start: now}
	}
	w.failures++
	l.windows[key] = w
}

// reset forgets key's failures.
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.windows, key)
}

// pruneLocked drops expired windows, at most once a minute. l.mu must be
// held.
func (l *failureLimiter) pruneLocked(now time.Time) {
	if now.Sub(l.lastPrune) < time.Minute && len(l.windows) < l.maxKeys {
		return
	}
	l.lastPrune = now
	for k, w := range l.windows {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.windows, k)
		}
	}
}
