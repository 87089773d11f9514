package persist_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func newJob(t testing.TB, s *persist.Store, u persist.User, created time.Time) persist.Job {
	t.Helper()
	j := persist.Job{
		ID: uniq("job"), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID, Name: "nightly",
		Schedule: "@daily", Timezone: "UTC", Prompt: "hi", PermissionMode: "deny_all",
		Enabled: true, CreatedAt: created,
	}
	require.NoError(t, s.CreateJob(t.Context(), j))
	got, err := s.Job(j.ID)
	require.NoError(t, err)
	return got
}

// putRun runs PutRun and waits for its result.
func putRun(t testing.TB, s *persist.Store, save persist.RunSave) error {
	t.Helper()
	ch := make(chan error, 1)
	s.PutRun(save, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("PutRun did not report")
		return nil
	}
}

func runIDs(runs []persist.JobRun) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

func TestJobCRUD(t *testing.T) {
	s := persisttest.Open(t)
	u, other := newUser(t, s), newUser(t, s)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := newJob(t, s, u, t0)
	b := newJob(t, s, u, t0.Add(time.Minute))
	c := newJob(t, s, other, t0.Add(2*time.Minute))
	require.Equal(t, t0, a.CreatedAt)
	require.Equal(t, a.CreatedAt, a.UpdatedAt)

	require.ErrorIs(t, s.CreateJob(t.Context(), a), persist.ErrConflict)
	bad := a
	bad.ID, bad.WorkspaceID = uniq("job"), "ws_missing"
	require.ErrorIs(t, s.CreateJob(t.Context(), bad), persist.ErrNotFound)
	_, err := s.Job("job_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.ListJobs([]string{u.DefaultWorkspaceID})
	require.NoError(t, err)
	require.Equal(t, []string{b.ID, a.ID}, []string{list[0].ID, list[1].ID})
	list, err = s.ListJobs([]string{u.DefaultWorkspaceID, other.DefaultWorkspaceID})
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, c.ID, list[0].ID)
	list, err = s.ListJobs(nil)
	require.NoError(t, err)
	require.NotNil(t, list)
	require.Empty(t, list)

	// Update: settings change, identity stays, a disabled job has no next run.
	next := t0.Add(time.Hour)
	ch := make(chan error, 1)
	s.SetJobNextRun(a.ID, next, func(err error) { ch <- err })
	require.NoError(t, <-ch)
	got, err := s.Job(a.ID)
	require.NoError(t, err)
	require.Equal(t, next, got.NextRunAt)
	up, err := s.UpdateJob(t.Context(), a.ID, func(j *persist.Job) error {
		j.Name, j.Enabled, j.UserID, j.WorkspaceID = "renamed", false, "usr_other", other.DefaultWorkspaceID
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "renamed", up.Name)
	require.Equal(t, "usr_other", up.UserID, "the user the runs are turns of may change")
	require.Equal(t, t0, up.CreatedAt)
	require.True(t, up.UpdatedAt.After(t0))
	require.True(t, up.NextRunAt.IsZero())
	got, err = s.Job(a.ID)
	require.NoError(t, err)
	require.Equal(t, up, got)
	list, err = s.ListJobs([]string{other.DefaultWorkspaceID})
	require.NoError(t, err)
	require.Len(t, list, 2, "the job moved workspaces")
	s.SetJobNextRun(a.ID, next, func(err error) { ch <- err })
	require.NoError(t, <-ch)
	got, err = s.Job(a.ID)
	require.NoError(t, err)
	require.True(t, got.NextRunAt.IsZero(), "a disabled job keeps no next run")

	_, err = s.UpdateJob(t.Context(), a.ID, func(j *persist.Job) error { return fmt.Errorf("nope: %w", persist.ErrInvalid) })
	require.ErrorIs(t, err, persist.ErrInvalid)
	_, err = s.UpdateJob(t.Context(), a.ID, func(j *persist.Job) error { j.WorkspaceID = "ws_missing"; return nil })
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.UpdateJob(t.Context(), "job_missing", func(*persist.Job) error { return nil })
	require.ErrorIs(t, err, persist.ErrNotFound)

	enabled, err := s.ListEnabledJobs()
	require.NoError(t, err)
	require.Equal(t, []string{c.ID, b.ID}, []string{enabled[0].ID, enabled[1].ID})
	require.Len(t, enabled, 2)
}

func TestJobRuns(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	j := newJob(t, s, u, time.Time{})
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

	// A run is written running, then rewritten finished under the same key.
	next := t0.Add(time.Minute)
	r1 := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunRunning, ScheduledAt: t0, StartedAt: t0.Add(time.Second)}
	require.NoError(t, putRun(t, s, persist.RunSave{Run: r1, NextRunAt: &next}))
	got, err := s.Job(j.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunRunning, got.LastStatus)
	require.Equal(t, r1.StartedAt, got.LastRunAt)
	require.Equal(t, next, got.NextRunAt)

	skipped := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunSkipped, StartedAt: t0.Add(2 * time.Second), FinishedAt: t0.Add(2 * time.Second)}
	require.NoError(t, putRun(t, s, persist.RunSave{Run: skipped}))
	got, err = s.Job(j.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunRunning, got.LastStatus, "a skipped run leaves the last status")

	r1.Status, r1.SessionID, r1.TurnID, r1.StopReason, r1.FinishedAt = persist.RunSucceeded, "sess_1", "turn_1", "end_turn", t0.Add(3*time.Second)
	require.NoError(t, putRun(t, s, persist.RunSave{Run: r1}))
	runs, err := s.ListRuns(j.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []string{skipped.ID, r1.ID}, runIDs(runs))
	require.Equal(t, r1, runs[1])
	got, err = s.Job(j.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunSucceeded, got.LastStatus)

	// A run of a missing job is refused; so is one without a start time.
	require.ErrorIs(t, putRun(t, s, persist.RunSave{Run: persist.JobRun{ID: uniq("run"), JobID: "job_missing", StartedAt: t0}}), persist.ErrNotFound)
	require.ErrorIs(t, putRun(t, s, persist.RunSave{Run: persist.JobRun{ID: uniq("run"), JobID: j.ID}}), persist.ErrInvalid)

	// History is bounded: the newest Keep stay, a running run is never dropped.
	running := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunRunning, StartedAt: t0.Add(10 * time.Second)}
	require.NoError(t, putRun(t, s, persist.RunSave{Run: running, Keep: 3}))
	var later []string
	for i := range 5 {
		r := persist.JobRun{ID: uniq("run"), JobID: j.ID, Status: persist.RunSkipped, StartedAt: t0.Add(time.Duration(20+i) * time.Second)}
		require.NoError(t, putRun(t, s, persist.RunSave{Run: r, Keep: 3}))
		later = append([]string{r.ID}, later...)
	}
	runs, err = s.ListRuns(j.ID, 0)
	require.NoError(t, err)
	require.Equal(t, append(later[:3:3], running.ID), runIDs(runs))
	runs, err = s.ListRuns(j.ID, 2)
	require.NoError(t, err)
	require.Equal(t, later[:2], runIDs(runs))

	// A crash left `running` open: start-up records it as failed.
	n, err := s.FailRunningRuns(t.Context(), "interrupted by restart", t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	runs, err = s.ListRuns(j.ID, 0)
	require.NoError(t, err)
	last := runs[len(runs)-1]
	require.Equal(t, running.ID, last.ID)
	require.Equal(t, persist.RunFailed, last.Status)
	require.Equal(t, "interrupted by restart", last.Error)
	require.Equal(t, "interrupted", last.StopReason)
	require.Equal(t, t0.Add(time.Hour), last.FinishedAt)
	got, err = s.Job(j.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunFailed, got.LastStatus)
	n, err = s.FailRunningRuns(t.Context(), "again", t0)
	require.NoError(t, err)
	require.Zero(t, n)

	// Runs of one job never show in another's, even when one id prefixes the other.
	k := newJob(t, s, u, time.Time{})
	k2 := k
	k2.ID = k.ID + "x"
	require.NoError(t, s.CreateJob(t.Context(), k2))
	require.NoError(t, putRun(t, s, persist.RunSave{Run: persist.JobRun{ID: uniq("run"), JobID: k2.ID, Status: persist.RunSkipped, StartedAt: t0}}))
	runs, err = s.ListRuns(k.ID, 0)
	require.NoError(t, err)
	require.Empty(t, runs)

	// Delete takes the runs along.
	require.NoError(t, s.DeleteJob(t.Context(), j.ID))
	require.ErrorIs(t, s.DeleteJob(t.Context(), j.ID), persist.ErrNotFound)
	_, err = s.Job(j.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	runs, err = s.ListRuns(j.ID, 0)
	require.NoError(t, err)
	require.Empty(t, runs)
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		for _, name := range []string{"job_run_keys", "job_runs"} {
			n := 0
			require.NoError(t, tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error { n++; return nil }))
			require.Equal(t, 1, n, name+" keeps only the other job's run")
		}
		return nil
	}))
}

func TestJobsSurviveReopenAndMigrate(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUser(t, s)
	j := newJob(t, s, u, time.Time{})
	require.NoError(t, s.Close())

	s2 := openAt(t, dir)
	got, err := s2.Job(j.ID)
	require.NoError(t, err)
	require.Equal(t, j, got)
	require.NoError(t, s2.Close())

	// A file from before the job buckets (schema 1) gets them at Open.
	dir = t.TempDir()
	s3 := openAt(t, dir)
	require.NoError(t, s3.BoltDB().Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"jobs", "jobs_by_workspace", "job_runs", "job_run_keys", "job_running"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1"))
	}))
	require.NoError(t, s3.Close())
	s4 := openAt(t, dir)
	require.Greater(t, s4.SchemaVersion(), 1)
	u4 := newUser(t, s4)
	newJob(t, s4, u4, time.Time{})
	require.NoError(t, s4.Check())
}
