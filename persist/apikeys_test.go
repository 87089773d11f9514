package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestAPIKeys(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	alice, bob := newUser(t, s), newUser(t, s)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	k2 := persist.APIKey{ID: "key_2", UserID: alice.ID, Name: "second", Prefix: "sk-b", Hash: []byte("h2"), CreatedAt: t0.Add(time.Hour)}
	k1 := persist.APIKey{ID: "key_1", UserID: alice.ID, Name: "first", Prefix: "sk-a", Hash: []byte("h1"), CreatedAt: t0}
	require.NoError(t, s.CreateAPIKey(ctx, k2))
	require.NoError(t, s.CreateAPIKey(ctx, k1))
	require.NoError(t, s.CreateAPIKey(ctx, persist.APIKey{UserID: bob.ID, Prefix: "sk-c"}))

	require.ErrorIs(t, s.CreateAPIKey(ctx, persist.APIKey{UserID: bob.ID, Prefix: "sk-a"}), persist.ErrConflict)
	require.ErrorIs(t, s.CreateAPIKey(ctx, persist.APIKey{ID: "key_1", UserID: bob.ID, Prefix: "sk-z"}), persist.ErrConflict)
	require.ErrorIs(t, s.CreateAPIKey(ctx, persist.APIKey{UserID: "usr_nobody", Prefix: "sk-y"}), persist.ErrNotFound)
	require.ErrorIs(t, s.CreateAPIKey(ctx, persist.APIKey{UserID: bob.ID}), persist.ErrInvalid)

	got, err := s.APIKeyByPrefix("sk-a")
	require.NoError(t, err)
	require.Equal(t, k1, got)
	_, err = s.APIKeyByPrefix("sk-none")
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.ListAPIKeys(alice.ID)
	require.NoError(t, err)
	require.Equal(t, []persist.APIKey{k1, k2}, list, "oldest first")
	list, err = s.ListAPIKeys("usr_nobody")
	require.NoError(t, err)
	require.Empty(t, list)

	require.ErrorIs(t, s.DeleteAPIKey(ctx, bob.ID, "key_1"), persist.ErrNotFound, "another user's key")
	require.ErrorIs(t, s.DeleteAPIKey(ctx, alice.ID, "key_none"), persist.ErrNotFound)
	require.NoError(t, s.DeleteAPIKey(ctx, alice.ID, "key_1"))
	_, err = s.APIKeyByPrefix("sk-a")
	require.ErrorIs(t, err, persist.ErrNotFound)
	list, err = s.ListAPIKeys(alice.ID)
	require.NoError(t, err)
	require.Equal(t, []persist.APIKey{k2}, list)

	// A new key may reuse the freed prefix.
	require.NoError(t, s.CreateAPIKey(ctx, persist.APIKey{UserID: bob.ID, Prefix: "sk-a"}))
}

func TestCreateAPIKeyInTx(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
		return tx.CreateAPIKey(persist.APIKey{UserID: u.ID, Prefix: "sk-tx"})
	}))
	k, err := s.APIKeyByPrefix("sk-tx")
	require.NoError(t, err)
	require.NotEmpty(t, k.ID)
	require.False(t, k.CreatedAt.IsZero())
}

func TestTouchAPIKeyFlushedAtClose(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s := reopen(t, cfg)
	u := newUser(t, s)
	require.NoError(t, s.CreateAPIKey(t.Context(), persist.APIKey{ID: "key_t", UserID: u.ID, Prefix: "sk-t"}))
	before := s.Stats().Writes

	t1 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	s.TouchAPIKey("key_t", t1)
	s.TouchAPIKey("key_t", t1.Add(-time.Minute)) // older: ignored
	s.TouchAPIKey("key_gone", t1)                // unknown keys are skipped at flush
	require.Equal(t, before, s.Stats().Writes, "touching writes nothing")

	k, err := s.APIKeyByPrefix("sk-t")
	require.NoError(t, err)
	require.True(t, t1.Equal(k.LastUsedAt), "pending touches are visible at once")
	list, err := s.ListAPIKeys(u.ID)
	require.NoError(t, err)
	require.True(t, t1.Equal(list[0].LastUsedAt))

	require.NoError(t, s.Close())
	s2 := reopen(t, cfg)
	k, err = s2.APIKeyByPrefix("sk-t")
	require.NoError(t, err)
	require.True(t, t1.Equal(k.LastUsedAt), "touches are flushed at Close")
	require.NoError(t, s2.Check())
}

func TestTouchAPIKeyFlushedPeriodically(t *testing.T) {
	s := openEngine(t, func(c *persist.Config) { c.TouchFlushInterval = 5 * time.Millisecond })
	u := newUser(t, s)
	require.NoError(t, s.CreateAPIKey(t.Context(), persist.APIKey{ID: "key_p", UserID: u.ID, Prefix: "sk-p"}))
	before := s.Stats().Writes
	s.TouchAPIKey("key_p", time.Now())
	require.Eventually(t, func() bool { return s.Stats().Writes > before }, 10*time.Second, time.Millisecond)
	require.NoError(t, s.Check())
}

func TestAuthGenerationChangesWithUsersAndKeys(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, persist.User{ID: "usr_gen", Email: "gen@example.com"}, persist.Workspace{ID: "ws_gen", Name: "p"})
	require.NoError(t, err)
	g0 := s.AuthGeneration()
	require.NoError(t, s.CreateAPIKey(ctx, persist.APIKey{ID: "key_gen", UserID: u.ID, Name: "k", Prefix: "genprefix0001", Hash: []byte{1}}))
	g1 := s.AuthGeneration()
	require.NotEqual(t, g0, g1, "a key write changes the generation")
	// A write that touches neither users nor keys leaves it.
	require.NoError(t, s.Update(ctx, func(*persist.Tx) error { return nil }))
	require.Equal(t, g1, s.AuthGeneration())
	require.NoError(t, s.DeleteAPIKey(ctx, u.ID, "key_gen"))
	require.NotEqual(t, g1, s.AuthGeneration(), "a revocation changes the generation")
}
