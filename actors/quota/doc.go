// Package quota is the one owner of what a user, a workspace or an
// organization may use at once or per window: the limits persist keeps
// (requests_per_minute, concurrent_turns, tokens_per_day,
// tokens_per_month; stored_bytes is checked by the store itself), the
// token usage and reservations of model calls in flight, running turns
// and open streams.
//
// A turn is accounted to three scopes: its user, its workspace and the
// workspace's organization, if any. Ledger.Turn admits it all or nothing
// and hands out one Lease, whose one idempotent Release gives everything
// back; Ledger.Stream does the same for an open stream. A user scope
// without its own concurrent_turns limit has the default one
// (Config.MaxTurnsPerUser, refused with agent.ErrTooManyTurns); open
// streams are capped per user and in total (agent.ErrTooManyStreams).
//
//   - requests_per_minute: a user's limit counts every authenticated API
//     request they make (AdmitRequest, called by the HTTP and gRPC
//     layers); a workspace's or organization's counts the turns started
//     in it.
//   - concurrent_turns: turns running at once.
//   - tokens_per_day, tokens_per_month: input plus output tokens of model
//     calls, in UTC calendar days and months.
//
// Every model call of a turn goes through Meter, the wrapper of the
// provider the turn runs on, given the lease's scopes: before the call it
// reserves its estimate (max_tokens, or Config.ReserveTokens, which then
// also caps the call's output, plus an upper bound of the input: one
// token per two bytes of text) in every scope whose token limits apply,
// and after it settles the actual usage. A reservation is granted while
// the scope's used plus reserved tokens are below the limit, so the last
// call granted may cross it: the spending of a scope exceeds its limit by
// at most one reservation. Once the used tokens reach the limit, calls are
// refused with an *agent.QuotaError, which fails the turn; Turn checks the
// same before the turn starts, so a client usually gets a 429 before
// anything streams. In between (the rest is held by calls in flight) a
// call waits for them to settle rather than being refused while room may
// remain.
//
// All state is guarded by one mutex, held for map updates only (and a
// store read when a scope with limits first loads its usage). Usage is
// made durable through the store's group-commit writer
// (persist.AddQuotaUsage) in deltas, one write per call that batches with
// every other write.
//
// Imports actors/{agent,provider,tenancy} and persist; never protoactor,
// the actor packages or http/.
package quota
