// Package permission is the pure policy that decides whether a tool call
// may run under a session's permission mode: allow it, ask a human, or deny
// it.
//
// It holds no state and does no I/O, so the turn runner can consult it for
// every tool call without coordination, and it is safe for concurrent use.
// Remembered decisions, open requests and timeouts are the session actor's
// business: a Verdict of Ask is where the policy hands over to it.
//
// It imports only actors/agent; in particular it must not import the actor
// system, the store or anything under http/.
package permission
