// Package plans is the plans family: the artifacts of plan mode.
//
// A turn in plan mode proposes a plan instead of acting: the model calls
// the submit_plan tool, or else its final answer becomes the plan. The
// family's turn extension offers submit_plan in plan mode, saves the plan
// when the turn ends (before the session reports the turn done, so a plan
// is committed with its turn and survives a crash), sets the turn's
// plan_id and emits plan_proposed.
//
// Versions are immutable: a person's edit or a new proposal in the same
// session writes version n+1 and marks the one before it superseded. A
// person approves or rejects a plan; a rejection's feedback goes into the
// system prompt of the session's next turns until a new version is
// proposed. Approving with execute starts a turn of the plan's session
// that carries the plan out, and returns its ids at once; the turn's end
// marks the plan executed.
//
// Who may do what: viewers of the plan's workspace read it, editors edit,
// approve and reject it, and executing it in accept_all needs a workspace
// admin. A plan of a workspace the caller has no role in is not found.
package plans
