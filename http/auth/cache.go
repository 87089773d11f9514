package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// credentialCache remembers verified credentials. Entries are keyed by the
// credential's SHA-256, so the map holds no secret, and are valid only for
// the store auth generation they were read under (see Authenticate).
type credentialCache struct {
	max int // <= 0: the cache is off

	mu      sync.Mutex // guards entries
	entries map[[sha256.Size]byte]cachedCredential
}

type cachedCredential struct {
	p   Principal
	gen uint64
	// expires is the token's expiry; zero for API keys, which do not expire.
	expires time.Time
}

func newCredentialCache(max int) *credentialCache {
	return &credentialCache{max: max, entries: map[[sha256.Size]byte]cachedCredential{}}
}

func (c *credentialCache) get(credential string, gen uint64, now time.Time) (Principal, bool) {
	if c.max <= 0 {
		return Principal{}, false
	}
	k := sha256.Sum256([]byte(credential))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return Principal{}, false
	}
	if e.gen != gen || (!e.expires.IsZero() && !now.Before(e.expires)) {
		delete(c.entries, k)
		return Principal{}, false
	}
	return e.p, true
}

func (c *credentialCache) put(credential string, p Principal, gen uint64, expires time.Time) {
	if c.max <= 0 {
		return
	}
	k := sha256.Sum256([]byte(credential))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop entries of older generations first; if all are current,
		// drop any one (map order is random enough for a bound).
		for ek, e := range c.entries {
			if e.gen != gen {
				delete(c.entries, ek)
			}
		}
		for ek := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, ek)
		}
	}
	c.entries[k] = cachedCredential{p: p, gen: gen, expires: expires}
}
