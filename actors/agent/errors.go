package agent

import "errors"

// Sentinel errors of the runtime. Lower layers wrap them with %w and a
// message meant for the client; httpapi maps each to a status and a code.
var (
	// ErrNotFound: an unknown id, or one that belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a request that is malformed or names an invalid value.
	ErrInvalid = errors.New("invalid request")
	// ErrForbidden: the caller may see the resource but not make this
	// change (a role or ownership rule).
	ErrForbidden = errors.New("forbidden")
	// ErrBusy: the session already runs a turn.
	ErrBusy = errors.New("session busy")
	// ErrConflict: the resource is not in a state that allows the request
	// (a permission already decided, a prompt already answered).
	ErrConflict = errors.New("conflict")
	// ErrTooManyTurns: the caller runs as many turns as allowed at once.
	ErrTooManyTurns = errors.New("too many running turns")
	// ErrTooManyStreams: the caller holds as many streams as allowed.
	ErrTooManyStreams = errors.New("too many open streams")
	// ErrTooManyJobs: the caller owns as many scheduled jobs as allowed.
	ErrTooManyJobs = errors.New("too many scheduled jobs")
	// ErrOverloaded: the host refuses new work for now.
	ErrOverloaded = errors.New("overloaded")
	// ErrTurnFailed: the turn failed after it started (the provider call
	// failed, a tool crashed); the wrapped message says why.
	ErrTurnFailed = errors.New("turn failed")
	// ErrClosed: the host is shutting down.
	ErrClosed = errors.New("closed")
)
