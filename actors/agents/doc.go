// Package agents is the agent profiles family: named, versioned agent
// setups that a session or a query selects with agent_slug.
//
// # Profiles and versions
//
// A profile lives in a workspace (editors manage it) or server-wide (server
// admins manage it; every user may use it). Its slug is unique within its
// workspace. Every change stores version n+1 and leaves version n as it
// was (persist.UpdateAgent), so a session keeps the version it started
// with (persist.Session.AgentID and AgentVersion) whatever happens to the
// profile later, its deletion included.
//
// # Turns
//
// The host resolves agent_slug in the session's workspace, then
// server-wide (Service.Resolve), and fills in what the request leaves
// empty: the model, the system prompt, the permission mode, max_turns, the
// corpora and the memory setting. Request fields always win. The turn
// extension (Service.Extension) then narrows the turn's server tools with
// the profile's tools.allow and tools.deny, hides the tools of MCP
// servers the profile does not name when it names some, and hides
// web_search when the profile turns it off: a profile only ever narrows
// what a turn may use, never widens it. A profile that names skills makes
// them the turn's whole skill catalogue (Service.Skills is the skills
// family's hook).
//
// # Security
//
// A foreign or unknown profile is agent.ErrNotFound, never a distinct
// error. A profile whose permission_mode is accept_all needs a workspace
// admin to save, as a job running in that mode does. Every field is
// capped (see Limits in validate.go).
package agents
