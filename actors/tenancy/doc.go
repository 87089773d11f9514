// Package tenancy is who may do what: organizations and their members,
// groups, workspaces and their grants, account administration, a user's
// preferences and the audit log's queries.
//
// Access.Authorize is the one place where the store's access errors
// become the runtime's: every family that touches a workspace's records
// (sessions, turns, jobs, files, provider settings, quotas) names the role
// it needs (viewer reads, editor runs turns, answers requests and
// schedules, admin manages members and settings) and asks Authorize, or
// WorkspaceFor when a request may name no workspace and means the user's
// default one. No role is agent.ErrNotFound, so another tenant's ids do
// not leak; a lower role is agent.ErrForbidden.
//
// A workspace's deletion asks the Runtime (the host) to stop the jobs and
// live sessions in it first; the store then removes its records in one
// transaction.
//
// Imports actors/agent and persist only; never protoactor, the actor
// packages or anything under http/.
package tenancy
