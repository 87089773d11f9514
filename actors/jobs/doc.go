// Package jobs runs scheduled agent jobs: one actor per job owns its
// schedule (robfig/cron/v3 expressions read in the job's IANA time zone),
// its timer and its run in progress, and records every run in the store.
//
// The scheduler actor (SupervisorName) is the parent of the job actors and
// restarts one that panics. At start it records runs a crash left running
// as failed and arms every enabled job from its next due instant after
// now: runs missed while the server was down are not replayed. The host
// tells it when a job's record changed (Sync), asks for a run outside the
// schedule (RunNow) and removes a deleted job (Remove).
//
// At a fire time the job starts a turn through Turns, the host's by-id
// facade declared here, in the job's session or in a new session per run.
// Runs never overlap: a fire time that comes while the previous run still
// runs is recorded as a skipped run, and RunNow answers agent.ErrConflict.
// A run's status goes running → succeeded or failed; the job's
// last_run_at, last_status and next_run_at are kept with it.
//
// Time comes from an injected Clock, so tests move it by hand; Schedule.Next
// is pure.
//
// Concurrency contract: each job actor's fields are touched only inside its
// Receive. Timers (Clock.AfterFunc) and run goroutines talk to it only by
// messages sent through the actor system's root context, tagged so that a
// stale one (an older arming, an ended run) is dropped. A run goroutine is
// owned by its job actor, which cancels it when the job is deleted, the
// actor restarts or the scheduler stops; Deps.Runners counts them for
// their final owner to wait on. Store writes go through the group-commit
// writer without blocking the mailbox; replies that promise durability
// are sent from the write's completion callback.
//
// Imports actors/agent, persist, protoactor-go and robfig/cron; never
// actors/host (which imports this package) or anything under http/.
package jobs
