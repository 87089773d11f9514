package apitype

import "time"

// CreateJobRequest is the body of POST /api/v1/scheduler/jobs.
type CreateJobRequest struct {
	Name string `json:"name"`
	// Schedule is a 5-field cron expression, a descriptor (@hourly,
	// @daily, ...) or "@every DURATION" (at least 1s).
	Schedule string `json:"schedule"`
	Prompt   string `json:"prompt"`
	// WorkspaceID defaults to the session's workspace, else the caller's
	// default workspace.
	WorkspaceID string `json:"workspace_id,omitempty"`
	// SessionID, if set, makes every run a turn of that session; without
	// it each run gets a new session.
	SessionID string `json:"session_id,omitempty"`
	Model     string `json:"model,omitempty"`
	// PermissionMode defaults to deny_all.
	PermissionMode string `json:"permission_mode,omitempty"`
	// Timezone is an IANA zone name; it defaults to UTC.
	Timezone string `json:"timezone,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// UpdateJobRequest is the body of PATCH /api/v1/scheduler/jobs/{id}:
// fields left out stay. "session_id": "" makes each run use a new session.
type UpdateJobRequest struct {
	Name           *string `json:"name,omitempty"`
	Schedule       *string `json:"schedule,omitempty"`
	Prompt         *string `json:"prompt,omitempty"`
	WorkspaceID    *string `json:"workspace_id,omitempty"`
	SessionID      *string `json:"session_id,omitempty"`
	Model          *string `json:"model,omitempty"`
	PermissionMode *string `json:"permission_mode,omitempty"`
	Timezone       *string `json:"timezone,omitempty"`
	Enabled        *bool   `json:"enabled,omitempty"`
}

// Job is a scheduled job. SessionID and Model are null when the runs use a
// new session each, or the session's model; NextRunAt is null while the
// job is disabled; LastRunAt and LastStatus are null until a run starts.
type Job struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	Schedule       string  `json:"schedule"`
	Timezone       string  `json:"timezone"`
	Prompt         string  `json:"prompt"`
	WorkspaceID    string  `json:"workspace_id"`
	SessionID      *string `json:"session_id"`
	Model          *string `json:"model"`
	PermissionMode string  `json:"permission_mode"`
	// RunAsUserID is the user the runs are turns of: whoever last set the
	// job's prompt, model, workspace, session or permission mode.
	RunAsUserID string     `json:"run_as_user_id"`
	Enabled     bool       `json:"enabled"`
	NextRunAt   *time.Time `json:"next_run_at"`
	LastRunAt   *time.Time `json:"last_run_at"`
	LastStatus  *string    `json:"last_status"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// JobRun is one run of a job. Status is running, succeeded, failed or
// skipped; a skipped run (due while the previous one still ran) has no
// session or turn. FinishedAt is null while the run is running.
type JobRun struct {
	ID         string     `json:"id"`
	JobID      string     `json:"job_id"`
	SessionID  *string    `json:"session_id"`
	TurnID     *string    `json:"turn_id"`
	Status     string     `json:"status"`
	StopReason *string    `json:"stop_reason"`
	Error      *string    `json:"error"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// RunStarted is the 202 body of POST /api/v1/scheduler/jobs/{id}/run.
type RunStarted struct {
	RunID string `json:"run_id"`
}
