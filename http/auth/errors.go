package auth

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnauthenticated means the request carries no credential, or one that
// is malformed, forged, expired, revoked or belongs to a disabled user. The
// error returned wraps it together with the specific reason, which is for
// logs only: clients all get the same 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrInvalidLogin is Login's answer to an unknown email and to a wrong
// password alike, so that a client cannot tell which accounts exist. It
// wraps ErrUnauthenticated.
var ErrInvalidLogin = fmt.Errorf("%w: invalid email or password", ErrUnauthenticated)

// RateLimitError refuses a login attempt because too many attempts failed
// recently for the same email or from the same client IP.
type RateLimitError struct {
	// RetryAfter is how long until an attempt can succeed again.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed login attempts; retry in %s", e.RetryAfter.Round(time.Second))
}

// unauthenticated wraps reason (logged only) in ErrUnauthenticated.
func unauthenticated(reason error) error {
	return fmt.Errorf("%w: %w", ErrUnauthenticated, reason)
}
