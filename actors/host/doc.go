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
// Access: every call that touches a workspace's sessions, turns, files,
// jobs or settings names the role it needs (viewer reads, editor runs
// turns, answers requests and schedules, admin manages members and
// settings) and checks it in member, which asks persist.AuthorizeWorkspace
// to resolve the caller's direct, group and organization grants. No role is
// agent.ErrNotFound, so another tenant's ids do not leak; a lower role is
// agent.ErrForbidden. Organizations, groups, workspaces, account
// administration, preferences, the audit log and quotas have their own
// files (orgs.go, groups.go, workspaces.go, users.go, audit.go, quotas.go).
//
// Quotas (quotas.go): one quota actor per scope with limits owns its
// counters and decides admissions and token reservations, so concurrent
// turns cannot overspend; the turn runner's provider is wrapped to reserve
// before each model call and settle after it.
//
// Lock order: Host.mu guards only the set of live sessions; limiter.mu
// guards only its counters; quotas.mu guards only its cache of limits and
// actor PIDs (it is held across a store read when a quota actor starts);
// none is held while calling anything else.
//
// Imports actors/{agent,session,jobs,turn,provider,tool}, persist, protoactor-go,
// the Prometheus client, golang.org/x/oauth2 and net/http (provider
// settings talk to upstream model APIs); never anything under http/.
package host
