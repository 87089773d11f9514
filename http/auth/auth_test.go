package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testSecret = bytes.Repeat([]byte("s"), 32)

func newTestService(t testing.TB, clock *fakeClock) *Service {
	t.Helper()
	s, err := New(Config{Secret: testSecret, Store: persisttest.Open(t), BcryptCost: bcrypt.MinCost, Now: clock.Now})
	require.NoError(t, err)
	return s
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{Secret: []byte("short"), Store: persisttest.Open(t)})
	require.ErrorContains(t, err, "at least 32 bytes")
	_, err = New(Config{Secret: testSecret})
	require.ErrorContains(t, err, "Store is required")
}

func TestRegisterAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := newTestService(t, clock)

	g, err := s.Register(ctx, " Ada@Example.COM ", "password1", "Ada", "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", g.User.Email)
	require.Equal(t, clock.Now().Add(24*time.Hour), g.ExpiresAt)

	p, err := s.Authenticate(g.Token)
	require.NoError(t, err)
	require.Equal(t, Principal{UserID: g.User.ID, Email: "ada@example.com", Role: g.User.Role,
		DefaultWorkspaceID: g.User.DefaultWorkspaceID}, p)

	// Within the leeway the token still works; past it, it does not.
	clock.Advance(24*time.Hour + 20*time.Second)
	_, err = s.Authenticate(g.Token)
	require.NoError(t, err)
	clock.Advance(20 * time.Second)
	_, err = s.Authenticate(g.Token)
	require.ErrorIs(t, err, ErrUnauthenticated)
	require.ErrorIs(t, err, jwt.ErrTokenExpired, "the reason is kept for the log")

	for _, tc := range []struct {
		email, password string
		want            string
	}{
		{"ada@example.com", "password2", "email already registered"},
		{"x@example.com", "seven77", "at least 8 characters"},
		{"x@example.com", strings.Repeat("p", 73), "at most 72 bytes"},
		{"no-at-sign", "password1", "valid address"},
		{"Bob <bob@example.com>", "password1", "valid address"},
		{"", "password1", "valid address"},
	} {
		_, err := s.Register(ctx, tc.email, tc.password, "", "10.0.0.1")
		require.ErrorContains(t, err, tc.want, tc.email)
		if strings.Contains(tc.want, "already") {
			require.ErrorIs(t, err, agent.ErrConflict)
		} else {
			require.ErrorIs(t, err, agent.ErrInvalid)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, &fakeClock{t: time.Now()})
	g, err := s.Register(ctx, "keys@example.com", "password1", "", "10.0.0.1")
	require.NoError(t, err)

	k, err := s.CreateAPIKey(ctx, g.User.ID, "  laptop ")
	require.NoError(t, err)
	require.Equal(t, "laptop", k.Name)
	require.Len(t, k.Key, keyLen)
	prefix, ok := splitKey(k.Key)
	require.True(t, ok)
	require.Equal(t, k.Prefix, prefix)
	require.Equal(t, KeyPrefix+k.Prefix, DisplayPrefix(k.APIKey))
	require.NotContains(t, string(k.Hash), k.Key)

	p, err := s.Authenticate(k.Key)
	require.NoError(t, err)
	require.Equal(t, k.ID, p.KeyID)
	require.Equal(t, g.User.ID, p.UserID)

	// Same prefix, different secret.
	forged := k.Key[:len(k.Key)-1] + string(rune('a'+(k.Key[len(k.Key)-1]-'a'+1)%26))
	_, err = s.Authenticate(forged)
	require.ErrorIs(t, err, ErrUnauthenticated)

	_, err = s.CreateAPIKey(ctx, g.User.ID, " ")
	require.ErrorIs(t, err, agent.ErrInvalid)

	require.ErrorIs(t, s.RevokeAPIKey(ctx, "usr_other", k.ID), persist.ErrNotFound, "another user's key is not found")
	require.NoError(t, s.RevokeAPIKey(ctx, g.User.ID, k.ID))
	_, err = s.Authenticate(k.Key)
	require.ErrorIs(t, err, ErrUnauthenticated)
	require.Error(t, s.RevokeAPIKey(ctx, g.User.ID, "../../etc"))
}

func TestNewKeyShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, prefix := newKey()
		require.True(t, strings.HasPrefix(key, KeyPrefix+prefix+"_"), key)
		require.Len(t, key, keyLen)
		got, ok := splitKey(key)
		require.True(t, ok)
		require.Equal(t, prefix, got)
		require.False(t, seen[prefix])
		seen[prefix] = true
	}
	for _, bad := range []string{"", "sk-", "sk-abc_def", "xx-" + strings.Repeat("a", keyLen-3)} {
		_, ok := splitKey(bad)
		require.False(t, ok, bad)
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":      "abc",
		"bearer  abc ":    "abc",
		"BEARER sk-x_y":   "sk-x_y",
		"Bearer":          "",
		"Bearer ":         "",
		"Basic abc":       "",
		"abc":             "",
		"":                "",
		"Bearerabc":       "",
		" Bearer tok.en ": "tok.en",
	} {
		got, ok := BearerToken([]byte(in))
		require.Equal(t, want, got, "%q", in)
		require.Equal(t, want != "", ok, "%q", in)
	}
}

func TestLoginRateLimit(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	store := persisttest.Open(t)
	s, err := New(Config{Secret: testSecret, Store: store, BcryptCost: bcrypt.MinCost, Now: clock.Now,
		LoginFailuresPerEmailAndIP: 3, LoginFailuresPerIP: 5, LoginWindow: time.Minute})
	require.NoError(t, err)
	_, err = s.Register(ctx, "a@example.com", "password1", "", "10.0.0.1")
	require.NoError(t, err)

	for range 3 {
		_, err := s.Login(ctx, "a@example.com", "nope-nope", "10.0.0.1")
		require.ErrorIs(t, err, ErrInvalidLogin)
	}
	_, err = s.Login(ctx, "A@example.com", "password1", "10.0.0.1")
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl, "blocked for that email from that address, whatever the case")
	require.Equal(t, time.Minute, rl.RetryAfter)
	_, err = s.Login(ctx, "a@example.com", "password1", "10.0.0.2")
	require.NoError(t, err, "a stranger's failures elsewhere do not lock the owner out")

	clock.Advance(40 * time.Second)
	_, err = s.Login(ctx, "a@example.com", "password1", "10.0.0.1")
	require.ErrorAs(t, err, &rl)
	require.Equal(t, 20*time.Second, rl.RetryAfter)

	clock.Advance(20 * time.Second)
	_, err = s.Login(ctx, "a@example.com", "password1", "10.0.0.1")
	require.NoError(t, err, "the window is over")

	// Per IP: failures across many emails.
	for i := range 5 {
		_, err := s.Login(ctx, string(rune('b'+i))+"@example.com", "password1", "10.0.0.9")
		require.ErrorIs(t, err, ErrInvalidLogin)
	}
	_, err = s.Login(ctx, "a@example.com", "password1", "10.0.0.9")
	require.ErrorAs(t, err, &rl)
	_, err = s.Login(ctx, "a@example.com", "password1", "10.0.0.3")
	require.NoError(t, err)
}

func TestFailureLimiterIsBounded(t *testing.T) {
	l := newFailureLimiter(1, time.Minute, 10)
	now := time.Now()
	for i := range 1000 {
		l.fail(string(rune(i)), now)
	}
	require.LessOrEqual(t, len(l.windows), 10)

	// Expired windows are pruned on the next failure.
	later := now.Add(2 * time.Minute)
	l.fail("fresh", later)
	require.Len(t, l.windows, 1)
	require.Positive(t, l.blocked("fresh", later))
	l.reset("fresh")
	require.Zero(t, l.blocked("fresh", later))
}

func TestUnknownEmailCostsABcrypt(t *testing.T) {
	// Not a timing assertion: it checks that the unknown-email path really
	// compares against a dummy hash of the configured cost.
	s := newTestService(t, &fakeClock{t: time.Now()})
	cost, err := bcrypt.Cost(s.dummies[bcrypt.MinCost])
	require.NoError(t, err)
	require.Equal(t, bcrypt.MinCost, cost)
	_, err = s.Login(context.Background(), "ghost@example.com", "password1", "10.0.0.1")
	require.True(t, errors.Is(err, ErrInvalidLogin))
	var fail *LoginFailure
	require.ErrorAs(t, err, &fail)
	require.Empty(t, fail.UserID)
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":             "10.0.0.1",
		"::ffff:10.0.0.1":      "10.0.0.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"::1":                  "::/64",
		"not an address":       "not an address",
		"":                     "",
	} {
		require.Equal(t, want, addressKey(in), "%q", in)
	}
}

// TestLimitsCountAnIPv6NetworkAsOneAddress rotates through the addresses
// of one /64: they share its failed logins and its registrations, and
// the next /64 does not.
func TestLimitsCountAnIPv6NetworkAsOneAddress(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	s, err := New(Config{Secret: testSecret, Store: persisttest.Open(t), BcryptCost: bcrypt.MinCost, Now: clock.Now,
		LoginFailuresPerEmailAndIP: 3, LoginFailuresPerIP: 100, RegistrationsPerMinute: 2})
	require.NoError(t, err)
	_, err = s.Register(ctx, "a@example.com", "password1", "", "2001:db8:0:1::1")
	require.NoError(t, err)
	_, err = s.Register(ctx, "b@example.com", "password1", "", "2001:db8:0:1::2")
	require.NoError(t, err)
	var rl *RateLimitError
	_, err = s.Register(ctx, "c@example.com", "password1", "", "2001:db8:0:1::3")
	require.ErrorAs(t, err, &rl, "the third registration from the /64")
	_, err = s.Register(ctx, "c@example.com", "password1", "", "2001:db8:0:2::1")
	require.NoError(t, err, "another /64")

	for i := range 3 {
		_, err := s.Login(ctx, "a@example.com", "nope-nope", fmt.Sprintf("2001:db8:0:1::%x", 100+i))
		require.ErrorIs(t, err, ErrInvalidLogin)
	}
	_, err = s.Login(ctx, "a@example.com", "password1", "2001:db8:0:1::abcd")
	require.ErrorAs(t, err, &rl, "a fresh address in the same /64 is held back too")
	_, err = s.Login(ctx, "a@example.com", "password1", "2001:db8:0:2::1")
	require.NoError(t, err, "the owner elsewhere is not locked out")
}
