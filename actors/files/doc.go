// Package files is the workspace files family: storing, listing, reading
// and deleting the files of a workspace on behalf of a user, with the
// workspace rule every family applies (a workspace the user has no role
// in is not found, a role below the one needed is forbidden; readers need
// viewer, writers editor) and the upload cap. The bytes and the metadata
// live in persist; this package decides who may touch them.
//
// Errors wrap agent.ErrNotFound, agent.ErrForbidden and agent.ErrInvalid
// with client-safe messages, or are the store's (persist.ErrTooLarge for
// an upload over the cap, persist.QuotaError for one over a stored-bytes
// quota).
//
// A Service is safe for concurrent use: it keeps no mutable state and
// starts no goroutines. It imports actors/agent, actors/tenancy and persist only; it must
// not import http/… or cmd/…. Roles are checked by actors/tenancy's Access.
package files
