package host

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/jobs"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// manualClock is a jobs.Clock moved by hand: timers fire, on the calling
// goroutine, when Advance or Set passes their instant.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c    *manualClock
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func newManualClock(t time.Time) *manualClock { return &manualClock{now: t} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) jobs.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Set moves the clock to at and fires the timers due by then, in order.
func (c *manualClock) Set(at time.Time) {
	c.mu.Lock()
	c.now = at
	var due []*manualTimer
	live := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.at.After(at):
			t.done = true
			due = append(due, t)
		default:
			live = append(live, t)
		}
	}
	c.timers = live
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

func (c *manualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Pending returns the instants of the timers not yet fired or stopped.
func (c *manualClock) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		if !t.done {
			out = append(out, t.at)
		}
	}
	return out
}

// jobLeakCheck registers a goroutine check that runs after every other
// cleanup. It first gives short-lived goroutines time to end: protoactor
// keeps one for a second after a dead letter (its log throttle), and a
// session passivated under a running turn (a shutdown) makes one.
func jobLeakCheck(t *testing.T) {
	t.Cleanup(func() {
		for deadline := time.Now().Add(5 * time.Second); goleak.Find(goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")) != nil && time.Now().Before(deadline); {
			<-time.After(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
}

// jobHost is a host with its scheduler started, for the job tests.
type jobHost struct {
	h     *Host
	store *persist.Store
	uid   string
	reg   *prometheus.Registry
}

// newJobHost starts a host over store with the scheduler on clock (nil:
// the system clock). Cleanup stops the scheduler, then closes the host.
func newJobHost(t *testing.T, store *persist.Store, clock jobs.Clock) *jobHost {
	t.Helper()
	providers := provider.NewRegistry()
	providers.Register("mock", provider.NewMock())
	reg := prometheus.NewRegistry()
	h, err := New(Config{Store: store, Providers: providers, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, h.StartJobs(t.Context(), JobsConfig{Clock: clock}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.StopJobs(ctx))
		require.NoError(t, h.Close(ctx))
	})
	return &jobHost{h: h, store: store, reg: reg}
}

func (jh *jobHost) withUser(t *testing.T, email string) *jobHost {
	t.Helper()
	u, err := jh.store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: email},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	out := *jh
	out.uid = u.ID
	return &out
}

func (jh *jobHost) create(t *testing.T, spec JobSpec) persist.Job {
	t.Helper()
	j, err := jh.h.CreateJob(t.Context(), jh.uid, spec)
	require.NoError(t, err)
	return j
}

func (jh *jobHost) runs(t *testing.T, jobID string) []persist.JobRun {
	t.Helper()
	runs, err := jh.h.ListRuns(t.Context(), jh.uid, jobID, 0)
	require.NoError(t, err)
	return runs
}

// waitRuns waits until the job's runs (newest first) satisfy ok.
func (jh *jobHost) waitRuns(t *testing.T, jobID string, ok func([]persist.JobRun) bool) []persist.JobRun {
	t.Helper()
	var runs []persist.JobRun
	require.Eventually(t, func() bool {
		runs = jh.runs(t, jobID)
		return ok(runs)
	}, 15*time.Second, 5*time.Millisecond, "runs: %+v", &runs)
	return runs
}

func statuses(runs []persist.JobRun) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Status
	}
	return out
}

func countStatus(runs []persist.JobRun, status string) int {
	n := 0
	for _, r := range runs {
		if r.Status == status {
			n++
		}
	}
	return n
}

// replyOf returns the text of the last assistant message of a session.
func (jh *jobHost) replyOf(t *testing.T, sessionID string) string {
	t.Helper()
	v, err := jh.h.GetSession(t.Context(), jh.uid, sessionID)
	require.NoError(t, err)
	for i := len(v.Messages) - 1; i >= 0; i-- {
		if m := v.Messages[i]; m.Role == agent.RoleAssistant && len(m.Content) > 0 {
			return m.Content[0].Text
		}
	}
	return ""
}

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func TestJobEverySecondRealClock(t *testing.T) {
	jobLeakCheck(t)
	jh := newJobHost(t, persisttest.Open(t), nil).withUser(t, "a@example.com")
	j := jh.create(t, JobSpec{Name: "ticker", Schedule: "@every 1s", Prompt: "scheduled hello"})
	require.True(t, j.Enabled)
	require.Equal(t, "UTC", j.Timezone)
	require.Equal(t, agent.ModeDenyAll, j.PermissionMode)
	require.False(t, j.NextRunAt.IsZero(), "next_run_at is durable when CreateJob returns")

	runs := jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return countStatus(r, persist.RunSucceeded) >= 2 })
	sessions := map[string]bool{}
	for _, r := range runs {
		if r.Status != persist.RunSucceeded {
			continue
		}
		require.Equal(t, "end_turn", r.StopReason)
		require.NotEmpty(t, r.TurnID)
		require.False(t, r.ScheduledAt.IsZero())
		require.False(t, r.FinishedAt.Before(r.StartedAt))
		require.Equal(t, "echo: scheduled hello", jh.replyOf(t, r.SessionID))
		sessions[r.SessionID] = true
	}
	require.GreaterOrEqual(t, len(sessions), 2, "each run has a new session")

	got, err := jh.h.GetJob(t.Context(), jh.uid, j.ID)
	require.NoError(t, err)
	require.False(t, got.LastRunAt.IsZero())
	require.Contains(t, []string{persist.RunSucceeded, persist.RunRunning}, got.LastStatus)
	require.True(t, got.NextRunAt.After(got.LastRunAt))
	require.Equal(t, 1.0, gaugeValue(t, jh.reg, "seshat_jobs_active"))
}

func TestJobScheduleErrors(t *testing.T) {
	jh := newJobHost(t, persisttest.Open(t), newManualClock(t0)).withUser(t, "a@example.com")
	for _, tc := range []struct {
		name, schedule, tz, want string
	}{
		{"empty", "", "", "schedule is required"},
		{"fields", "*/5 * *", "", `schedule "*/5 * *" is not a 5-field cron expression, a descriptor or @every DURATION: expected exactly 5 fields, found 3`},
		{"range", "61 * * * *", "", "end of range (61) above maximum (59)"},
		{"seconds field", "0 */5 * * * *", "", "expected exactly 5 fields, found 6"},
		{"descriptor", "@weekdays", "", "unrecognized descriptor: @weekdays"},
		{"every short", "@every 500ms", "", `schedule "@every 500ms": the interval must be at least 1s`},
		{"every bad", "@every soon", "", `invalid duration "soon"`},
		{"never", "0 0 30 2 *", "", `schedule "0 0 30 2 *" never fires`},
		{"tz prefix", "CRON_TZ=Europe/Paris 0 9 * * *", "", "give the zone in the timezone field"},
		{"bad zone", "@daily", "Mars/Olympus_Mons", `timezone "Mars/Olympus_Mons" is not a known IANA zone name`},
		{"local zone", "@daily", "Local", `timezone "Local" is not an IANA zone name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jh.h.CreateJob(t.Context(), jh.uid, JobSpec{Name: "x", Schedule: tc.schedule, Timezone: tc.tz, Prompt: "p"})
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		spec JobSpec
		want string
	}{
		{"no name", JobSpec{Schedule: "@daily", Prompt: "p"}, "name is required"},
		{"no prompt", JobSpec{Name: "x", Schedule: "@daily", Prompt: "  "}, "prompt is required"},
		{"mode", JobSpec{Name: "x", Schedule: "@daily", Prompt: "p", PermissionMode: "yolo"}, "permission_mode must be one of"},
		{"model", JobSpec{Name: "x", Schedule: "@daily", Prompt: "p", Model: "nope"}, "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jh.h.CreateJob(t.Context(), jh.uid, tc.spec)
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	list, err := jh.h.ListJobs(t.Context(), jh.uid, "")
	require.NoError(t, err)
	require.Empty(t, list)
	// A valid zone and descriptor pass.
	j := jh.create(t, JobSpec{Name: "x", Schedule: " @weekly ", Timezone: "America/New_York", Prompt: "p"})
	require.Equal(t, "@weekly", j.Schedule)
	require.Equal(t, time.Date(2026, 1, 11, 5, 0, 0, 0, time.UTC), j.NextRunAt, "Sunday midnight in New York")
}

func TestJobTenancyAndSessions(t *testing.T) {
	jobLeakCheck(t)
	base := newJobHost(t, persisttest.Open(t), newManualClock(t0))
	admin := base.withUser(t, "admin@example.com") // the first user is the admin
	member := base.withUser(t, "member@example.com")

	j := admin.create(t, JobSpec{Name: "mine", Schedule: "@hourly", Prompt: "p", PermissionMode: agent.ModeAcceptAll})
	require.Equal(t, agent.ModeAcceptAll, j.PermissionMode)
	// Another tenant sees nothing: every call is not found.
	_, err := member.h.GetJob(t.Context(), member.uid, j.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = member.h.UpdateJob(t.Context(), member.uid, j.ID, JobUpdate{Name: new("x")})
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.ErrorIs(t, member.h.DeleteJob(t.Context(), member.uid, j.ID), agent.ErrNotFound)
	_, err = member.h.RunJobNow(t.Context(), member.uid, j.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = member.h.ListRuns(t.Context(), member.uid, j.ID, 0)
	require.ErrorIs(t, err, agent.ErrNotFound)
	list, err := member.h.ListJobs(t.Context(), member.uid, "")
	require.NoError(t, err)
	require.Empty(t, list)
	adminUser, err := base.store.UserByID(admin.uid)
	require.NoError(t, err)
	_, err = member.h.ListJobs(t.Context(), member.uid, adminUser.DefaultWorkspaceID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = member.h.CreateJob(t.Context(), member.uid, JobSpec{Name: "x", Schedule: "@daily", Prompt: "p", WorkspaceID: adminUser.DefaultWorkspaceID})
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = member.h.GetJob(t.Context(), member.uid, "sess_notajob")
	require.ErrorIs(t, err, agent.ErrNotFound)

	// A member owns their personal workspace, so accept_all is theirs to set.
	mj := member.create(t, JobSpec{Name: "theirs", Schedule: "@hourly", Prompt: "p", PermissionMode: agent.ModeAcceptAll})
	require.NoError(t, member.h.mayAcceptAll(member.uid, mj.WorkspaceID))
	require.ErrorIs(t, member.h.mayAcceptAll(member.uid, adminUser.DefaultWorkspaceID), ErrForbidden)

	// A job bound to a session: the session must be the user's, in the job's workspace.
	sess, err := admin.h.CreateSession(t.Context(), admin.uid, SessionOptions{Title: "reports"})
	require.NoError(t, err)
	_, err = member.h.CreateJob(t.Context(), member.uid, JobSpec{Name: "x", Schedule: "@daily", Prompt: "p", SessionID: sess.ID})
	require.ErrorIs(t, err, agent.ErrNotFound)
	memberUser, err := base.store.UserByID(member.uid)
	require.NoError(t, err)
	sj := admin.create(t, JobSpec{Name: "in session", Schedule: "@hourly", Prompt: "report please", SessionID: sess.ID})
	require.Equal(t, sess.WorkspaceID, sj.WorkspaceID)
	_, err = admin.h.UpdateJob(t.Context(), admin.uid, sj.ID, JobUpdate{WorkspaceID: &memberUser.DefaultWorkspaceID})
	require.ErrorIs(t, err, agent.ErrNotFound, "not a member of the target workspace")

	runID, err := admin.h.RunJobNow(t.Context(), admin.uid, sj.ID)
	require.NoError(t, err)
	require.True(t, agent.ValidID(agent.PrefixRun, runID))
	runs := admin.waitRuns(t, sj.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].Status == persist.RunSucceeded })
	require.Equal(t, runID, runs[0].ID)
	require.Equal(t, sess.ID, runs[0].SessionID)
	require.True(t, runs[0].ScheduledAt.IsZero(), "a run on request was not due")
	require.Equal(t, "echo: report please", admin.replyOf(t, sess.ID))

	// Clearing the session makes each run use a new one.
	up, err := admin.h.UpdateJob(t.Context(), admin.uid, sj.ID, JobUpdate{SessionID: new("")})
	require.NoError(t, err)
	require.Empty(t, up.SessionID)
}

func TestJobOverlapSkipsAndRunNow(t *testing.T) {
	jobLeakCheck(t)
	clock := newManualClock(t0)
	jh := newJobHost(t, persisttest.Open(t), clock).withUser(t, "a@example.com")
	j := jh.create(t, JobSpec{Name: "slow", Schedule: "@every 1m", Prompt: "@tokens 20\n@delay 50ms"})
	require.Equal(t, t0.Add(time.Minute), j.NextRunAt)
	require.Equal(t, []time.Time{t0.Add(time.Minute)}, clock.Pending())

	// First fire: a run starts.
	clock.Advance(time.Minute)
	jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].TurnID != "" })
	require.Eventually(t, func() bool { return slices.Equal(clock.Pending(), []time.Time{t0.Add(2 * time.Minute)}) },
		5*time.Second, time.Millisecond, "re-armed for the next minute")

	// While it runs: run-now is a conflict, the next fire is skipped.
	_, err := jh.h.RunJobNow(t.Context(), jh.uid, j.ID)
	require.ErrorIs(t, err, agent.ErrConflict)
	clock.Advance(time.Minute)
	runs := jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == 2 })
	require.Equal(t, persist.RunSkipped, runs[0].Status)
	require.Equal(t, t0.Add(2*time.Minute), runs[0].ScheduledAt)
	require.Contains(t, runs[0].Error, runs[1].ID)
	require.Empty(t, runs[0].SessionID)

	// The first run ends; then run-now works.
	runs = jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return r[1].Status == persist.RunSucceeded })
	require.Equal(t, t0.Add(time.Minute), runs[1].ScheduledAt)
	require.Equal(t, "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11 tok12 tok13 tok14 tok15 tok16 tok17 tok18 tok19",
		jh.replyOf(t, runs[1].SessionID))
	got, err := jh.h.GetJob(t.Context(), jh.uid, j.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunSucceeded, got.LastStatus)
	require.Equal(t, runs[1].StartedAt, got.LastRunAt, "a skipped run is not the last run")
	require.Equal(t, t0.Add(3*time.Minute), got.NextRunAt)

	runID, err := jh.h.RunJobNow(t.Context(), jh.uid, j.ID)
	require.NoError(t, err)
	runs = jh.runs(t, j.ID)
	require.Equal(t, runID, runs[0].ID, "the run is listed when RunJobNow returns")
	runs = jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return r[0].Status == persist.RunSucceeded })
	require.Equal(t, []string{persist.RunSucceeded, persist.RunSkipped, persist.RunSucceeded}, statuses(runs))

	// Metrics: one armed job, runs by status, lag of the scheduled run.
	require.Equal(t, 1.0, gaugeValue(t, jh.reg, "seshat_jobs_active"))
	n, err := testutil.GatherAndCount(jh.reg, "seshat_job_runs_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	families, err := jh.reg.Gather()
	require.NoError(t, err)
	byStatus := map[string]float64{}
	var lagCount uint64
	for _, f := range families {
		switch f.GetName() {
		case "seshat_job_runs_total":
			for _, m := range f.GetMetric() {
				byStatus[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		case "seshat_job_schedule_lag_seconds":
			lagCount = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	require.Equal(t, map[string]float64{"succeeded": 2, "skipped": 1, "failed": 0}, byStatus)
	require.Equal(t, uint64(1), lagCount)
}

func TestJobPatchRearms(t *testing.T) {
	jobLeakCheck(t)
	clock := newManualClock(t0)
	jh := newJobHost(t, persisttest.Open(t), clock).withUser(t, "a@example.com")
	j := jh.create(t, JobSpec{Name: "hourly", Schedule: "@every 1h", Prompt: "hi"})
	require.Equal(t, t0.Add(time.Hour), j.NextRunAt)

	j, err := jh.h.UpdateJob(t.Context(), jh.uid, j.ID, JobUpdate{Schedule: new("*/5 * * * *")})
	require.NoError(t, err)
	require.Equal(t, t0.Add(5*time.Minute), j.NextRunAt, "re-armed at once")
	require.Equal(t, []time.Time{t0.Add(5 * time.Minute)}, clock.Pending(), "the old timer is stopped")

	clock.Advance(5 * time.Minute)
	jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].Status == persist.RunSucceeded })
	j, err = jh.h.GetJob(t.Context(), jh.uid, j.ID)
	require.NoError(t, err)
	require.Equal(t, t0.Add(10*time.Minute), j.NextRunAt)

	// A change that does not touch the schedule leaves the timer alone.
	clock.Advance(2 * time.Minute)
	j, err = jh.h.UpdateJob(t.Context(), jh.uid, j.ID, JobUpdate{Name: new("renamed"), Prompt: new("bye")})
	require.NoError(t, err)
	require.Equal(t, "renamed", j.Name)
	require.Equal(t, t0.Add(10*time.Minute), j.NextRunAt)
	require.Len(t, clock.Pending(), 1)

	// Disabled: disarmed, no next run, nothing fires.
	j, err = jh.h.UpdateJob(t.Context(), jh.uid, j.ID, JobUpdate{Enabled: new(false)})
	require.NoError(t, err)
	require.False(t, j.Enabled)
	require.True(t, j.NextRunAt.IsZero())
	require.Empty(t, clock.Pending())
	require.Equal(t, 0.0, gaugeValue(t, jh.reg, "seshat_jobs_active"))
	clock.Advance(time.Hour)
	require.Len(t, jh.runs(t, j.ID), 1)

	// Run-now still works on a disabled job.
	_, err = jh.h.RunJobNow(t.Context(), jh.uid, j.ID)
	require.NoError(t, err)
	runs := jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == 2 && r[0].Status == persist.RunSucceeded })
	require.Equal(t, "echo: bye", jh.replyOf(t, runs[0].SessionID))

	// Enabled again in another zone: armed from now.
	j, err = jh.h.UpdateJob(t.Context(), jh.uid, j.ID, JobUpdate{Enabled: new(true), Schedule: new("0 9 * * *"), Timezone: new("Asia/Tokyo")})
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC), j.NextRunAt, "09:00 in Tokyo")
	require.Len(t, clock.Pending(), 1)
	require.Equal(t, 1.0, gaugeValue(t, jh.reg, "seshat_jobs_active"))
}

func TestJobDeleteInterruptsRun(t *testing.T) {
	jobLeakCheck(t)
	clock := newManualClock(t0)
	jh := newJobHost(t, persisttest.Open(t), clock).withUser(t, "a@example.com")
	j := jh.create(t, JobSpec{Name: "long", Schedule: "@every 1m", Prompt: "@tokens 3000\n@delay 5ms"})
	clock.Advance(time.Minute)
	runs := jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].TurnID != "" })
	sessionID := runs[0].SessionID
	v, err := jh.h.GetSession(t.Context(), jh.uid, sessionID)
	require.NoError(t, err)
	require.Equal(t, agent.StatusRunning, v.Session.Status)

	require.NoError(t, jh.h.DeleteJob(t.Context(), jh.uid, j.ID))
	_, err = jh.h.GetJob(t.Context(), jh.uid, j.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = jh.h.ListRuns(t.Context(), jh.uid, j.ID, 0)
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.ErrorIs(t, jh.h.DeleteJob(t.Context(), jh.uid, j.ID), agent.ErrNotFound)

	// The run's session, made for it, went with the job: its actor
	// stopped (interrupting the turn), and nothing fires any more.
	_, err = jh.h.GetSession(t.Context(), jh.uid, sessionID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.Eventually(t, func() bool { return !jh.h.isLive(sessionID) }, 10*time.Second, 5*time.Millisecond)
	require.Empty(t, clock.Pending())
	require.Equal(t, 0.0, gaugeValue(t, jh.reg, "seshat_jobs_active"))
	list, err := jh.h.ListJobs(t.Context(), jh.uid, "")
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestJobsSurviveRestart(t *testing.T) {
	jobLeakCheck(t)
	dir := t.TempDir()
	open := func() *persist.Store {
		s, err := persist.Open(persist.Config{Dir: dir, NoSync: true})
		require.NoError(t, err)
		return s
	}
	closeAll := func(jh *jobHost) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, jh.h.StopJobs(ctx))
		require.NoError(t, jh.h.Close(ctx))
		require.NoError(t, jh.store.Check())
		require.NoError(t, jh.store.Close())
	}
	startHost := func(store *persist.Store, clock jobs.Clock, uid string) *jobHost {
		providers := provider.NewRegistry()
		providers.Register("mock", provider.NewMock())
		h, err := New(Config{Store: store, Providers: providers})
		require.NoError(t, err)
		require.NoError(t, h.StartJobs(t.Context(), JobsConfig{Clock: clock}))
		return &jobHost{h: h, store: store, uid: uid}
	}

	// First life: a quick job and a slow one whose run is in progress at shutdown.
	clock := newManualClock(t0)
	store := open()
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "a@example.com"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	jh := startHost(store, clock, u.ID)
	quick := jh.create(t, JobSpec{Name: "quick", Schedule: "*/10 * * * *", Prompt: "again"})
	slow := jh.create(t, JobSpec{Name: "slow", Schedule: "@daily", Prompt: "@tokens 3000\n@delay 5ms"})
	_, err = jh.h.RunJobNow(t.Context(), jh.uid, slow.ID)
	require.NoError(t, err)
	jh.waitRuns(t, slow.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].TurnID != "" })
	closeAll(jh)

	// A clean shutdown records the cut run itself.
	store = open()
	runs, err := store.ListRuns(slow.ID, 0)
	require.NoError(t, err)
	require.Equal(t, persist.RunFailed, runs[0].Status)
	require.Equal(t, "interrupted: the server shut down", runs[0].Error)
	// A crash leaves a run `running`: simulate one.
	crashed := persist.JobRun{ID: agent.NewID(agent.PrefixRun), JobID: quick.ID, Status: persist.RunRunning, StartedAt: t0}
	ch := make(chan error, 1)
	store.PutRun(persist.RunSave{Run: crashed}, func(err error) { ch <- err })
	require.NoError(t, <-ch)

	// Second life, hours later: both jobs are listed and armed from now;
	// the crashed run is failed; missed fire times are not replayed.
	later := t0.Add(5*time.Hour + 3*time.Minute)
	clock = newManualClock(later)
	jh = startHost(store, clock, u.ID)
	defer closeAll(jh)
	list, err := jh.h.ListJobs(t.Context(), jh.uid, "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	runs = jh.runs(t, quick.ID)
	require.Len(t, runs, 1)
	require.Equal(t, persist.RunFailed, runs[0].Status)
	require.Equal(t, "interrupted by restart", runs[0].Error)
	require.Eventually(t, func() bool {
		j, err := jh.h.GetJob(t.Context(), jh.uid, quick.ID)
		return err == nil && j.NextRunAt.Equal(t0.Add(5*time.Hour+10*time.Minute))
	}, 5*time.Second, time.Millisecond)
	require.Len(t, clock.Pending(), 2)
	clock.Set(t0.Add(5*time.Hour + 10*time.Minute))
	runs = jh.waitRuns(t, quick.ID, func(r []persist.JobRun) bool { return len(r) == 2 && r[0].Status == persist.RunSucceeded })
	require.Equal(t, "echo: again", jh.replyOf(t, runs[0].SessionID))
}

func TestJobCronAcrossDST(t *testing.T) {
	jobLeakCheck(t)
	// Berlin moves to summer time on 2026-03-29 at 01:00 UTC: 09:00 local
	// is 08:00 UTC before and 07:00 UTC after.
	clock := newManualClock(time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC))
	jh := newJobHost(t, persisttest.Open(t), clock).withUser(t, "a@example.com")
	j := jh.create(t, JobSpec{Name: "morning", Schedule: "0 9 * * *", Timezone: "Europe/Berlin", Prompt: "good morning"})
	want := []time.Time{
		time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC),
	}
	for i, at := range want {
		require.Eventually(t, func() bool {
			got, err := jh.h.GetJob(t.Context(), jh.uid, j.ID)
			return err == nil && got.NextRunAt.Equal(at) && slices.Equal(clock.Pending(), []time.Time{at})
		}, 5*time.Second, time.Millisecond, "fire %d due at %s", i, at)
		clock.Set(at)
		runs := jh.waitRuns(t, j.ID, func(r []persist.JobRun) bool { return len(r) == i+1 && r[0].Status == persist.RunSucceeded })
		require.Equal(t, at, runs[0].ScheduledAt)
		require.Equal(t, at, runs[0].StartedAt)
	}
}

// gaugeValue reads a gauge from a registry, by name.
func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// BenchmarkIdleArmedJobs measures the heap an idle armed job costs: b.N
// jobs on `@every 1m` are armed (real timers), and the heap growth is
// divided by their number.
func BenchmarkIdleArmedJobs(b *testing.B) {
	const n = 10000
	store := persisttest.Open(b)
	u, err := store.CreateUser(b.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "a@example.com"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(b, err)
	for i := 0; i < n; i += 1000 {
		require.NoError(b, store.Update(b.Context(), func(tx *persist.Tx) error {
			for k := i; k < i+1000; k++ {
				if err := tx.CreateJob(persist.Job{
					ID: agent.NewID(agent.PrefixJob), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID,
					Name: fmt.Sprintf("job %d", k), Schedule: "@every 1m", Timezone: "UTC",
					Prompt: "summarise the news", PermissionMode: agent.ModeDenyAll, Enabled: true,
				}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	providers := provider.NewRegistry()
	providers.Register("mock", provider.NewMock())
	reg := prometheus.NewRegistry()
	for b.Loop() {
		h, err := New(Config{Store: store, Providers: providers, Registerer: reg})
		require.NoError(b, err)
		before := jobsHeap()
		start := time.Now()
		require.NoError(b, h.StartJobs(b.Context(), JobsConfig{}))
		require.Eventually(b, func() bool {
			return gaugeValue(b, reg, "seshat_jobs_active") == n
		}, time.Minute, 10*time.Millisecond)
		armed := time.Since(start)
		// Let the writes of the next fire times commit: a write queued
		// now returns after them.
		require.NoError(b, store.Update(b.Context(), func(*persist.Tx) error { return nil }))
		after := jobsHeap()
		b.ReportMetric(float64(after-before)/n, "heap-B/job")
		b.ReportMetric(armed.Seconds()*1e3, "ms-to-arm-10k")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		require.NoError(b, h.StopJobs(ctx))
		require.NoError(b, h.Close(ctx))
		cancel()
	}
}

func jobsHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestJobRunFailuresAndUnattendedTools(t *testing.T) {
	jobLeakCheck(t)
	jh := newJobHost(t, persisttest.Open(t), newManualClock(t0)).withUser(t, "a@example.com")

	broken := jh.create(t, JobSpec{Name: "broken", Schedule: "@hourly", Prompt: "@error upstream exploded"})
	_, err := jh.h.RunJobNow(t.Context(), jh.uid, broken.ID)
	require.NoError(t, err)
	runs := jh.waitRuns(t, broken.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].Status != persist.RunRunning })
	require.Equal(t, persist.RunFailed, runs[0].Status)
	require.Contains(t, runs[0].Error, "upstream exploded")
	got, err := jh.h.GetJob(t.Context(), jh.uid, broken.ID)
	require.NoError(t, err)
	require.Equal(t, persist.RunFailed, got.LastStatus)

	// A tool that needs approval is denied at once, even in default mode:
	// no one is there to answer.
	writer := jh.create(t, JobSpec{Name: "writer", Schedule: "@hourly", PermissionMode: agent.ModeDefault,
		Prompt: `@tool write_file {"path":"report.txt","content":"x"}`})
	_, err = jh.h.RunJobNow(t.Context(), jh.uid, writer.ID)
	require.NoError(t, err)
	runs = jh.waitRuns(t, writer.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].Status != persist.RunRunning })
	require.Equal(t, persist.RunSucceeded, runs[0].Status)
	v, err := jh.h.GetSession(t.Context(), jh.uid, runs[0].SessionID)
	require.NoError(t, err)
	require.Empty(t, v.Pending)
	var denied bool
	for _, m := range v.Messages {
		for _, b := range m.Content {
			denied = denied || (b.Type == agent.BlockToolResult && b.IsError)
		}
	}
	require.True(t, denied, "the write was denied: %+v", v.Messages)
	u, err := jh.store.UserByID(jh.uid)
	require.NoError(t, err)
	_, err = jh.store.FileByPath(u.DefaultWorkspaceID, "report.txt")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// A job bound to a session that is busy with someone's turn fails that run.
	sess, err := jh.h.CreateSession(t.Context(), jh.uid, SessionOptions{})
	require.NoError(t, err)
	busy, err := jh.h.StartTurn(t.Context(), jh.uid, TurnRequest{SessionID: sess.ID, Prompt: "@tokens 3000\n@delay 5ms"})
	require.NoError(t, err)
	bound := jh.create(t, JobSpec{Name: "bound", Schedule: "@hourly", Prompt: "p", SessionID: sess.ID})
	_, err = jh.h.RunJobNow(t.Context(), jh.uid, bound.ID)
	require.NoError(t, err)
	runs = jh.waitRuns(t, bound.ID, func(r []persist.JobRun) bool { return len(r) == 1 && r[0].Status != persist.RunRunning })
	require.Equal(t, persist.RunFailed, runs[0].Status)
	require.Contains(t, runs[0].Error, "busy")
	_, err = jh.h.Interrupt(t.Context(), jh.uid, sess.ID)
	require.NoError(t, err)
	_, err = busy.Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2.0, counterValue(t, jh.reg, "seshat_job_runs_total", persist.RunFailed))
}

// counterValue reads one labelled series of a counter from a registry.
func counterValue(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

func TestJobsWithoutScheduler(t *testing.T) {
	jobLeakCheck(t)
	store := persisttest.Open(t)
	providers := provider.NewRegistry()
	providers.Register("mock", provider.NewMock())
	h, err := New(Config{Store: store, Providers: providers})
	require.NoError(t, err)
	jh := (&jobHost{h: h, store: store}).withUser(t, "a@example.com")

	// Before StartJobs: jobs are stored, not armed; run-now is refused.
	require.NoError(t, h.StopJobs(t.Context()), "stopping a scheduler that never ran is a no-op")
	j := jh.create(t, JobSpec{Name: "later", Schedule: "@hourly", Prompt: "p"})
	require.True(t, j.NextRunAt.IsZero())
	_, err = h.RunJobNow(t.Context(), jh.uid, j.ID)
	require.ErrorIs(t, err, agent.ErrOverloaded)

	// StartJobs arms it; a second start is a conflict.
	clock := newManualClock(t0)
	require.NoError(t, h.StartJobs(t.Context(), JobsConfig{Clock: clock}))
	require.ErrorIs(t, h.StartJobs(t.Context(), JobsConfig{Clock: clock}), agent.ErrConflict)
	require.Eventually(t, func() bool {
		got, err := h.GetJob(t.Context(), jh.uid, j.ID)
		return err == nil && got.NextRunAt.Equal(t0.Add(time.Hour))
	}, 5*time.Second, time.Millisecond)

	// Stopped, then closed: nothing stays armed, and a closed host refuses.
	require.NoError(t, h.StopJobs(t.Context()))
	require.NoError(t, h.StopJobs(t.Context()))
	require.Empty(t, clock.Pending())
	require.NoError(t, h.Close(t.Context()))
	require.ErrorIs(t, h.StartJobs(t.Context(), JobsConfig{}), agent.ErrClosed)
	_, err = h.CreateJob(t.Context(), jh.uid, JobSpec{Name: "x", Schedule: "@daily", Prompt: "p"})
	require.ErrorIs(t, err, agent.ErrClosed)
}

// BenchmarkScheduleLag measures the time from a run's due instant to its
// start with 10,000 jobs on `@every 1m`, created evenly over one minute so
// that their fires are staggered, on the real clock and a store with fsync
// on. Each job's first run is compared with the next_run_at it was created
// with. It takes about two minutes.
func BenchmarkScheduleLag(b *testing.B) {
	const n = 10000
	for range b.N {
		store, err := persist.Open(persist.Config{Dir: b.TempDir()})
		require.NoError(b, err)
		u, err := store.CreateUser(b.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "lag@example.com"},
			persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
		require.NoError(b, err)
		h, err := New(Config{Store: store, Providers: mockRegistry(), MaxTurnsPerUser: n})
		require.NoError(b, err)
		require.NoError(b, h.StartJobs(b.Context(), JobsConfig{}))
		due := make(map[string]time.Time, n)
		tick := time.NewTicker(time.Minute / n)
		for i := 0; i < n; i++ {
			<-tick.C
			j, err := h.CreateJob(b.Context(), u.ID, JobSpec{Name: fmt.Sprintf("j%d", i), Schedule: "@every 1m", Prompt: "status"})
			require.NoError(b, err)
			due[j.ID] = j.NextRunAt
		}
		tick.Stop()
		var lags []time.Duration
		require.Eventually(b, func() bool {
			lags = lags[:0]
			for id, at := range due {
				runs, err := store.ListRuns(id, 10)
				require.NoError(b, err)
				if len(runs) == 0 {
					return false
				}
				first := runs[len(runs)-1]
				lags = append(lags, first.StartedAt.Sub(at))
			}
			return true
		}, 3*time.Minute, time.Second)
		slices.Sort(lags)
		b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1e3, "lag-p50-ms")
		b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1e3, "lag-p99-ms")
		b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1e3, "lag-max-ms")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		require.NoError(b, h.Close(ctx))
		cancel()
		require.NoError(b, store.Close())
	}
}
