package agent

import (
	"errors"
	"fmt"
	"time"
)

// ErrQuotaExceeded: the caller, their workspace or their organization is
// at one of its quota limits. The error is a *QuotaError naming it.
var ErrQuotaExceeded = errors.New("quota exceeded")

// QuotaError says which limit of which scope refused a request.
type QuotaError struct {
	// Scope is "user", "workspace" or "organization"; ID its id.
	Scope string
	ID    string
	// Limit names the limit: requests_per_minute, tokens_per_day,
	// tokens_per_month, concurrent_turns or stored_bytes.
	Limit string
	// Max is the limit; Used what the scope has used or holds of it.
	Max, Used int64
	// RetryAfter is how long until the limit may admit the request again;
	// zero when only the caller can free room (stored bytes).
	RetryAfter time.Duration
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota exceeded: %s of %s %s is %d (used %d)", e.Limit, e.Scope, e.ID, e.Max, e.Used)
}

// Is makes errors.Is(err, ErrQuotaExceeded) hold.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }
