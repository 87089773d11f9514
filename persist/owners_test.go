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

// A due instant gets one run however many hosts fire it: the first record
// wins, a second run of the same (or an earlier) due time is ErrRunTaken,
// the winner's later writes and runs on request go through.
func TestDueRunIsRecordedOnce(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	j := newJob(t, s, u, time.Now())
	due := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	first := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunRunning, ScheduledAt: due, StartedAt: due}
	require.NoError(t, putRun(t, s, persist.RunSave{Run: first}))
	second := first
	second.ID = uniq("run")
	require.ErrorIs(t, putRun(t, s, persist.RunSave{Run: second}), persist.ErrRunTaken)
	require.ErrorIs(t, putRun(t, s, persist.RunSave{Run: second}), persist.ErrConflict)
	earlier := second
	earlier.ScheduledAt = due.Add(-time.Minute)
	require.ErrorIs(t, putRun(t, s, persist.RunSave{Run: earlier}), persist.ErrRunTaken)
	first.Status, first.FinishedAt = persist.RunSucceeded, due.Add(time.Second)
	require.NoError(t, putRun(t, s, persist.RunSave{Run: first}))
	next := second
	next.ScheduledAt = due.Add(time.Minute)
	require.NoError(t, putRun(t, s, persist.RunSave{Run: next}))
	now := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunRunning, StartedAt: due}
	require.NoError(t, putRun(t, s, persist.RunSave{Run: now}))
	runs, err := s.ListRuns(j.ID, 10)
	require.NoError(t, err)
	require.Len(t, runs, 3)
}
