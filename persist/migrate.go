package persist

import (
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// migrations brings the file from schema version i to i+1 at index i. They
// run in order, all in one transaction at Open, so a file is never left
// between two versions. Append only: a released migration never changes.
var migrations = []func(*bolt.Tx) error{
	migrateCreateBuckets,
	migrateJobBuckets,
	migrateProviderSettingBuckets,
}

// currentSchema is the version a file has once Open returns.
var currentSchema = len(migrations)

// LatestSchema returns the schema version this build writes.
func LatestSchema() int { return currentSchema }

// migrate applies the pending migrations and returns the schema version.
func migrate(db *bolt.DB) (int, error) {
	version := 0
	err := db.Update(func(tx *bolt.Tx) error {
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
			if err := migrations[version](tx); err != nil {
				return fmt.Errorf("migration to version %d: %w", version+1, err)
			}
		}
		return meta.Put(metaSchemaVersion, []byte(strconv.Itoa(version)))
	})
	if err != nil {
		return 0, fmt.Errorf("persist: migrate: %w", err)
	}
	return version, nil
}

// migrateCreateBuckets is version 1: the initial bucket layout.
func migrateCreateBuckets(tx *bolt.Tx) error {
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
func migrateJobBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{
		bucketJobs, bucketJobsByWorkspace, bucketJobRuns, bucketJobRunKeys, bucketJobRunning,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}
