package persist

import "errors"

// Sentinel errors of the store. Methods wrap them with %w and a message that
// names the cause, so callers test with errors.Is.
var (
	// ErrNotFound: no record with that id (or path, prefix, email).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is taken (an email, an id, a key prefix).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: an argument the store cannot accept (an empty id, a bad
	// path, a malformed cursor).
	ErrInvalid = errors.New("invalid")
	// ErrLocked: another process (or another Store in this process) holds
	// the data dir.
	ErrLocked = errors.New("data dir locked")
	// ErrTooLarge: file content beyond the caller's byte limit.
	ErrTooLarge = errors.New("too large")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
)
