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
// Lock order: Host.mu guards only the set of live sessions; limiter.mu
// guards only its counters; neither is held while calling anything else.
//
// Imports actors/{agent,session,jobs,turn,provider,tool}, persist, protoactor-go,
// the Prometheus client, golang.org/x/oauth2 and net/http (provider
// settings talk to upstream model APIs); never anything under http/.
package host
