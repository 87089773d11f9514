package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCredentialCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCredentialCache(2)
	p := Principal{UserID: "usr_a"}
	c.put("tok", p, 1, now.Add(time.Minute))
	got, ok := c.get("tok", 1, now)
	require.True(t, ok)
	require.Equal(t, p, got)
	_, ok = c.get("tok", 2, now)
	require.False(t, ok, "a newer generation drops the entry")
	_, ok = c.get("tok", 1, now)
	require.False(t, ok, "and it is gone")

	c.put("tok", p, 1, now.Add(time.Minute))
	_, ok = c.get("tok", 1, now.Add(time.Minute))
	require.False(t, ok, "a token entry ends at the token's expiry")

	c.put("k1", p, 1, time.Time{})
	c.put("k2", p, 1, time.Time{})
	c.put("k3", p, 1, time.Time{})
	require.LessOrEqual(t, len(c.entries), 2, "the cache is bounded")
	_, ok = c.get("k3", 1, now.Add(1000*time.Hour))
	require.True(t, ok, "API key entries do not expire")

	off := newCredentialCache(-1)
	off.put("tok", p, 1, time.Time{})
	_, ok = off.get("tok", 1, now)
	require.False(t, ok)
}
