package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" means refused
	}{
		{"plain", "ada@example.com", "ada@example.com"},
		{"case and space", "  Ada@Example.COM ", "ada@example.com"},
		{"full-width letters are the same address", "ａｄａ@example.com", "ada@example.com"},
		{"full-width at sign", "ada＠example.com", "ada@example.com"},
		{"plus tag", "ada+work@example.com", "ada+work@example.com"},
		{"one script: Cyrillic", "иван@пример.рф", "иван@пример.рф"},
		{"one script: Greek upper case", "ΑΛΦΑ@example.com", "αλφα@example.com"},
		{"Japanese mixes Han and kana", "山田たろう@example.jp", "山田たろう@example.jp"},
		{"accented Latin", "josé@example.com", "josé@example.com"},
		{"digits and dots", "a.1@b2.example.com", "a.1@b2.example.com"},
		{"Punycode domain is its Unicode form", "ada@xn--bcher-kva.de", "ada@bücher.de"},
		{"Unicode domain", "ada@BÜCHER.de", "ada@bücher.de"},
		{"Punycode Cyrillic domain", "ivan@xn--e1afmkfd.xn--p1ai", "ivan@пример.рф"},

		{"zero-width space", "ada\u200b@example.com", ""},
		{"zero-width joiner", "a\u200dda@example.com", ""},
		{"zero-width in the domain", "ada@exa\u200bmple.com", ""},
		{"right-to-left override", "\u202eada@example.com", ""},
		{"left-to-right mark", "ada\u200e@example.com", ""},
		{"byte order mark", "\ufeffada@example.com", ""},
		{"control character", "ada\x07@example.com", ""},
		{"newline", "ada@example.com\nbcc@evil.example", ""},
		{"Cyrillic a among Latin", "\u0430da@example.com", ""},
		{"Cyrillic o in the domain", "ada@ex\u0430mple.com", ""},
		{"Greek omicron among Latin", "b\u03bfb@example.com", ""},
		{"hangul filler", "ada\u3164@example.com", ""},
		{"Cyrillic e hidden in Punycode", "ada@xn--xample-2of.com", ""},
		{"bad Punycode", "ada@xn--zz.com", ""},
		{"empty domain label", "ada@example..com", ""},
		{"leading hyphen label", "ada@-example.com", ""},
		{"display name", "Ada <ada@example.com>", ""},
		{"no at sign", "ada.example.com", ""},
		{"no local part", "@example.com", ""},
		{"address literal", "ada@[127.0.0.1]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeEmail(tc.in)
			if tc.want == "" {
				require.ErrorIs(t, err, agent.ErrInvalid, "got %q", got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			again, err := normalizeEmail(got)
			require.NoError(t, err)
			require.Equal(t, got, again, "normalising is idempotent")
		})
	}
}

// invitations answers HasPendingInvitation from a fixed set: the stand-in
// for the invitation store, which the sign-up policy only reads.
type invitations map[string]bool

func (i invitations) HasPendingInvitation(email string) (bool, error) { return i[email], nil }

func TestSignupPolicy(t *testing.T) {
	ctx := context.Background()
	newService := func(t *testing.T, policy SignupPolicy, inv InvitationLookup) *Service {
		s, err := New(Config{Secret: testSecret, Store: persisttest.Open(t), BcryptCost: bcrypt.MinCost,
			Signup: policy, Invitations: inv})
		require.NoError(t, err)
		return s
	}
	t.Run("open", func(t *testing.T) {
		s := newService(t, SignupOpen, nil)
		first, err := s.Register(ctx, "root@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err)
		require.Equal(t, persist.RoleAdmin, first.User.Role)
		second, err := s.Register(ctx, "b@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err)
		require.Equal(t, persist.RoleMember, second.User.Role)
	})
	t.Run("closed", func(t *testing.T) {
		s := newService(t, SignupClosed, nil)
		first, err := s.Register(ctx, "root@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err, "the first account always registers")
		require.Equal(t, persist.RoleAdmin, first.User.Role)
		_, err = s.Register(ctx, "b@example.com", "password1", "", "10.0.0.1")
		require.ErrorIs(t, err, ErrSignupClosed)
		_, err = s.store.UserByEmail("b@example.com")
		require.ErrorIs(t, err, persist.ErrNotFound, "nothing was created")

		// Admins make the rest, with the role they choose.
		u, err := s.CreateUser(ctx, "Ops@Example.com", "password1", "Ops", persist.RoleAdmin)
		require.NoError(t, err)
		require.Equal(t, "ops@example.com", u.Email)
		require.Equal(t, persist.RoleAdmin, u.Role)
		m, err := s.CreateUser(ctx, "m@example.com", "password1", "", "")
		require.NoError(t, err)
		require.Equal(t, persist.RoleMember, m.Role)
		_, err = s.CreateUser(ctx, "x@example.com", "password1", "", "owner")
		require.ErrorIs(t, err, agent.ErrInvalid)
		_, err = s.CreateUser(ctx, "m@example.com", "password1", "", "")
		require.ErrorIs(t, err, agent.ErrConflict)
		_, err = s.Login(ctx, "m@example.com", "password1", "10.0.0.1")
		require.NoError(t, err)
	})
	t.Run("invite", func(t *testing.T) {
		s := newService(t, SignupInvite, invitations{"guest@example.com": true})
		_, err := s.Register(ctx, "root@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err, "the first account needs no invitation")
		_, err = s.Register(ctx, "stranger@example.com", "password1", "", "10.0.0.1")
		require.ErrorIs(t, err, ErrInvitationRequired)
		_, err = s.Register(ctx, " GUEST@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err, "the lookup gets the normalised email")
	})
	t.Run("invite without an invitation store", func(t *testing.T) {
		s := newService(t, SignupInvite, nil)
		_, err := s.Register(ctx, "root@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err)
		_, err = s.Register(ctx, "guest@example.com", "password1", "", "10.0.0.1")
		require.ErrorIs(t, err, ErrInvitationRequired)
	})
}

func TestRegistrationRateLimit(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	s, err := New(Config{Secret: testSecret, Store: persisttest.Open(t), BcryptCost: bcrypt.MinCost, Now: clock.Now,
		RegistrationsPerMinute: 3})
	require.NoError(t, err)
	for i := range 3 {
		_, err := s.Register(ctx, string(rune('a'+i))+"@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err)
	}
	_, err = s.Register(ctx, "d@example.com", "password1", "", "10.0.0.1")
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, "registrations from your address", rl.What)
	_, err = s.Register(ctx, "d@example.com", "password1", "", "10.0.0.2")
	require.NoError(t, err, "another address is not held back")
	clock.Advance(time.Minute)
	_, err = s.Register(ctx, "e@example.com", "password1", "", "10.0.0.1")
	require.NoError(t, err, "the minute is over")

	off, err := New(Config{Secret: testSecret, Store: persisttest.Open(t), BcryptCost: bcrypt.MinCost, RegistrationsPerMinute: -1})
	require.NoError(t, err)
	for i := range 30 {
		_, err := off.Register(ctx, string(rune('a'+i))+"@example.com", "password1", "", "10.0.0.1")
		require.NoError(t, err)
	}
}

// TestPasswordCheckWorkIsTheSameWhateverTheStoredCost registers accounts
// at bcrypt cost 4, raises the cost to 6, and checks that a wrong
// password for them costs the same bcrypt work as an unknown email and a
// correct password do: 2^6 rounds, made of real comparisons. (Timings are
// measured in BenchmarkLoginWork, never asserted.) A correct login then
// moves the hash to the new cost.
func TestPasswordCheckWorkIsTheSameWhateverTheStoredCost(t *testing.T) {
	ctx := context.Background()
	store := persisttest.Open(t)
	old, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 4})
	require.NoError(t, err)
	g, err := old.Register(ctx, "old@example.com", "password1", "", "10.0.0.1")
	require.NoError(t, err)

	s, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 6})
	require.NoError(t, err)
	u, err := store.UserByID(g.User.ID)
	require.NoError(t, err)

	_, unknown := s.checkPassword(s.dummies[6], "password1")
	wrongMatch, wrong := s.checkPassword(u.PasswordHash, "wrong-password")
	rightMatch, right := s.checkPassword(u.PasswordHash, "password1")
	require.False(t, wrongMatch)
	require.True(t, rightMatch)
	require.Equal(t, uint64(1<<6), unknown)
	require.Equal(t, unknown, wrong, "an old-cost account answers a wrong password with the work of an unknown email")
	require.Equal(t, unknown, right)

	_, err = s.Login(ctx, "old@example.com", "password1", "10.0.0.1")
	require.NoError(t, err)
	u, err = store.UserByID(g.User.ID)
	require.NoError(t, err)
	cost, err := bcrypt.Cost(u.PasswordHash)
	require.NoError(t, err)
	require.Equal(t, 6, cost, "a correct login rehashes at the configured cost")
	_, err = s.Login(ctx, "old@example.com", "password1", "10.0.0.1")
	require.NoError(t, err, "the new hash holds the same password")
}

func TestUpdateMe(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, &fakeClock{t: time.Now()})
	g, err := s.Register(ctx, "me@example.com", "password1", "Me", "10.0.0.1")
	require.NoError(t, err)

	name := "  New Name "
	u, err := s.UpdateMe(ctx, g.User.ID, &name, nil, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "New Name", u.Name)

	_, err = s.UpdateMe(ctx, g.User.ID, nil, &PasswordChange{Current: "not-it-at-all", New: "password2"}, "10.0.0.1")
	require.ErrorIs(t, err, agent.ErrForbidden)
	_, err = s.UpdateMe(ctx, g.User.ID, nil, &PasswordChange{Current: "password1", New: "short"}, "10.0.0.1")
	require.ErrorIs(t, err, agent.ErrInvalid)
	_, err = s.Login(ctx, "me@example.com", "password1", "10.0.0.1")
	require.NoError(t, err, "refused changes change nothing")

	u, err = s.UpdateMe(ctx, g.User.ID, nil, &PasswordChange{Current: "password1", New: "password2"}, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "New Name", u.Name)
	_, err = s.Login(ctx, "me@example.com", "password1", "10.0.0.1")
	require.ErrorIs(t, err, ErrInvalidLogin)
	_, err = s.Login(ctx, "me@example.com", "password2", "10.0.0.1")
	require.NoError(t, err)

	// Wrong current passwords count as failed logins from that address.
	for range 5 {
		_, _ = s.UpdateMe(ctx, g.User.ID, nil, &PasswordChange{Current: "guess-guess", New: "password3"}, "10.0.0.7")
	}
	_, err = s.UpdateMe(ctx, g.User.ID, nil, &PasswordChange{Current: "password2", New: "password3"}, "10.0.0.7")
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
}

// BenchmarkLoginWork times a failed login for an unknown email, and a
// wrong and a right password for an account hashed at a lower cost than
// the configured one (cost 8 stored, 10 configured): the three take the
// same time (docs/perf.md).
func BenchmarkLoginWork(b *testing.B) {
	ctx := context.Background()
	store := persisttest.Open(b)
	old, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 8, RegistrationsPerMinute: -1})
	require.NoError(b, err)
	_, err = old.Register(ctx, "old@example.com", "password1", "", "10.0.0.1")
	require.NoError(b, err)
	s, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 10, LoginFailuresPerEmailAndIP: 1 << 30, LoginFailuresPerIP: 1 << 30})
	require.NoError(b, err)
	u, err := store.UserByEmail("old@example.com")
	require.NoError(b, err)
	for _, bc := range []struct {
		name     string
		hash     []byte
		password string
	}{
		{"unknown email", s.dummies[10], "password1"},
		{"wrong password, cost 8 hash", u.PasswordHash, "password2"},
		{"right password, cost 8 hash", u.PasswordHash, "password1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.checkPassword(bc.hash, bc.password)
			}
		})
	}
}

// TestEveryLoginPathSpendsTheConfiguredCost counts, through the compare
// seam, the bcrypt work of each way a login can go after the cost was
// raised from 4 to 6: an unknown email, a malformed one, a password
// longer than bcrypt takes, a wrong and a right password for an account
// hashed at the old cost, a wrong one at the new cost, a disabled
// account. Each spends 2^6 rounds in real comparisons, so none answers
// faster than another; the right password also rehashes at cost 6.
func TestEveryLoginPathSpendsTheConfiguredCost(t *testing.T) {
	ctx := context.Background()
	store := persisttest.Open(t)
	old, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 4, RegistrationsPerMinute: -1})
	require.NoError(t, err)
	for _, email := range []string{"old@example.com", "old2@example.com", "gone@example.com"} {
		_, err := old.Register(ctx, email, "password1", "", "10.0.0.1")
		require.NoError(t, err)
	}
	gone, err := store.UserByEmail("gone@example.com")
	require.NoError(t, err)
	_, _, err = store.UpdateUser(ctx, gone.ID, func(u *persist.User) error { u.Disabled = true; return nil })
	require.NoError(t, err)

	s, err := New(Config{Secret: testSecret, Store: store, BcryptCost: 6, RegistrationsPerMinute: -1,
		LoginFailuresPerEmailAndIP: 100, LoginFailuresPerIP: 100})
	require.NoError(t, err)
	_, err = s.Register(ctx, "new@example.com", "password1", "", "10.0.0.1")
	require.NoError(t, err)
	var work uint64
	var costs []int
	s.compare = func(hash, password []byte) error {
		c, err := bcrypt.Cost(hash)
		require.NoError(t, err)
		work += 1 << c
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name, email, password string
		ok                    bool
	}{
		{"unknown email", "ghost@example.com", "password1", false},
		{"malformed email", "not an email", "password1", false},
		{"password past bcrypt's 72 bytes", "new@example.com", long, false},
		{"old cost, wrong password", "old@example.com", "wrong-password", false},
		{"new cost, wrong password", "new@example.com", "wrong-password", false},
		{"disabled account, right password", "gone@example.com", "password1", false},
		{"old cost, right password", "old2@example.com", "password1", true},
		{"new cost, right password", "new@example.com", "password1", true},
		{"rehashed, right password", "old2@example.com", "password1", true},
	} {
		work, costs = 0, nil
		_, err := s.Login(ctx, tc.email, tc.password, "10.0.0.7")
		if tc.ok {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, ErrInvalidLogin, tc.name)
		}
		require.Equal(t, uint64(1<<6), work, "%s: compared at costs %v", tc.name, costs)
	}
	u, err := store.UserByEmail("old2@example.com")
	require.NoError(t, err)
	cost, err := bcrypt.Cost(u.PasswordHash)
	require.NoError(t, err)
	require.Equal(t, 6, cost, "the old-cost hash was rehashed at the right login")
}
