// Package auth authenticates API callers and runs the account operations
// the auth and user handlers call.
//
// A caller presents `Authorization: Bearer <credential>`, where the
// credential is either an HS256 JWT issued by Register or Login, or an
// `sk-` API key. JWTs are verified with the algorithm pinned to HS256 and
// issuer, audience, expiry and issued-at enforced; their subject is the
// user id. An API key is "sk-" + a 12-character public prefix + "_" + a
// 32-character secret; the store keeps the prefix (to find the record) and
// the SHA-256 of the whole key, compared in constant time. Both paths load
// the user on every request, so a disabled user or a deleted key stops
// working at once. The verified identity is a Principal, stored on the
// request with SetPrincipal and read with PrincipalFrom.
//
// Passwords are hashed with bcrypt. Login answers an unknown email and a
// wrong password with the same error after the same bcrypt work, whatever
// the cost of the stored hash (a hash of a lower cost than the configured
// one is followed by dummy comparisons that make up the difference, and
// is rehashed at the next correct login). Failed logins are rate limited
// per (email, client IP) and per client IP, so that failures from one
// address never lock an account out for another; registrations are
// limited per client IP.
//
// Emails are normalised once, in normalizeEmail (NFKC, then PRECIS's
// UsernameCaseMapped profile), and refused when they hold invisible or
// bidirectional characters or mix scripts in one label: look-alikes are
// the same account or no account. Who may register is the sign-up policy
// (open, invite, closed; the first account always may); under invite an
// InvitationLookup answers whether the email has a pending invitation.
//
// Errors: ErrUnauthenticated (and ErrInvalidLogin, which wraps it, and
// *LoginFailure, which wraps that) for bad credentials; *RateLimitError
// for too many failed logins or registrations; ErrSignupClosed and
// ErrInvitationRequired for registrations the policy refuses; agent.ErrInvalid
// and agent.ErrConflict wrapped with a message meant for the client for bad
// input and duplicate emails; store errors are passed on wrapped.
//
// A Service is safe for concurrent use. It starts no goroutines: the login
// limiter prunes itself lazily on access. It does not log: its errors carry
// the reasons, and the HTTP error mapper logs them once.
//
// auth imports persist, actors/agent (for sentinel errors), golang-jwt,
// x/crypto/bcrypt, x/text (normalisation) and fasthttp; it must not import httpapi or anything
// under actors/ besides agent.
package auth
