// Package skills is the skills family: Agent Skills (a folder with a
// SKILL.md of YAML front matter and Markdown instructions, plus resource
// files) uploaded into a workspace or the global scope, or synced into the
// global scope from git repositories that server admins manage, and
// offered to turns by progressive disclosure.
//
// # Format and uploads
//
// ParseManifest checks a SKILL.md exactly as the format defines it (the
// front matter's fields, the name's characters and its equality with the
// folder's name, the description's and compatibility's lengths) and a
// violation is a FormatError naming the rule, which the API answers with
// 400. ReadArchive takes a .zip or .tar.gz of one skill folder and checks
// every entry before anything is kept: no absolute path or "..", no link,
// device or pipe, at most Limits.MaxFiles files and Limits.MaxBytes bytes,
// counted while decompressing (never from headers), so a zip bomb is a 400
// after at most MaxBytes of output, not an out-of-memory.
//
// # Repositories
//
// A sync fetches one ref of an https:// URL (through actors/egress, the
// outbound fence, on every connection and redirect) or a file:// URL (read
// in process by go-git; no git binary runs), shallow where the server
// allows, into a temporary folder under Config.WorkDir, bounded by
// Config.RepoMaxBytes. Every folder with a SKILL.md under the repository's
// path is a skill, checked as an upload is; the store applies the result
// in one write (persist.ApplySkillSync) and reports what was added,
// updated and removed, and each path that failed. Synced skills are global
// and read-only: only a sync or the repository's deletion changes them
// (server admins may still turn one off).
//
// # Turns
//
// Extension puts the catalogue (one line of name and description per
// skill) into the system prompt within Config.Budget characters. The
// skills a turn sees are those its agent profile names, when it names any,
// else the enabled skills of its workspace and then the global ones (a
// workspace skill hides a global one of its name). A catalogue that does
// not fit lists the skills in that rank order up to the budget, says how
// many more there are, and the turn emits skills_truncated {shown, total}:
// it is never cut silently. load_skill returns a skill's instructions and
// the list of its files; read_skill_file returns one file. Nothing in a
// skill is ever run.
//
// # Concurrency
//
// A Service is safe for concurrent use and starts no goroutines; a sync
// runs on its caller's goroutine, one per repository at a time. It imports
// actors/{agent,egress,tenancy,tool,turn} and persist; it must not import
// the actor runtime (actors/{host,session,jobs}), http/… or cmd/….
package skills
