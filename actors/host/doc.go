// Package host runs the actor system and is the runtime's by-id facade:
// httpapi (and the job actors) call its plain Go methods with a context, a
// user id and a session id; nothing outside actors/ ever sees a PID.
//
// A session actor is activated on first use from its snapshot (protoactor's
// SpawnNamed is the get-or-activate: a second activation of the same id gets
// the existing actor) and passivates itself when idle. A request that races
// a passivation reaches a dead actor and fails fast with a dead letter; the
// host then activates the session again and retries, so callers never see
// the race.
//
// Access: every call that touches a workspace's sessions, turns, jobs or
// quotas names the role it needs and asks actors/tenancy's
// Access.Authorize, the one place where the store's access errors become
// the runtime's. Organizations, groups, workspaces, account
// administration, preferences and the audit log live in actors/tenancy;
// the host joins it as its tenancy.Runtime, so that deleting a workspace
// ends the jobs and live sessions in it.
//
// Quotas: actors/quota's Ledger is the one owner of running turns, open
// streams, token usage and limits. StartTurn takes one lease per turn (and
// one per stream) and hands the lease's idempotent Release to the session
// actor, which calls it when the turn ends or is refused; the turn
// runner's provider is metered against the turn's scopes.
//
// Lock order: Host.mu guards only the set of live sessions and is never
// held while calling anything else.
//
// Imports actors/{agent,session,jobs,turn,provider,tool,tenancy,routing,quota},
// persist, protoactor-go and the Prometheus client; never anything under
// http/. It makes no outbound HTTP call: provider settings and their
// upstreams are actors/routing's.
package host
