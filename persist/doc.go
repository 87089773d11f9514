// Package persist is the server's durable store: one bbolt file holding
// users, API keys, workspaces, file metadata, sessions and their
// snapshots, plus content-addressed file bytes beside it. Callers see the
// record types of records.go; no bbolt type or byte slice escapes a
// transaction, because values are decoded (copied) before it ends.
//
// # Files on disk
//
//	Dir/seshat.db                the bbolt file (exclusively locked while open)
//	Dir/blobs/<ab>/<sha256>      file contents, named by their hex SHA-256 (bbolt)
//	Dir/blobs/tmp/               uploads being written; emptied at Open (bbolt)
//
// # Buckets
//
// Values are JSON of the record types unless noted. "|" is a NUL byte: ids
// and paths never contain one, so a prefix up to it names one owner.
//
//	meta                  schema_version -> decimal; session_count -> u64 BE
//	users                 userID -> User
//	users_by_email        lower-cased email -> userID
//	api_keys              keyID -> APIKey
//	api_keys_by_prefix    prefix -> keyID
//	api_keys_by_user      userID|keyID -> ""
//	workspaces            workspaceID -> Workspace
//	members               userID|workspaceID -> the user's direct role (see workspaces.go)
//	files                 fileID -> File
//	files_by_path         workspaceID|path -> fileID (so a workspace lists in path order)
//	blob_refs             sha256 -> u64 BE count of files using the blob
//	sessions              sessionID -> Session
//	snapshots             sessionID -> 2-byte BE version + snapshot data
//	session_messages      sessionID|u64 BE index -> one message (opaque)
//	idx_sessions_by_time  workspaceID|position -> ""
//	idx_postings          workspaceID|term|position -> ""  (the session search postings)
//	idx_docs              sessionID -> the session's indexed terms, sorted, NUL-joined
//	jobs                  jobID -> Job
//	jobs_by_workspace     workspaceID|jobID -> ""
//	jobs_by_user          userID|jobID -> "" (the user the job runs as)
//	job_runs              jobID|seq -> JobRun (see jobs.go)
//	job_run_keys          runID -> its key in job_runs
//	job_running           jobID -> runID of the run in progress
//	provider_settings     settingID -> ProviderSetting (credentials sealed, see settings.go)
//	provider_settings_by_owner  owner key|settingID -> ""
//	provider_defaults     userID -> the user's default settingID
//	provider_defaults_by_setting  settingID|userID -> ""
//	organizations, org_members, org_members_by_user      (see orgs.go)
//	groups, groups_by_org, group_members, group_members_by_user  (groups.go)
//	ws_grants, group_grants, workspaces_by_org           (workspaces.go: roles)
//	user_prefs                                           (accounts.go)
//	audit, audit_by_actor, audit_by_resource, audit_by_workspace, audit_by_org  (audit.go)
//	quota_limits, quota_usage, stored_bytes              (quotas.go)
//	memories, memories_by_owner, memories_by_norm, memory_postings, memory_terms  (memories.go)
//	corpora, corpora_by_workspace, corpus_files, corpus_jobs,
//	corpus_chunks, corpus_chunk_keys, corpus_vectors, knowledge_settings  (corpora.go)
//	mcp_servers           serverID -> MCPServer (env and headers sealed, see mcp.go)
//	mcp_servers_by_workspace  workspaceID|serverID -> ""  ("" for global servers)
//	web_search            "settings" -> WebSearchSettings (API key sealed)
//	skills, skill_names, skill_files, skill_repositories, skills_by_repository  (skills.go)
//
// meta/master_key_check holds a known text sealed with the master key, so
// that Open with another key fails at once instead of opening credentials
// to garbage later.
//
// A position is the creation time (Unix nanoseconds, 8 bytes big-endian
// with the sign bit flipped, so byte order is time order) followed by the
// session id. Positions ascend with time, and listings walk them backwards.
// New sessions therefore append to the end of their workspace's range, and
// these buckets use a FillPercent of 0.9. Inverted times would make them
// prepend instead, and at 0.9 each page split would leave a page 10% full.
// Posting keys carry no workspace id (the bucket names it), and the
// reverse record is one value rather than a bucket per session. Both
// choices keep the index small: 100k sessions of 34 words each take 470 MB
// in all, against 633 MB with a workspace prefix and nested reverse
// buckets.
//
// # Search
//
// Text is cut into terms: runs of letters, digits and combining marks,
// lower-cased, at least 2 runes, cut to 64 bytes. A session's title and the
// IndexText of each save add terms. They are removed only with the session.
// A query's words must all match, the last one as a prefix. Per workspace:
//
//   - no words: walk the time index backwards
//   - one word: walk the union of the posting lists of every term it starts
//   - several: leapfrog over the exact words' posting lists (each list in
//     turn seeks to the candidate, until all agree). If the prefix matches
//     at most 2048 positions there, it joins the leapfrog as a sorted list.
//     Otherwise each match is checked against its reverse record.
//
// A page stops after limit+1 matches per workspace. The workspaces' matches
// are merged, and the cursor is the last position returned, so a later page
// seeks straight past it and never rescans earlier ones.
//
// # Writes and group commit
//
// Every write goes through one writer goroutine. It runs queued write
// functions together in one bbolt transaction, which costs one fsync pair
// (bbolt syncs data, then the meta page) for the whole batch instead of one
// per write. Writes queued during a commit form the next batch, so batches
// grow with load. When fewer writes are queued than the previous batch
// held, the writer waits up to CommitInterval for the rest. Those are
// usually callers the last commit just released, which are about to queue
// again. A lone writer (previous batch of one) never waits. Measured on a
// 2-vCPU VM with fsync on and 512-byte writes: about 4k writes/s with 1
// writer, 115-130k/s with 64 (77-94k/s without the wait), 260-340k/s
// with 1024. One bbolt Update per write manages 3.5-3.7k/s with 64.
//
// If a function fails, the batch rolls back and the others rerun without
// it. The failed function then runs alone. So a write function may run
// more than once and must be idempotent (see Store.Update).
//
// File bytes are written outside the writer, by the blob backend
// (blobs.go): on bbolt streamed to a temp file, fsynced, and renamed into
// place (directory fsynced), on PostgreSQL streamed as chunks in a
// transaction of their own (blobs_pg.go), before the commit that
// references them. A blob is removed after the commit that drops its
// last reference. Removal happens on the writer goroutine, and a put that
// is about to reference a blob pins it, so the two never race.
//
// # Concurrency
//
// A Store is safe for concurrent use. It owns two goroutines, both started
// by Open and stopped and waited for by Close: the writer, and the flusher
// that writes API-key last-use times every TouchFlushInterval (touches are
// kept in memory in between, since authentication would otherwise write
// on every request). Reads run in their own read-only bbolt transactions
// and see every write whose Update has returned. Lock order: Store.mu,
// touchMu and pinMu are never held together; pinMu may be taken inside a
// writer transaction. Write functions and View functions must not call back
// into the Store (see Update and View).
//
// # Schema
//
// meta/schema_version counts the migrations applied. Open applies pending
// ones in order in one transaction, and refuses a file from a newer build.
// Version 1 creates the buckets above; later versions add those of jobs
// (2), provider settings (3), and organizations, roles, the audit log and
// quotas (4), session messages (5) and memories (6).
//
// # Engines
//
// The repositories reach records only through Tx.bucket and the ordered
// key-value model of engine.go, so the same code runs on two engines:
// bbolt (the default, above) and PostgreSQL (Config.URL postgres://…, see
// engine_pg.go: one kv table of (bucket, key, value), sequences per
// bucket, paged cursors in bytea order, one SERIALIZABLE transaction per
// group commit, rerun on serialization failures). The search index is the
// store's own on both. File bytes are files in Dir/blobs on bbolt and
// chunks in the database on PostgreSQL, so hosts sharing one database
// share them with data dirs of their own.
//
// persist imports bbolt, pgx and the standard library only, nothing of ours.
package persist
