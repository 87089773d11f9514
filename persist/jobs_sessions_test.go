package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestJobRunSessionsGoWithTheirRuns: a run's own session is deleted when
// the run is pruned and when its job is deleted; a session a run did not
// make stays.
func TestJobRunSessionsGoWithTheirRuns(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := newJob(t, s, u, t0)
	named := newSession(t, s, u.DefaultWorkspaceID, t0, "named")
	var own []string
	for i := range 4 {
		sess := newSession(t, s, u.DefaultWorkspaceID, t0.Add(time.Duration(i+1)*time.Minute), "run")
		own = append(own, sess.ID)
		require.NoError(t, putRun(t, s, persist.RunSave{Keep: 2, Run: persist.JobRun{
			ID: uniq("run"), JobID: j.ID, SessionID: sess.ID, OwnSession: true, Status: persist.RunSucceeded,
			StartedAt: sess.CreatedAt, FinishedAt: sess.CreatedAt,
		}}))
	}
	require.NoError(t, putRun(t, s, persist.RunSave{Keep: 2, Run: persist.JobRun{
		ID: uniq("run"), JobID: j.ID, SessionID: named.ID, Status: persist.RunSucceeded, StartedAt: t0.Add(time.Hour),
	}}))
	for i, id := range own {
		_, err := s.Session(id)
		if i < 3 {
			require.ErrorIs(t, err, persist.ErrNotFound, "run %d was pruned, its session with it", i)
		} else {
			require.NoError(t, err, "run %d is kept", i)
		}
	}
	require.NoError(t, s.DeleteJob(t.Context(), j.ID))
	_, err := s.Session(own[3])
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.Session(named.ID)
	require.NoError(t, err, "a session the run did not make stays")
	require.NoError(t, s.Check())
}

// TestRunsOfOldStoresLearnTheirOwnSessions: runs stored before
// own_session are marked by the migration when their session is no older
// than the run, and the jobs cap's index covers jobs stored before it.
func TestRunsOfOldStoresLearnTheirOwnSessions(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	u := newUser(t, s)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := newJob(t, s, u, t0)
	older := newSession(t, s, u.DefaultWorkspaceID, t0, "named by the job")
	made := newSession(t, s, u.DefaultWorkspaceID, t0.Add(2*time.Minute), "made by the run")
	runs := []persist.JobRun{
		{ID: uniq("run"), JobID: j.ID, SessionID: older.ID, Status: persist.RunSucceeded, StartedAt: t0.Add(time.Minute)},
		{ID: uniq("run"), JobID: j.ID, SessionID: made.ID, Status: persist.RunSucceeded, StartedAt: t0.Add(2 * time.Minute)},
	}
	for _, r := range runs {
		require.NoError(t, putRun(t, s, persist.RunSave{Run: r}))
	}
	// Schema 14: before the runs' own_session.
	require.NoError(t, s.RollBackToSchema(14))
	require.NoError(t, s.Close())

	s, err = persist.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	got, err := s.ListRuns(j.ID, 0)
	require.NoError(t, err)
	own := map[string]bool{}
	for _, r := range got {
		own[r.SessionID] = r.OwnSession
	}
	require.Equal(t, map[string]bool{older.ID: false, made.ID: true}, own)

	n, err := s.CountJobsOfUser(u.ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.ErrorIs(t, s.CreateJobCapped(t.Context(), persist.Job{ID: uniq("job"), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID,
		Name: "n", Schedule: "@daily", Prompt: "p"}, 1), persist.ErrTooManyJobs)
}
