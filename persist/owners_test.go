package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// Two stores on one database stand for two nodes: the later claim fences
// the earlier owner's saves, on both sides of the check.
func TestClaimSessionFencesTheStaleOwner(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	a := reopen(t, cfg)
	cfg.Dir = t.TempDir()
	b := reopen(t, cfg)
	u := newUser(t, a)
	ws, err := a.WorkspacesForUser(u.ID)
	require.NoError(t, err)
	sess := newSession(t, a, ws[0].ID, time.Now(), "fenced")

	ea, err := a.ClaimSession(t.Context(), sess.ID)
	require.NoError(t, err)
	sess.Title = "by a"
	require.NoError(t, save(t, a, persist.SessionSave{Session: sess}))

	eb, err := b.ClaimSession(t.Context(), sess.ID)
	require.NoError(t, err)
	require.Greater(t, eb, ea)
	sess.Title = "stale write by a"
	require.ErrorIs(t, save(t, a, persist.SessionSave{Session: sess}), persist.ErrFenced)
	sess.Title = "by b"
	require.NoError(t, save(t, b, persist.SessionSave{Session: sess}))
	got, err := b.Session(sess.ID)
	require.NoError(t, err)
	require.Equal(t, "by b", got.Title)
	stored, err := a.SessionEpoch(sess.ID)
	require.NoError(t, err)
	require.Equal(t, eb, stored)

	// Released, a's saves are no longer fenced: a single node never claims.
	a.ReleaseSession(sess.ID, ea)
	sess.Title = "unfenced"
	require.NoError(t, save(t, a, persist.SessionSave{Session: sess}))
}

// A store that never claims a session saves it as before.
func TestUnclaimedSessionSavesUnfenced(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	ws, err := s.WorkspacesForUser(u.ID)
	require.NoError(t, err)
	sess := newSession(t, s, ws[0].ID, time.Now(), "plain")
	sess.Title = "saved"
	require.NoError(t, save(t, s, persist.SessionSave{Session: sess}))
	e, err := s.ClaimSession(t.Context(), sess.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(1), e)
	require.NoError(t, save(t, s, persist.SessionSave{Session: sess}))
}
