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

// ErrSignupClosed refuses a registration under SignupClosed.
var ErrSignupClosed = errors.New("sign-up is closed on this server; ask an admin for an account")

// ErrInvitationRequired refuses a registration under SignupInvite for an
// email with no pending invitation.
var ErrInvitationRequired = errors.New("sign-up on this server needs an invitation for this email")

// LoginFailure is a failed login. It wraps ErrInvalidLogin, and its text
// is the same whether or not an account has the email: only UserID, for
// the audit log, names the account that was tried.
type LoginFailure struct {
	// UserID is the account with that email, or "" if none has it.
	UserID string
}

// Error implements error.
func (e *LoginFailure) Error() string { return ErrInvalidLogin.Error() }

// Unwrap returns ErrInvalidLogin.
func (e *LoginFailure) Unwrap() error { return ErrInvalidLogin }

// RateLimitError refuses an attempt because too many were made recently:
// failed logins for the same email from the same client IP, or from that
// IP at all, or registrations from that IP.
type RateLimitError struct {
	// RetryAfter is how long until an attempt can succeed again.
	RetryAfter time.Duration
	// What names what was counted, for the client: "failed login
	// attempts", "registrations from your address".
	What string
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many %s; retry in %s", e.What, e.RetryAfter.Round(time.Second))
}

// unauthenticated wraps reason (logged only) in ErrUnauthenticated.
func unauthenticated(reason error) error {
	return fmt.Errorf("%w: %w", ErrUnauthenticated, reason)
}
