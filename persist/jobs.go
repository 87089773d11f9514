package persist

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Scheduled jobs and their runs. Buckets (created by migrateJobBuckets):
//
//	jobs               jobID -> Job
//	jobs_by_workspace  workspaceID|jobID -> ""
//	jobs_by_user       userID|jobID -> "" (the user the job runs as; migrateJobUserIndex)
//	job_runs           jobID|seq -> JobRun (seq: u64 BE, the bucket's sequence at the run's first write)
//	job_run_keys       runID -> its key in job_runs
//	job_running        jobID -> runID of the run in progress
//
// A job's runs are contiguous in job_runs and in the order they were first
// written, so the newest are a reverse cursor walk from the end of the
// job's range (start times may tie, as under a test clock; sequence
// numbers never do).
// job_run_keys lets a run be rewritten (running, then finished) without
// the caller keeping its key. job_running names, for each job, the run a
// crash may have left running, so that start-up finds them without a scan.
var (
	bucketJobs            = []byte("jobs")
	bucketJobsByWorkspace = []byte("jobs_by_workspace")
	bucketJobsByUser      = []byte("jobs_by_user")
	bucketJobRuns         = []byte("job_runs")
	bucketJobRunKeys      = []byte("job_run_keys")
	bucketJobRunning      = []byte("job_running")
	// bucketJobRunDue holds each job's latest due run: job id → the due
	// instant (big-endian Unix nanoseconds) and the run's id. It is the
	// lock that starts a due run once, however many hosts fire it.
	bucketJobRunDue = []byte("job_run_due")
)

// ErrRunTaken: the run's due instant already has a run (another host
// fired the same due time first). It wraps ErrConflict.
var ErrRunTaken = fmt.Errorf("the due run is recorded already: %w", ErrConflict)

// Statuses of a job run.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunSkipped   = "skipped"
)

// DefaultKeepRuns is how many runs a job keeps when RunSave.Keep is zero.
const DefaultKeepRuns = 100

// Job is a scheduled agent run: a prompt sent on a schedule, as a turn of
// one session or of a new session per run.
type Job struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	// UserID is the user whose turns the runs are (run_as_user_id): the
	// creator, then whoever last set what the runs do.
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	// Schedule is a 5-field cron expression, a descriptor or "@every D".
	Schedule string `json:"schedule"`
	// Timezone is the IANA zone the schedule is read in.
	Timezone string `json:"timezone"`
	Prompt   string `json:"prompt"`
	// SessionID, if set, is the session every run is a turn of; if empty,
	// each run gets a new session.
	SessionID      string `json:"session_id"`
	Model          string `json:"model"`
	PermissionMode string `json:"permission_mode"`
	Enabled        bool   `json:"enabled"`
	// NextRunAt is when the job fires next; zero while it is disabled or
	// not armed.
	NextRunAt time.Time `json:"next_run_at"`
	// LastRunAt and LastStatus describe the last run that started
	// (skipped runs do not count).
	LastRunAt  time.Time `json:"last_run_at"`
	LastStatus string    `json:"last_status"`
	CreatedAt  time.Time `json:"created_at"`
	// UpdatedAt changes with the job's settings, not with its runs.
	UpdatedAt time.Time `json:"updated_at"`
}

// JobRun is one run of a job.
type JobRun struct {
	ID        string `json:"id"`
	JobID     string `json:"job_id"`
	SessionID string `json:"session_id"`
	TurnID    string `json:"turn_id"`
	// Status is RunRunning, RunSucceeded, RunFailed or RunSkipped.
	Status     string `json:"status"`
	StopReason string `json:"stop_reason"`
	Error      string `json:"error"`
	// ScheduledAt is the instant the run was due; zero for a run started
	// on request.
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	// OwnSession says SessionID was made for this run (the job names no
	// session): it is deleted with the run, when the run is pruned or the
	// job deleted.
	OwnSession bool `json:"own_session,omitempty"`
}

// ErrTooManyJobs: a user already runs as many jobs as the cap allows
// (CreateJobCapped, UpdateJobCapped). It wraps ErrConflict.
var ErrTooManyJobs = fmt.Errorf("too many jobs: %w", ErrConflict)

// RunSave is one write of a job run.
type RunSave struct {
	Run JobRun
	// Keep bounds the job's history: beyond the newest Keep runs, older
	// finished runs are deleted in the same transaction. If zero,
	// DefaultKeepRuns.
	Keep int
	// NextRunAt, if not nil, becomes the job's next fire time in the same
	// transaction (ignored while the job is disabled).
	NextRunAt *time.Time
}

// CreateJob stores a new job. ID, WorkspaceID and UserID are required; a
// zero CreatedAt becomes now and a zero UpdatedAt becomes CreatedAt. It
// fails with ErrConflict if the id exists and ErrNotFound if the workspace
// does not.
func (s *Store) CreateJob(ctx context.Context, j Job) error {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now()
	}
	return s.Update(ctx, func(tx *Tx) error { return tx.CreateJob(j) })
}

// CreateJob is Store.CreateJob inside tx.
func (tx *Tx) CreateJob(j Job) error {
	if err := checkID("job id", j.ID); err != nil {
		return err
	}
	if err := checkID("workspace id", j.WorkspaceID); err != nil {
		return err
	}
	if err := checkID("user id", j.UserID); err != nil {
		return err
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now()
	}
	j.CreatedAt = normTime(j.CreatedAt)
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = j.CreatedAt
	}
	j.UpdatedAt = normTime(j.UpdatedAt)
	normJobTimes(&j)
	if tx.bucket(bucketWorkspaces).Get([]byte(j.WorkspaceID)) == nil {
		return fmt.Errorf("persist: workspace %s: %w", j.WorkspaceID, ErrNotFound)
	}
	jobs := tx.bucket(bucketJobs)
	if jobs.Get([]byte(j.ID)) != nil {
		return fmt.Errorf("persist: job %s exists: %w", j.ID, ErrConflict)
	}
	if err := putJSON(jobs, []byte(j.ID), j); err != nil {
		return err
	}
	if err := tx.bucket(bucketJobsByWorkspace).Put(key(j.WorkspaceID, j.ID), nil); err != nil {
		return err
	}
	return tx.bucket(bucketJobsByUser).Put(key(j.UserID, j.ID), nil)
}

// CreateJobCapped is CreateJob that refuses, with ErrTooManyJobs, a job
// whose user already runs as maxPerUser jobs: counted in the same
// transaction as the write, so that concurrent creates cannot pass the
// cap together.
func (s *Store) CreateJobCapped(ctx context.Context, j Job, maxPerUser int) error {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now()
	}
	return s.Update(ctx, func(tx *Tx) error {
		n, err := tx.countJobsOfUser(j.UserID)
		if err != nil {
			return err
		}
		if n >= maxPerUser {
			return fmt.Errorf("persist: user %s runs %d jobs: %w", j.UserID, n, ErrTooManyJobs)
		}
		return tx.CreateJob(j)
	})
}

// UpdateJobCapped is UpdateJob that refuses, with ErrTooManyJobs, a change
// that makes the job run as a user who already runs as maxPerUser jobs
// (counted in the same transaction).
func (s *Store) UpdateJobCapped(ctx context.Context, id string, maxPerUser int, fn func(*Job) error) (Job, error) {
	var out Job
	err := s.Update(ctx, func(tx *Tx) error {
		before, err := tx.job(id)
		if err != nil {
			return err
		}
		if out, err = tx.UpdateJob(id, fn); err != nil {
			return err
		}
		if out.UserID == before.UserID {
			return nil
		}
		n, err := tx.countJobsOfUser(out.UserID)
		if err != nil {
			return err
		}
		if n > maxPerUser { // n counts this job already
			return fmt.Errorf("persist: user %s runs %d jobs: %w", out.UserID, n-1, ErrTooManyJobs)
		}
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	return out, nil
}

// Job returns the job with that id, or ErrNotFound.
func (s *Store) Job(id string) (Job, error) {
	return view(s, (*Tx).job, id)
}

func (tx *Tx) job(id string) (Job, error) {
	return record[Job](tx, bucketJobs, "job", id)
}

// ListJobs returns the jobs of the given workspaces, newest first.
func (s *Store) ListJobs(workspaceIDs []string) ([]Job, error) {
	list := []Job{}
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bucketJobsByWorkspace).Cursor()
		for _, ws := range workspaceIDs {
			prefix := prefixKey(ws)
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				j, err := tx.job(string(k[len(prefix):]))
				if err != nil {
					return err
				}
				list = append(list, j)
			}
		}
		return nil
	})
	sortJobs(list)
	return list, err
}

// ListEnabledJobs returns every enabled job, newest first: what the
// scheduler arms at start-up.
func (s *Store) ListEnabledJobs() ([]Job, error) {
	list := []Job{}
	err := s.View(func(tx *Tx) error {
		jobs := tx.bucket(bucketJobs)
		return jobs.ForEach(func(k, _ []byte) error {
			var j Job
			if _, err := getJSON(jobs, k, &j); err != nil {
				return err
			}
			if j.Enabled {
				list = append(list, j)
			}
			return nil
		})
	})
	sortJobs(list)
	return list, err
}

// CountJobsOfUser counts the jobs whose runs are turns of userID, in
// every workspace.
func (s *Store) CountJobsOfUser(userID string) (int, error) {
	n := 0
	err := s.View(func(tx *Tx) error {
		var err error
		n, err = tx.countJobsOfUser(userID)
		return err
	})
	return n, err
}

func (tx *Tx) countJobsOfUser(userID string) (int, error) {
	n := 0
	prefix := prefixKey(userID)
	c := tx.bucket(bucketJobsByUser).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n, nil
}

func sortJobs(list []Job) {
	slices.SortFunc(list, func(a, b Job) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
}

// UpdateJob applies fn to the stored job and stores the result, in one
// transaction, and returns it. fn gets a fresh copy of the record each
// time it runs (a write may run more than once, see Update), so it must
// only set fields from values it captured. ID and CreatedAt keep their
// stored values whatever fn does; UserID may change (the user the runs are
// turns of) but not to an empty id; UpdatedAt becomes now; a disabled
// job loses its NextRunAt. Moving the job to another workspace requires
// that workspace to exist (ErrNotFound). A missing job is ErrNotFound.
func (s *Store) UpdateJob(ctx context.Context, id string, fn func(*Job) error) (Job, error) {
	var out Job
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.UpdateJob(id, fn)
		return err
	})
	if err != nil {
		return Job{}, err
	}
	return out, nil
}

// UpdateJob is Store.UpdateJob inside tx.
func (tx *Tx) UpdateJob(id string, fn func(*Job) error) (Job, error) {
	stored, err := tx.job(id)
	if err != nil {
		return Job{}, err
	}
	j := stored
	if err := fn(&j); err != nil {
		return Job{}, err
	}
	j.ID, j.CreatedAt = stored.ID, stored.CreatedAt
	if err := checkID("user id", j.UserID); err != nil {
		return Job{}, err
	}
	j.UpdatedAt = now()
	if !j.Enabled {
		j.NextRunAt = time.Time{}
	}
	normJobTimes(&j)
	if j.WorkspaceID != stored.WorkspaceID {
		if err := checkID("workspace id", j.WorkspaceID); err != nil {
			return Job{}, err
		}
		if tx.bucket(bucketWorkspaces).Get([]byte(j.WorkspaceID)) == nil {
			return Job{}, fmt.Errorf("persist: workspace %s: %w", j.WorkspaceID, ErrNotFound)
		}
		byWS := tx.bucket(bucketJobsByWorkspace)
		if err := byWS.Delete(key(stored.WorkspaceID, id)); err != nil {
			return Job{}, err
		}
		if err := byWS.Put(key(j.WorkspaceID, id), nil); err != nil {
			return Job{}, err
		}
	}
	if j.UserID != stored.UserID {
		byUser := tx.bucket(bucketJobsByUser)
		if err := byUser.Delete(key(stored.UserID, id)); err != nil {
			return Job{}, err
		}
		if err := byUser.Put(key(j.UserID, id), nil); err != nil {
			return Job{}, err
		}
	}
	if err := putJSON(tx.bucket(bucketJobs), []byte(id), j); err != nil {
		return Job{}, err
	}
	return j, nil
}

// SetJobNextRun queues a write of the job's next fire time (zero: none)
// and returns at once; done, if not nil, gets the result on the writer
// goroutine, as with UpdateAsync. A disabled job keeps no next fire time;
// a missing one is ErrNotFound.
func (s *Store) SetJobNextRun(id string, next time.Time, done func(error)) {
	s.UpdateAsync(func(tx *Tx) error { return tx.SetJobNextRun(id, next) }, done)
}

// SetJobNextRun is Store.SetJobNextRun inside tx.
func (tx *Tx) SetJobNextRun(id string, next time.Time) error {
	j, err := tx.job(id)
	if err != nil {
		return err
	}
	if !j.Enabled {
		next = time.Time{}
	}
	j.NextRunAt = normTime(next)
	return putJSON(tx.bucket(bucketJobs), []byte(id), j)
}

// DeleteJob removes the job, all its runs and the sessions made for them.
// A missing id is ErrNotFound.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.DeleteJob(id) })
}

// DeleteJob is Store.DeleteJob inside tx.
func (tx *Tx) DeleteJob(id string) error {
	j, err := tx.job(id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketJobs).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.bucket(bucketJobsByWorkspace).Delete(key(j.WorkspaceID, id)); err != nil {
		return err
	}
	if err := tx.bucket(bucketJobsByUser).Delete(key(j.UserID, id)); err != nil {
		return err
	}
	if err := tx.bucket(bucketJobRunning).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.bucket(bucketJobRunDue).Delete([]byte(id)); err != nil {
		return err
	}
	runs, runKeys := tx.bucket(bucketJobRuns), tx.bucket(bucketJobRunKeys)
	prefix := prefixKey(id)
	var keys [][]byte
	c := runs.Cursor()
	var ids []string
	var sessions []string
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var r JobRun
		if _, err := getJSON(runs, k, &r); err != nil {
			return err
		}
		keys, ids = append(keys, bytes.Clone(k)), append(ids, r.ID)
		if r.OwnSession && r.SessionID != "" {
			sessions = append(sessions, r.SessionID)
		}
	}
	for i, k := range keys {
		if err := runKeys.Delete([]byte(ids[i])); err != nil {
			return err
		}
		if err := runs.Delete(k); err != nil {
			return err
		}
	}
	return tx.deleteRunSessions(sessions)
}

// deleteRunSessions deletes the sessions made for job runs that are
// going; one already gone (deleted by its user) is skipped.
func (tx *Tx) deleteRunSessions(ids []string) error {
	for _, id := range ids {
		if err := tx.DeleteSession(id); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// RunSessions returns the sessions made for the job's runs (see
// JobRun.OwnSession) that its record still names.
func (s *Store) RunSessions(jobID string) ([]string, error) {
	runs, err := s.ListRuns(jobID, 0)
	var out []string
	for _, r := range runs {
		if r.OwnSession && r.SessionID != "" {
			out = append(out, r.SessionID)
		}
	}
	return out, err
}

// PutRun queues save as one group-committed write and returns at once;
// done, if not nil, gets the result on the writer goroutine, as with
// UpdateAsync. See Tx.PutRun for what the write does.
func (s *Store) PutRun(save RunSave, done func(error)) {
	s.UpdateAsync(func(tx *Tx) error { return tx.PutRun(save) }, done)
}

// PutRun stores a run, creating it or replacing the stored run with the
// same id, in tx. The job must exist (ErrNotFound), so a run finishing
// after its job was deleted is dropped. In the same transaction it
//
//   - sets the job's LastRunAt and LastStatus, unless the run was skipped
//   - records the run as the job's run in progress while it is RunRunning
//   - sets the job's NextRunAt if save.NextRunAt is not nil
//   - deletes the job's finished runs older than the newest save.Keep,
//     and the sessions made for them (JobRun.OwnSession).
func (tx *Tx) PutRun(save RunSave) error {
	keep := save.Keep
	if keep <= 0 {
		keep = DefaultKeepRuns
	}
	if err := tx.putRun(save.Run, save.NextRunAt); err != nil {
		return err
	}
	return tx.pruneRuns(save.Run.JobID, keep)
}

func (tx *Tx) putRun(r JobRun, next *time.Time) error {
	if err := checkID("run id", r.ID); err != nil {
		return err
	}
	if err := checkID("job id", r.JobID); err != nil {
		return err
	}
	if r.StartedAt.IsZero() {
		return fmt.Errorf("persist: run %s has no start time: %w", r.ID, ErrInvalid)
	}
	r.ScheduledAt, r.StartedAt, r.FinishedAt = normTime(r.ScheduledAt), normTime(r.StartedAt), normTime(r.FinishedAt)
	j, err := tx.job(r.JobID)
	if err != nil {
		return err
	}
	runs, runKeys := tx.bucket(bucketJobRuns), tx.bucket(bucketJobRunKeys)
	runs.SetFillPercent(appendFillPercent)
	k := bytes.Clone(runKeys.Get([]byte(r.ID)))
	if k == nil && !r.ScheduledAt.IsZero() {
		if err := tx.lockDue(r); err != nil {
			return err
		}
	}
	if k == nil {
		seq, err := runs.NextSequence()
		if err != nil {
			return err
		}
		k = append(prefixKey(r.JobID), u64(seq)...)
		if err := runKeys.Put([]byte(r.ID), k); err != nil {
			return err
		}
	}
	if err := putJSON(runs, k, r); err != nil {
		return err
	}
	running := tx.bucket(bucketJobRunning)
	switch {
	case r.Status == RunRunning:
		if err := running.Put([]byte(r.JobID), []byte(r.ID)); err != nil {
			return err
		}
	case bytes.Equal(running.Get([]byte(r.JobID)), []byte(r.ID)):
		if err := running.Delete([]byte(r.JobID)); err != nil {
			return err
		}
	}
	if r.Status != RunSkipped {
		j.LastRunAt, j.LastStatus = r.StartedAt, r.Status
	}
	if next != nil && j.Enabled {
		j.NextRunAt = normTime(*next)
	}
	return putJSON(tx.bucket(bucketJobs), []byte(j.ID), j)
}

// lockDue records r as its job's run of r.ScheduledAt, or fails with
// ErrRunTaken if that due instant (or a later one) has a run already.
func (tx *Tx) lockDue(r JobRun) error {
	due := tx.bucket(bucketJobRunDue)
	if v := due.Get([]byte(r.JobID)); len(v) >= 8 {
		at := int64(binary.BigEndian.Uint64(v))
		if at >= r.ScheduledAt.UnixNano() && string(v[8:]) != r.ID {
			return fmt.Errorf("persist: run %s of job %s due %s: %w", r.ID, r.JobID, r.ScheduledAt.Format(time.RFC3339Nano), ErrRunTaken)
		}
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(r.ScheduledAt.UnixNano()))
	return due.Put([]byte(r.JobID), append(v, r.ID...))
}

// pruneRuns deletes the job's finished runs beyond the newest keep, and
// the sessions made for them. A run still running is never deleted.
func (tx *Tx) pruneRuns(jobID string, keep int) error {
	runs, runKeys := tx.bucket(bucketJobRuns), tx.bucket(bucketJobRunKeys)
	prefix := prefixKey(jobID)
	var drop [][]byte
	var ids, sessions []string
	n := 0
	c := runs.Cursor()
	for k, _ := lastWithPrefix(c, prefix); k != nil; k, _ = prevWithPrefix(c, prefix) {
		n++
		if n <= keep {
			continue
		}
		var r JobRun
		if _, err := getJSON(runs, k, &r); err != nil {
			return err
		}
		if r.Status != RunRunning {
			drop, ids = append(drop, bytes.Clone(k)), append(ids, r.ID)
			if r.OwnSession && r.SessionID != "" {
				sessions = append(sessions, r.SessionID)
			}
		}
	}
	for i, k := range drop {
		if err := runKeys.Delete([]byte(ids[i])); err != nil {
			return err
		}
		if err := runs.Delete(k); err != nil {
			return err
		}
	}
	return tx.deleteRunSessions(sessions)
}

// ListRuns returns the job's runs, newest first, at most limit of them
// (all if limit is not positive). A job without runs, or an unknown one,
// has none.
func (s *Store) ListRuns(jobID string, limit int) ([]JobRun, error) {
	list := []JobRun{}
	err := s.View(func(tx *Tx) error {
		runs := tx.bucket(bucketJobRuns)
		prefix := prefixKey(jobID)
		c := runs.Cursor()
		for k, _ := lastWithPrefix(c, prefix); k != nil; k, _ = prevWithPrefix(c, prefix) {
			if limit > 0 && len(list) >= limit {
				break
			}
			var r JobRun
			if _, err := getJSON(runs, k, &r); err != nil {
				return err
			}
			list = append(list, r)
		}
		return nil
	})
	return list, err
}

// FailRunningRuns records every run left running (by a crash: a clean
// shutdown records its runs itself) as failed with the given error and
// stop reason "interrupted", finished at at, in one transaction. It
// returns how many there were. The scheduler calls it before it arms any
// job.
func (s *Store) FailRunningRuns(ctx context.Context, reason string, at time.Time) (int, error) {
	n := 0
	err := s.Update(ctx, func(tx *Tx) error {
		n = 0
		running := tx.bucket(bucketJobRunning)
		type pair struct{ job, run string }
		var open []pair
		if err := running.ForEach(func(k, v []byte) error {
			open = append(open, pair{string(k), string(v)})
			return nil
		}); err != nil {
			return err
		}
		runs, runKeys := tx.bucket(bucketJobRuns), tx.bucket(bucketJobRunKeys)
		for _, p := range open {
			var r JobRun
			k := runKeys.Get([]byte(p.run))
			ok := false
			if k != nil {
				var err error
				if ok, err = getJSON(runs, k, &r); err != nil {
					return err
				}
			}
			if !ok || r.JobID != p.job {
				// Nothing to fix but the index entry itself.
				if err := running.Delete([]byte(p.job)); err != nil {
					return err
				}
				continue
			}
			r.Status, r.StopReason, r.Error, r.FinishedAt = RunFailed, "interrupted", reason, at
			if err := tx.putRun(r, nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// lastWithPrefix positions c on the last key that starts with prefix (a
// key(...) followed by NUL), or returns nil if there is none.
func lastWithPrefix(c cursor, prefix []byte) ([]byte, []byte) {
	// prefix ends in NUL; every key of the range sorts before the same
	// bytes ending in 0x01.
	end := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
	k, v := c.Seek(end)
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// prevWithPrefix steps c back, returning nil once it leaves prefix.
func prevWithPrefix(c cursor, prefix []byte) ([]byte, []byte) {
	k, v := c.Prev()
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

func normJobTimes(j *Job) {
	j.NextRunAt, j.LastRunAt = normTime(j.NextRunAt), normTime(j.LastRunAt)
}
