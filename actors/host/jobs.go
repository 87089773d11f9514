package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/jobs"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// ErrForbidden: the caller may see the resource but not make this change
// (a role below the one the operation needs, or a permission_mode of
// accept_all on a job, which only an admin may set). httpapi maps it to
// 403.
var ErrForbidden = agent.ErrForbidden

// errJobsStopped is the error of job requests that need the scheduler
// while it is not running (before StartJobs, after StopJobs).
var errJobsStopped = fmt.Errorf("%w: the scheduler is not running", agent.ErrOverloaded)

// maxJobName caps a job's name, in characters.
const maxJobName = 200

// Bounds of a run listing.
const (
	defaultRunsLimit = 50
	maxRunsLimit     = 1000
)

// JobsConfig tunes the scheduler StartJobs starts.
type JobsConfig struct {
	// Clock drives every schedule. If nil, the system clock.
	Clock jobs.Clock
	// RunHistory is how many runs each job keeps. If zero, 100.
	RunHistory int
	// StartTimeout bounds starting a run's turn. If zero, 30s.
	StartTimeout time.Duration
	// MaxJobsPerUser caps the jobs whose runs are one user's turns; one
	// more is agent.ErrTooManyJobs. If zero, 100.
	MaxJobsPerUser int
	// Runtime, if set, starts and interrupts the runs' turns instead of
	// the host itself: a cluster node, whose sessions may run on other
	// nodes. The host still checks that the job's user may run it.
	Runtime JobRuntime
}

// JobRuntime starts and interrupts the turns of job runs (see
// JobsConfig.Runtime). *Host implements it.
type JobRuntime interface {
	StartTurn(ctx context.Context, userID string, req TurnRequest) (*Turn, error)
	// InterruptSession interrupts a session's running turn for the
	// scheduler, which needs no role of the job's user.
	InterruptSession(ctx context.Context, id string) (bool, error)
}

// RearmJobs arms the enabled jobs the scheduler has no actor for yet
// (made, or armed before it died, by another host sharing the store) and
// returns how many. A cluster node calls it now and then.
func (h *Host) RearmJobs(ctx context.Context) (int, error) {
	n, err := callJobs[int](ctx, h, &jobs.Rearm{})
	if errors.Is(err, errJobsStopped) {
		return 0, nil
	}
	return n, err
}

// InterruptSession implements JobRuntime: it cancels a session's running
// turn without checking who asks, for the host's own work.
func (h *Host) InterruptSession(ctx context.Context, id string) (bool, error) {
	return h.interrupt(ctx, id)
}

// JobSpec creates a job. Name, Schedule and Prompt are required.
type JobSpec struct {
	Name     string
	Schedule string
	// Timezone is an IANA zone name; if empty, UTC.
	Timezone string
	Prompt   string
	// WorkspaceID is the job's workspace; if empty, the session's (when
	// SessionID is set) or else the user's default workspace.
	WorkspaceID string
	// SessionID, if set, makes every run a turn of that session (of the
	// job's workspace); if empty, each run gets a new session.
	SessionID string
	// Model, if set, is the model of the runs; if empty, the session's (a
	// new session gets the server's default).
	Model string
	// PermissionMode of the runs; if empty, deny_all. Runs are unattended:
	// a tool that needs approval is denied, never waits. accept_all is
	// only for server admins and the workspace's admins (ErrForbidden).
	PermissionMode string
	// Enabled, if nil, is true.
	Enabled *bool
}

// JobUpdate changes a job; nil fields stay. An empty SessionID makes each
// run use a new session.
type JobUpdate struct {
	Name           *string
	Schedule       *string
	Timezone       *string
	Prompt         *string
	WorkspaceID    *string
	SessionID      *string
	Model          *string
	PermissionMode *string
	Enabled        *bool
}

// StartJobs starts the scheduler: runs a crash left running are recorded
// as failed, and every enabled job is armed from its next due instant
// after now (runs missed while the server was down are not replayed). It
// returns once every enabled job's actor is started; each arms itself at
// once. Call it once, after New; a second call while it runs is
// agent.ErrConflict. StopJobs stops it.
func (h *Host) StartJobs(ctx context.Context, cfg JobsConfig) error {
	if h.closed.Load() {
		return agent.ErrClosed
	}
	m, err := newJobMetrics(h.cfg.Registerer)
	if err != nil {
		return err
	}
	d := &jobs.Deps{
		System: h.sys,
		Store:  h.cfg.Store,
		Turns:  jobTurns{h: h, rt: cmp.Or[JobRuntime](cfg.Runtime, h)},
		Config: jobs.Config{Clock: cfg.Clock, RunHistory: cfg.RunHistory, StartTimeout: cfg.StartTimeout},
		Logger: h.cfg.Logger.With("component", "jobs"),
		// Run goroutines are awaited with the turn runners at Close.
		Runners:  &h.jobRuns,
		Observer: m,
	}
	if err := jobs.Start(ctx, d, actor.WithGuardian(h.strategy)); err != nil {
		return err
	}
	h.maxJobs.Store(int64(cfg.MaxJobsPerUser))
	h.jobsStarted.Store(true)
	return nil
}

// StopJobs stops the scheduler: every timer is disarmed and runs in
// progress are recorded as failed ("interrupted: the server shut down");
// their turns end when Close passivates their sessions, and Close waits
// for their goroutines. Close must be preceded by StopJobs (or call it
// first). It is a no-op if the scheduler is not running.
func (h *Host) StopJobs(ctx context.Context) error {
	// Stopping a scheduler that never started would only make a dead letter.
	if !h.jobsStarted.CompareAndSwap(true, false) {
		return nil
	}
	return jobs.Stop(ctx, h.sys)
}

// CreateJob creates a job in a workspace of the user and arms it if
// enabled. Invalid fields are agent.ErrInvalid naming the problem.
func (h *Host) CreateJob(ctx context.Context, userID string, spec JobSpec) (persist.Job, error) {
	if h.closed.Load() {
		return persist.Job{}, agent.ErrClosed
	}
	j := persist.Job{
		ID: agent.NewID(agent.PrefixJob), WorkspaceID: spec.WorkspaceID, UserID: userID,
		Name: spec.Name, Schedule: spec.Schedule, Timezone: spec.Timezone, Prompt: spec.Prompt,
		SessionID: spec.SessionID, Model: spec.Model, PermissionMode: spec.PermissionMode,
		Enabled: spec.Enabled == nil || *spec.Enabled,
	}
	if j.WorkspaceID == "" && j.SessionID != "" {
		s, err := h.authorize(userID, j.SessionID, persist.WorkspaceEditor)
		if err != nil {
			return persist.Job{}, err
		}
		j.WorkspaceID = s.WorkspaceID
	}
	if j.WorkspaceID == "" {
		ws, err := h.cfg.Store.DefaultWorkspaceFor(userID)
		if err != nil {
			return persist.Job{}, err
		}
		j.WorkspaceID = ws
	}
	if err := h.checkJob(ctx, userID, &j); err != nil {
		return persist.Job{}, err
	}
	// The cap is counted in the create's own transaction: a burst of
	// concurrent creates cannot pass it together.
	if err := h.cfg.Store.CreateJobCapped(ctx, j, h.jobsCap()); err != nil {
		return persist.Job{}, h.jobsCapErr(err)
	}
	return h.syncJob(ctx, j.ID)
}

// jobsCap is the jobs one user may run as.
func (h *Host) jobsCap() int { return cmp.Or(int(h.maxJobs.Load()), 100) }

// jobsCapErr turns the store's refusal at the jobs cap into the API's.
func (h *Host) jobsCapErr(err error) error {
	if errors.Is(err, persist.ErrTooManyJobs) {
		return fmt.Errorf("%w: at most %d jobs per user", agent.ErrTooManyJobs, h.jobsCap())
	}
	return err
}

// ListJobs lists the jobs of the user's workspaces (or of one of them),
// newest first.
func (h *Host) ListJobs(ctx context.Context, userID, workspaceID string) ([]persist.Job, error) {
	var ids []string
	if workspaceID != "" {
		if err := h.tenancy.Authorize(ctx, userID, workspaceID, persist.WorkspaceViewer); err != nil {
			return nil, err
		}
		ids = []string{workspaceID}
	} else {
		ws, err := h.cfg.Store.WorkspacesForUser(userID)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
	}
	return h.cfg.Store.ListJobs(ids)
}

// GetJob returns a job of one of the user's workspaces.
func (h *Host) GetJob(_ context.Context, userID, id string) (persist.Job, error) {
	return h.authorizeJob(userID, id, persist.WorkspaceViewer)
}

// UpdateJob changes a job and re-arms it at once if its schedule, time
// zone or enabled flag changed. Disabling it disarms it; a run in progress
// goes on. A job whose resulting permission_mode is accept_all may only be
// changed by a server admin or a workspace admin (ErrForbidden).
func (h *Host) UpdateJob(ctx context.Context, userID, id string, u JobUpdate) (persist.Job, error) {
	if h.closed.Load() {
		return persist.Job{}, agent.ErrClosed
	}
	cur, err := h.authorizeJob(userID, id, persist.WorkspaceEditor)
	if err != nil {
		return persist.Job{}, err
	}
	if u.WorkspaceID != nil && *u.WorkspaceID == "" {
		return persist.Job{}, fmt.Errorf("%w: workspace_id must not be empty", agent.ErrInvalid)
	}
	want := cur
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&want.Name, u.Name)
	set(&want.Schedule, u.Schedule)
	set(&want.Timezone, u.Timezone)
	set(&want.Prompt, u.Prompt)
	set(&want.WorkspaceID, u.WorkspaceID)
	set(&want.SessionID, u.SessionID)
	set(&want.Model, u.Model)
	set(&want.PermissionMode, u.PermissionMode)
	if u.Enabled != nil {
		want.Enabled = *u.Enabled
	}
	// A job runs as whoever last set what its runs do (prompt, model,
	// workspace, permission mode); an edit of its name, schedule or
	// enabled flag keeps the user it runs as.
	runAs := cur.UserID
	if u.Prompt != nil || u.Model != nil || u.WorkspaceID != nil || u.PermissionMode != nil || u.SessionID != nil {
		runAs = userID
	}
	want.UserID = runAs
	if err := h.checkJob(ctx, userID, &want); err != nil {
		return persist.Job{}, err
	}
	// A job that comes to run as another user counts against that user's
	// cap, checked in the update's own transaction.
	_, err = h.cfg.Store.UpdateJobCapped(ctx, id, h.jobsCap(), func(j *persist.Job) error {
		j.UserID = runAs
		// Only what the caller set (as checkJob normalised it), so that
		// a concurrent change of other fields is kept.
		pick := func(dst *string, given *string, checked string) {
			if given != nil {
				*dst = checked
			}
		}
		pick(&j.Name, u.Name, want.Name)
		pick(&j.Schedule, u.Schedule, want.Schedule)
		pick(&j.Timezone, u.Timezone, want.Timezone)
		pick(&j.Prompt, u.Prompt, want.Prompt)
		pick(&j.WorkspaceID, u.WorkspaceID, want.WorkspaceID)
		pick(&j.SessionID, u.SessionID, want.SessionID)
		pick(&j.Model, u.Model, want.Model)
		pick(&j.PermissionMode, u.PermissionMode, want.PermissionMode)
		if u.Enabled != nil {
			j.Enabled = *u.Enabled
		}
		return nil
	})
	if errors.Is(err, persist.ErrNotFound) {
		return persist.Job{}, fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
	}
	if err != nil {
		return persist.Job{}, h.jobsCapErr(err)
	}
	return h.syncJob(ctx, id)
}

// DeleteJob deletes a job, its runs and the sessions made for them,
// disarms it and interrupts its run in progress.
func (h *Host) DeleteJob(ctx context.Context, userID, id string) error {
	if _, err := h.authorizeJob(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	sessions, err := h.cfg.Store.RunSessions(id)
	if err != nil {
		return err
	}
	err = h.cfg.Store.DeleteJob(ctx, id)
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	// A job without an actor (never armed, or the scheduler stopped) has
	// nothing to stop.
	if _, err := callJobs[any](ctx, h, &jobs.Remove{JobID: id}); err != nil && !errors.Is(err, errJobsStopped) {
		h.log.Warn("stop the actor of a deleted job", "job_id", id, "err", err)
	}
	// The store deleted the runs' sessions; those still in memory stop
	// (a running turn is interrupted, its streams end).
	for _, sid := range sessions {
		if !h.isLive(sid) {
			continue
		}
		if _, err := ask[session.Done](ctx, h, sid, &session.Delete{}); err != nil && !errors.Is(err, persist.ErrNotFound) && !errors.Is(err, agent.ErrNotFound) {
			h.log.Warn("stop a session of a deleted job", "session_id", sid, "err", err)
		}
	}
	return nil
}

// RunJobNow starts a run of the job outside its schedule (enabled or not)
// and returns its id once it is recorded as running. While a run is in
// progress it is agent.ErrConflict: runs never overlap.
func (h *Host) RunJobNow(ctx context.Context, userID, id string) (string, error) {
	if h.closed.Load() {
		return "", agent.ErrClosed
	}
	if _, err := h.authorizeJob(userID, id, persist.WorkspaceEditor); err != nil {
		return "", err
	}
	runID, err := callJobs[string](ctx, h, &jobs.RunNow{JobID: id})
	if errors.Is(err, errJobsStopped) {
		// A dead letter may also be the actor of a job deleted meanwhile.
		if _, gone := h.authorizeJob(userID, id, persist.WorkspaceEditor); gone != nil {
			return "", gone
		}
	}
	return runID, err
}

// ListRuns returns a job's runs, newest first; limit 0 means 50, and at
// most 1000 are returned.
func (h *Host) ListRuns(_ context.Context, userID, id string, limit int) ([]persist.JobRun, error) {
	if _, err := h.authorizeJob(userID, id, persist.WorkspaceViewer); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultRunsLimit
	}
	return h.cfg.Store.ListRuns(id, min(limit, maxRunsLimit))
}

// authorizeJob returns the job if userID has at least the need role in
// its workspace; another tenant's job is agent.ErrNotFound, never a
// distinct error, and a role below need is agent.ErrForbidden.
func (h *Host) authorizeJob(userID, id, need string) (persist.Job, error) {
	if !agent.ValidID(agent.PrefixJob, id) {
		return persist.Job{}, fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
	}
	j, err := h.cfg.Store.Job(id)
	if errors.Is(err, persist.ErrNotFound) {
		return j, fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
	}
	if err != nil {
		return j, err
	}
	if err := h.tenancy.Authorize(context.Background(), userID, j.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.Job{}, fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
		}
		return persist.Job{}, err
	}
	return j, nil
}

// checkJob validates a job's settings for userID and normalises them
// (trimmed name and schedule, default time zone and permission mode).
func (h *Host) checkJob(ctx context.Context, userID string, j *persist.Job) error {
	j.Name = strings.TrimSpace(j.Name)
	if j.Name == "" {
		return fmt.Errorf("%w: name is required", agent.ErrInvalid)
	}
	if utf8.RuneCountInString(j.Name) > maxJobName {
		return fmt.Errorf("%w: name is longer than %d characters", agent.ErrInvalid, maxJobName)
	}
	j.Schedule = strings.TrimSpace(j.Schedule)
	if j.Timezone == "" {
		j.Timezone = jobs.DefaultTimezone
	}
	if _, err := jobs.ParseSchedule(j.Schedule, j.Timezone); err != nil {
		return err
	}
	if strings.TrimSpace(j.Prompt) == "" {
		return fmt.Errorf("%w: prompt is required", agent.ErrInvalid)
	}
	if err := agent.CheckBytes("prompt", j.Prompt, agent.MaxPromptBytes); err != nil {
		return err
	}
	if err := h.tenancy.Authorize(ctx, userID, j.WorkspaceID, persist.WorkspaceEditor); err != nil {
		return err
	}
	if j.SessionID != "" {
		s, err := h.authorize(userID, j.SessionID, persist.WorkspaceEditor)
		if err != nil {
			return err
		}
		if s.WorkspaceID != j.WorkspaceID {
			return fmt.Errorf("%w: session_id %s is not in the job's workspace %s", agent.ErrInvalid, j.SessionID, j.WorkspaceID)
		}
	}
	if j.Model != "" {
		if err := h.CheckModel(ctx, userID, "", j.Model); err != nil {
			return err
		}
	}
	if j.PermissionMode == "" {
		j.PermissionMode = agent.ModeDenyAll
	}
	if !agent.ValidMode(j.PermissionMode) {
		return fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	if j.PermissionMode == agent.ModeAcceptAll {
		// The rights the runs will use: those of the user they run as,
		// in the job's workspace as it is now.
		return h.mayAcceptAll(cmp.Or(j.UserID, userID), j.WorkspaceID)
	}
	return nil
}

// mayAcceptAll reports whether userID may run unattended turns that
// approve every tool in workspaceID: server admins and the workspace's
// admins may.
func (h *Host) mayAcceptAll(userID, workspaceID string) error {
	u, err := h.cfg.Store.UserByID(userID)
	if err != nil {
		return err
	}
	if u.Role == persist.RoleAdmin {
		return nil
	}
	if role, err := h.cfg.Store.WorkspaceRole(userID, workspaceID); err != nil || persist.RoleAllows(role, persist.WorkspaceAdmin) {
		return err
	}
	return fmt.Errorf("%w: only a server admin or an admin of the workspace may give a job permission_mode accept_all", ErrForbidden)
}

// syncJob tells the scheduler a job changed and returns the job once its
// next fire time is durable. Without a running scheduler the job is
// returned as stored; it is armed when the scheduler starts.
func (h *Host) syncJob(ctx context.Context, id string) (persist.Job, error) {
	if _, err := callJobs[any](ctx, h, &jobs.Sync{JobID: id}); err != nil && !errors.Is(err, errJobsStopped) {
		// The change is stored; the actor re-reads it on its next Sync or
		// at the next start. Failing here would make the client retry a
		// create that succeeded.
		h.log.Warn("re-arm a changed job", "job_id", id, "err", err)
	}
	j, err := h.cfg.Store.Job(id)
	if errors.Is(err, persist.ErrNotFound) {
		return j, fmt.Errorf("%w: job %s", agent.ErrNotFound, id)
	}
	return j, err
}

// callJobs sends msg to the scheduler and returns its reply's value as a
// T (any when the caller needs only the error). A dead letter means the
// scheduler (or the job's actor, while it stops) is not there:
// errJobsStopped.
func callJobs[T any](ctx context.Context, h *Host, msg any) (T, error) {
	var zero T
	pid := actor.NewPID(h.sys.Address(), jobs.SupervisorName)
	res, err := h.sys.Root.RequestFuture(pid, msg, h.timeout(ctx)).Result()
	if errors.Is(err, actor.ErrDeadLetter) {
		return zero, errJobsStopped
	}
	if err != nil {
		return zero, fmt.Errorf("scheduler did not answer: %w", err)
	}
	r, ok := res.(jobs.Reply)
	if !ok {
		return zero, fmt.Errorf("scheduler: unexpected reply %T to %T", res, msg)
	}
	if r.Err != nil {
		return zero, r.Err
	}
	if r.Value == nil {
		return zero, nil
	}
	v, ok := r.Value.(T)
	if !ok {
		return zero, fmt.Errorf("scheduler: unexpected value %T in the reply to %T", r.Value, msg)
	}
	return v, nil
}

// mayRunJob reports why the user a job runs as may no longer run it: a
// disabled or deleted account, or a role below editor in the job's
// workspace. Such a run fails before any model is called.
func (h *Host) mayRunJob(ctx context.Context, userID, workspaceID string) error {
	u, err := h.cfg.Store.UserByID(userID)
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: the job runs as user %s, who no longer exists", ErrForbidden, userID)
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		return fmt.Errorf("%w: the job runs as user %s, whose account is disabled", ErrForbidden, userID)
	}
	if workspaceID == "" {
		return nil
	}
	if err := h.tenancy.Authorize(ctx, userID, workspaceID, persist.WorkspaceEditor); err != nil {
		return fmt.Errorf("%w: the job runs as user %s, who is no longer an editor of workspace %s", ErrForbidden, userID, workspaceID)
	}
	return nil
}

// jobTurns is the host's facade as package jobs sees it.
type jobTurns struct {
	h  *Host
	rt JobRuntime
}

// StartTurn starts an unattended turn: NoAsk denies what would need
// approval instead of opening a request no one would answer.
func (t jobTurns) StartTurn(ctx context.Context, req jobs.TurnRequest) (jobs.Turn, error) {
	if err := t.h.mayRunJob(ctx, req.UserID, req.WorkspaceID); err != nil {
		return jobs.Turn{}, err
	}
	tr, err := t.rt.StartTurn(ctx, req.UserID, TurnRequest{
		SessionID: req.SessionID, WorkspaceID: req.WorkspaceID, Prompt: req.Prompt,
		Options: turn.Options{Model: req.Model, PermissionMode: req.PermissionMode, NoAsk: true},
	})
	if err != nil {
		return jobs.Turn{}, err
	}
	return jobs.Turn{SessionID: tr.SessionID, TurnID: tr.TurnID, Wait: tr.Wait}, nil
}

// Interrupt ends a run's turn: the scheduler's own act, which needs no
// role of the job's user (who may have lost theirs meanwhile).
func (t jobTurns) Interrupt(ctx context.Context, _, sessionID string) (bool, error) {
	return t.rt.InterruptSession(ctx, sessionID)
}

// jobMetrics are the scheduler's Prometheus series; they implement
// jobs.Observer.
type jobMetrics struct {
	active prometheus.Gauge
	runs   *prometheus.CounterVec
	lag    prometheus.Histogram
}

func newJobMetrics(reg prometheus.Registerer) (*jobMetrics, error) {
	m := &jobMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seshat_jobs_active", Help: "Scheduled jobs armed (enabled, with a timer set).",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_job_runs_total", Help: "Recorded job runs by final status (succeeded, failed, skipped).",
		}, []string{"status"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "seshat_job_schedule_lag_seconds", Help: "Time from a scheduled run's due instant to its turn being accepted.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
	}
	for _, s := range []string{persist.RunSucceeded, persist.RunFailed, persist.RunSkipped} {
		m.runs.WithLabelValues(s)
	}
	if reg == nil {
		return m, nil
	}
	// A scheduler started again on the same host (after StopJobs) keeps
	// the series registered the first time.
	register := func(c prometheus.Collector) (prometheus.Collector, error) {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector, nil
		}
		return c, err
	}
	c, err := register(m.active)
	if err != nil {
		return nil, err
	}
	m.active = c.(prometheus.Gauge)
	if c, err = register(m.runs); err != nil {
		return nil, err
	}
	m.runs = c.(*prometheus.CounterVec)
	if c, err = register(m.lag); err != nil {
		return nil, err
	}
	m.lag = c.(prometheus.Histogram)
	return m, nil
}

func (m *jobMetrics) JobArmed()                   { m.active.Inc() }
func (m *jobMetrics) JobDisarmed()                { m.active.Dec() }
func (m *jobMetrics) RunRecorded(status string)   { m.runs.WithLabelValues(status).Inc() }
func (m *jobMetrics) ScheduleLag(d time.Duration) { m.lag.Observe(max(d, 0).Seconds()) }

var (
	_ jobs.Turns    = jobTurns{}
	_ jobs.Observer = (*jobMetrics)(nil)
)
