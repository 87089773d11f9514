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
// wrong password with the same error after the same bcrypt work, and
// failed logins are rate limited per email and per client IP.
//
// Errors: ErrUnauthenticated (and ErrInvalidLogin, which wraps it) for bad
// credentials; *RateLimitError for too many failed logins; agent.ErrInvalid
// and agent.ErrConflict wrapped with a message meant for the client for bad
// input and duplicate emails; store errors are passed on wrapped.
//
// A Service is safe for concurrent use. It starts no goroutines: the login
// limiter prunes itself lazily on access. It does not log: its errors carry
// the reasons, and the HTTP error mapper logs them once.
//
// auth imports persist, actors/agent (for sentinel errors), golang-jwt,
// x/crypto/bcrypt and fasthttp; it must not import httpapi or anything
// under actors/ besides agent.
package auth
