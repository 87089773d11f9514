package persist

import (
	"errors"
	"fmt"
)

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
	// ErrForbidden: the caller has a role in the workspace, below the one
	// the operation needs.
	ErrForbidden = errors.New("forbidden")
	// ErrQuotaExceeded: a write would take a scope past one of its quota
	// limits; the error is a *QuotaError naming it.
	ErrQuotaExceeded = errors.New("quota exceeded")
)

// ErrLastOwner: the change would leave an organization without an owner,
// the server without an active admin, or a workspace without its owner. It
// wraps ErrConflict.
var ErrLastOwner = fmt.Errorf("last owner: %w", ErrConflict)

// ErrBadCursor: a pagination cursor the listing did not hand out (or one
// that was tampered with). It wraps ErrInvalid.
var ErrBadCursor = fmt.Errorf("malformed cursor: %w", ErrInvalid)
