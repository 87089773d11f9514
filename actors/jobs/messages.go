package jobs

import (
	"time"

	"github.com/seshat-host/seshat/actors/agent"
)

// Reply answers every request to the scheduler.
type Reply struct {
	Value any
	Err   error
}

// Sync tells the scheduler that a job's record changed (created or
// edited). The job's actor, started if need be, reloads the record and
// re-arms at once if the schedule, the time zone or the enabled flag
// changed (a disabled job is disarmed; a run in progress goes on).
// Replies time.Time, the job's next fire time (zero when disarmed), once
// it is durable; agent.ErrNotFound if the job is gone.
type Sync struct {
	JobID string
}

// Rearm arms every enabled job that has no actor yet: hosts sharing a
// store send it now and then, so that a job made on another host (or one
// that host armed before it died) fires here too; the due run's record
// makes it run once. Replies how many were armed (int).
type Rearm struct{}

// RunNow starts a run of the job outside its schedule, whether or not the
// job is enabled. Replies the run id (string) once the run is recorded as
// running, or agent.ErrConflict while a run is in progress (runs never
// overlap).
type RunNow struct {
	JobID string
}

// Remove stops the actor of a deleted job: its timer is disarmed and a
// run in progress has its turn interrupted. Replies nil; a job without an
// actor makes the request a dead letter, which callers treat as done.
type Remove struct {
	JobID string
}

// Messages the scheduler sends itself: from Start, timers and run
// goroutines. Each carries what it needs to be recognised as stale.
type (
	ready struct{}
	// fire is a timer's call: gen names the arming, so a timer stopped
	// too late is ignored.
	fire struct {
		gen uint64
		due time.Time
	}
	runStarted struct {
		runID     string
		sessionID string
		turnID    string
	}
	runEnded struct {
		runID string
		res   *agent.QueryResult
		err   error
	}
)
