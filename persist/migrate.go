package persist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// migrations brings the file from schema version i to i+1 at index i. They
// run in order, all in one transaction at Open, so a file is never left
// between two versions, except that one too large for a transaction does
// its work in bounded parts, each committed (errMigrateMore), before the
// version moves past it. Append only: a released migration never changes.
var migrations = []func(kvTx) error{
	migrateCreateBuckets,
	migrateJobBuckets,
	migrateProviderSettingBuckets,
	migrateTenancyBuckets,
	migrateMessageBucket,
	migrateMemoryBuckets,
	migrateCorpusBuckets,
	migrateToolBuckets,
	migrateSkillBuckets,
	migratePlanBuckets,
	migrateInvitationBuckets,
	migrateAgentBuckets,
	migrateJobUserIndex,
	migrateClusterBuckets,
	migrateJobRunOwnSessions,
	migrateFlatPostings,
}

// currentSchema is the version a file has once Open returns.
var currentSchema = len(migrations)

// LatestSchema returns the schema version this build writes.
func LatestSchema() int { return currentSchema }

// errMigrateMore is what a migration too large for one transaction
// returns once it did a bounded part of its work: migrate commits that
// part, with the schema version still before the migration, and runs it
// again in a new transaction. A process that stops in between resumes
// where the last commit left off.
var errMigrateMore = errors.New("persist: migration continues")

// migrate applies the pending migrations and returns the schema version.
func migrate(eng engine) (int, error) {
	for {
		version, more := 0, false
		err := eng.Update(func(tx kvTx) error {
			version, more = 0, false
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if v := meta.Get(metaSchemaVersion); v != nil {
				if version, err = strconv.Atoi(string(v)); err != nil {
					return fmt.Errorf("bad schema_version %q: %w", v, err)
				}
			}
			if version > currentSchema {
				return fmt.Errorf("schema version %d is newer than this build's %d", version, currentSchema)
			}
			for ; version < currentSchema; version++ {
				err := migrations[version](tx)
				if errors.Is(err, errMigrateMore) {
					more = true
					break
				}
				if err != nil {
					return fmt.Errorf("migration to version %d: %w", version+1, err)
				}
			}
			return meta.Put(metaSchemaVersion, []byte(strconv.Itoa(version)))
		})
		if err != nil {
			return 0, fmt.Errorf("persist: migrate: %w", err)
		}
		if !more {
			return version, nil
		}
	}
}

// migrateCreateBuckets is version 1: the initial bucket layout.
func migrateCreateBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketUsers, bucketUsersByEmail,
		bucketKeys, bucketKeysByPrefix, bucketKeysByUser,
		bucketWorkspaces, bucketMembers,
		bucketFiles, bucketFilesByPath, bucketBlobRefs,
		bucketSessions, bucketSnapshots,
		bucketIdxTime, bucketIdxTerms, bucketIdxDocs,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateJobBuckets is schema version 2: the buckets of scheduled jobs.
func migrateJobBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketJobs, bucketJobsByWorkspace, bucketJobRuns, bucketJobRunKeys, bucketJobRunning,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateTenancyBuckets is schema version 4: organizations, groups,
// workspace grants with roles, user preferences, the audit log and
// quotas. Memberships written before it had no role and were all owners of
// personal workspaces: they become admin grants. Stored-byte counters start
// from the files already stored.
func migrateTenancyBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketOrgs, bucketOrgMembers, bucketOrgMembersByUser,
		bucketGroups, bucketGroupsByOrg, bucketGroupMembers, bucketGroupMembersByUser,
		bucketWSGrants, bucketGroupGrants, bucketWorkspacesByOrg, bucketUserPrefs,
		bucketAudit, bucketAuditByActor, bucketAuditByResource, bucketAuditByWS, bucketAuditByOrg,
		bucketQuotaLimits, bucketQuotaUsage, bucketStoredBytes,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	members, grants := tx.Bucket(bucketMembers), tx.Bucket(bucketWSGrants)
	var keys [][]byte
	if err := members.ForEach(func(k, v []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		role := memberRole(members.Get(k))
		user, ws, ok := bytes.Cut(k, []byte{0})
		if !ok {
			continue
		}
		if err := members.Put(k, []byte(role)); err != nil {
			return err
		}
		if err := grants.Put(key(string(ws), string(user)), []byte(role)); err != nil {
			return err
		}
	}
	files, stored := tx.Bucket(bucketFiles), tx.Bucket(bucketStoredBytes)
	counts := map[string]int64{}
	if err := files.ForEach(func(k, v []byte) error {
		var f File
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("decode file %s: %w", k, err)
		}
		counts[string(key(QuotaWorkspace, f.WorkspaceID))] += f.Size
		if f.CreatedBy != "" {
			counts[string(key(QuotaUser, f.CreatedBy))] += f.Size
		}
		return nil
	}); err != nil {
		return err
	}
	for k, n := range counts {
		if n > 0 {
			if err := stored.Put([]byte(k), u64(uint64(n))); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrateMessageBucket adds the bucket of session messages, which are
// stored one record each instead of inside every snapshot. Snapshots
// written before still hold their messages; the session moves them out on
// its next save.
func migrateMessageBucket(tx kvTx) error {
	_, err := tx.CreateBucketIfNotExists(bucketMessages)
	return err
}

// migrateMemoryBuckets adds the buckets of long-term memories and their
// per-owner indexes (see memories.go).
func migrateMemoryBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketMemories, bucketMemoriesByOwner, bucketMemoriesByNorm, bucketMemoryPostings, bucketMemoryTerms,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateCorpusBuckets is schema version 7: corpora, their files, jobs,
// chunks and vectors, and the knowledge settings.
func migrateCorpusBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketCorpora, bucketCorporaByWS, bucketCorpusFiles, bucketCorpusJobs,
		bucketCorpusChunks, bucketCorpusChunkKeys, bucketCorpusVectors, bucketKnowledgeSettings,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateToolBuckets adds the buckets of MCP servers and the web search
// settings (see mcp.go).
func migrateToolBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketMCPServers, bucketMCPServersByWorkspace, bucketWebSearch} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateSkillBuckets adds the buckets of skills, their files and the
// repositories they are synced from (see skills.go).
func migrateSkillBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketSkills, bucketSkillNames, bucketSkillFiles, bucketSkillRepos, bucketSkillsByRepo} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migratePlanBuckets adds the buckets of plans and their versions (see
// plans.go).
func migratePlanBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketPlans, bucketPlanVersions, bucketPlansByWorkspace, bucketPlansOpen} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateAgentBuckets adds the buckets of agent profiles and their
// versions (see agents.go).
func migrateAgentBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketAgents, bucketAgentVersions, bucketAgentSlugs} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateJobUserIndex adds the index of jobs by the user they run as,
// from the jobs stored: the jobs cap is counted from it inside the
// transaction that creates or reassigns a job.
func migrateJobUserIndex(tx kvTx) error {
	byUser, err := tx.CreateBucketIfNotExists(bucketJobsByUser)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketJobsByUser, err)
	}
	var keys [][]byte
	if err := tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("decode job %s: %w", k, err)
		}
		keys = append(keys, key(j.UserID, j.ID))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := byUser.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// migrateClusterBuckets adds the buckets of session owner epochs (see
// owners.go) and of each job's latest due run (see jobs.go).
func migrateClusterBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketSessionOwners, bucketJobRunDue} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateJobRunOwnSessions marks the runs recorded before JobRun.OwnSession
// whose session the run made, so that those sessions too go with their
// runs. A run made its session when the session is no older than the run:
// a session a job names existed before any of its runs started.
func migrateJobRunOwnSessions(tx kvTx) error {
	runs, sessions := tx.Bucket(bucketJobRuns), tx.Bucket(bucketSessions)
	type fix struct{ k, v []byte }
	var fixes []fix
	if err := runs.ForEach(func(k, v []byte) error {
		var r JobRun
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode job run %s: %w", r.ID, err)
		}
		if r.OwnSession || r.SessionID == "" {
			return nil
		}
		raw := sessions.Get([]byte(r.SessionID))
		if raw == nil {
			return nil
		}
		var sess Session
		if err := json.Unmarshal(raw, &sess); err != nil {
			return fmt.Errorf("decode session %s: %w", r.SessionID, err)
		}
		if sess.CreatedAt.Before(r.StartedAt) {
			return nil
		}
		r.OwnSession = true
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fixes = append(fixes, fix{bytes.Clone(k), b})
		return nil
	}); err != nil {
		return err
	}
	for _, f := range fixes {
		if err := runs.Put(f.k, f.v); err != nil {
			return err
		}
	}
	return nil
}

// flatPostingsPerTx bounds the postings one transaction of
// migrateFlatPostings moves: a transaction keeps every page it changes in
// memory until it commits, and a store of 100,000 sessions has millions
// of postings.
var flatPostingsPerTx = 200_000

// migrateFlatPostings moves the session search postings from a bucket per
// workspace and term (idx_terms/<wsID>/<term>/<position>) into one bucket
// keyed workspaceID|term|position (see postingPrefix): a save then puts one
// key per new term instead of opening, and rewriting, a nested bucket for
// it. The postings are the same; the old bucket goes. It moves at most
// flatPostingsPerTx postings a transaction (errMigrateMore), deleting what
// it moved, so a store of any size migrates in bounded memory and a stop
// in between loses nothing.
func migrateFlatPostings(tx kvTx) error {
	posts, err := tx.CreateBucketIfNotExists(bucketIdxPostings)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketIdxPostings, err)
	}
	old := tx.Bucket(bucketIdxTerms)
	if old == nil {
		return nil
	}
	posts.SetFillPercent(appendFillPercent)
	names := func(b bucket) ([][]byte, error) {
		var out [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if v == nil {
				out = append(out, bytes.Clone(k))
			}
			return nil
		})
		return out, err
	}
	wss, err := names(old)
	if err != nil {
		return err
	}
	budget := flatPostingsPerTx
	// A term's positions are read into one slab, then put: the engines
	// copy a key on Put, so one buffer serves every key.
	var slab []byte
	var ends []int
	var k []byte
	for _, ws := range wss {
		wb := old.Bucket(ws)
		terms, err := names(wb)
		if err != nil {
			return err
		}
		for _, term := range terms {
			tb := wb.Bucket(term)
			slab, ends = slab[:0], ends[:0]
			whole := true
			c := tb.Cursor()
			for pos, _ := c.First(); pos != nil; pos, _ = c.Next() {
				if len(ends) == budget {
					whole = false
					break
				}
				slab = append(slab, pos...)
				ends = append(ends, len(slab))
			}
			prefix := postingPrefix(string(ws), string(term))
			start := 0
			for _, end := range ends {
				k = append(append(k[:0], prefix...), slab[start:end]...)
				if err := posts.Put(k, nil); err != nil {
					return err
				}
				start = end
			}
			budget -= len(ends)
			if !whole {
				// Part of one large term: delete what moved, go on next time.
				start = 0
				for _, end := range ends {
					if err := tb.Delete(slab[start:end]); err != nil {
						return err
					}
					start = end
				}
				return errMigrateMore
			}
			if err := wb.DeleteBucket(term); err != nil {
				return err
			}
			if budget == 0 {
				return errMigrateMore
			}
		}
		if err := old.DeleteBucket(ws); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(bucketIdxTerms)
}
