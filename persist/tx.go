package persist

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Tx is a transaction: a read-only one inside View, or the writer's shared
// transaction inside Update. Its methods let callers compose several writes
// into one commit. A Tx is valid only inside the function it was passed to.
type Tx struct {
	tx kvTx
	s  *Store
	// writer is set for transactions run by the writer goroutine.
	writer bool
	// blobs are blobs whose reference count this transaction lowered;
	// those left unreferenced are removed after the commit.
	blobs []string
	// authDirty is set once a writable transaction opened a bucket that
	// authentication reads (users, API keys); the writer then bumps the
	// store's auth generation after the commit.
	authDirty bool
	// terms is scratch space for the terms of the save being indexed.
	terms []string
}

// Bucket names. doc.go describes each bucket's keys and values.
var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketUsersByEmail = []byte("users_by_email")
	bucketKeys         = []byte("api_keys")
	bucketKeysByPrefix = []byte("api_keys_by_prefix")
	bucketKeysByUser   = []byte("api_keys_by_user")
	bucketWorkspaces   = []byte("workspaces")
	bucketMembers      = []byte("members")
	bucketFiles        = []byte("files")
	bucketFilesByPath  = []byte("files_by_path")
	bucketBlobRefs     = []byte("blob_refs")
	bucketSessions     = []byte("sessions")
	bucketSnapshots    = []byte("snapshots")
	// bucketMessages holds a session's messages, one record each:
	// sessionID|NUL|u64 BE index -> the message, opaque to the store.
	bucketMessages = []byte("session_messages")
	bucketIdxTime  = []byte("idx_sessions_by_time")
	// bucketIdxTerms held the session search postings as a bucket per
	// workspace and one per term in it, up to schema version 15; see
	// migrateFlatPostings.
	bucketIdxTerms    = []byte("idx_terms")
	bucketIdxPostings = []byte("idx_postings")
	bucketIdxDocs     = []byte("idx_docs")
)

// Keys in the meta bucket.
var (
	metaSchemaVersion = []byte("schema_version")
	metaSessionCount  = []byte("session_count")
)

// appendFillPercent is set (SetFillPercent) on buckets whose keys mostly
// arrive in ascending order. A bbolt split then leaves the left page 90%
// full instead of half full; bbolt's default of 0.5 suits random inserts.
const appendFillPercent = 0.9

// bucket returns a top-level bucket; migrations create them all.
func (tx *Tx) bucket(name []byte) bucket {
	if tx.writer && !tx.authDirty && authBucket(name) {
		tx.authDirty = true
	}
	b := tx.tx.Bucket(name)
	if b == nil {
		// Only a file that skipped migrations can get here.
		panic(fmt.Sprintf("persist: bucket %s missing", name))
	}
	return b
}

// getJSON decodes the value at key into v; it reports false if absent. The
// decoder copies, so nothing of v aliases the transaction's memory.
func getJSON(b bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("persist: decode %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("persist: encode %q: %w", key, err)
	}
	return b.Put(key, data)
}

// has reports whether key exists. Get cannot tell an empty value from a
// missing key reliably (a zero-length value may come back nil), and index
// entries have empty values.
func has(b bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return k != nil && bytes.Equal(k, key)
}

// key joins parts with a NUL byte; ids and paths never contain one, so a
// key's prefix up to a NUL names exactly one owner.
func key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// prefixKey is key(parts...) followed by the separator, for a range scan.
func prefixKey(parts ...string) []byte {
	return append(key(parts...), 0)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// timeKey encodes t so that byte order is time order, including times
// before 1970 (the sign bit is flipped).
func timeKey(t time.Time) []byte {
	return u64(uint64(t.UnixNano()) ^ (1 << 63))
}

// now is the store's clock, in UTC with no monotonic reading, so that a
// record returned by a write equals the one read back.
func now() time.Time { return time.Now().UTC().Round(0) }

// normTime makes t comparable with what a JSON round trip returns.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Round(0)
}

// counterAdd adds delta to a meta counter.
func (tx *Tx) counterAdd(name []byte, delta int64) error {
	b := tx.bucket(bucketMeta)
	n := int64(readU64(b.Get(name))) + delta
	if n < 0 {
		return fmt.Errorf("persist: counter %s would go negative", name)
	}
	return b.Put(name, u64(uint64(n)))
}

func (tx *Tx) counter(name []byte) int {
	return int(readU64(tx.bucket(bucketMeta).Get(name)))
}

// authBucket reports whether authentication reads bucket name, so that a
// write to it must invalidate cached credentials.
func authBucket(name []byte) bool {
	return bytes.Equal(name, bucketUsers) || bytes.Equal(name, bucketKeys) || bytes.Equal(name, bucketKeysByPrefix)
}

// record reads the JSON record id of bucket, or returns ErrNotFound naming
// what was looked for ("session", "job", …).
func record[T any](tx *Tx, bucket []byte, what, id string) (T, error) {
	var v T
	ok, err := getJSON(tx.bucket(bucket), []byte(id), &v)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, fmt.Errorf("persist: %s %s: %w", what, id, ErrNotFound)
	}
	return v, nil
}

// view runs a Tx getter in a read transaction.
func view[T any](s *Store, get func(*Tx, string) (T, error), id string) (T, error) {
	var v T
	err := s.View(func(tx *Tx) error {
		var err error
		v, err = get(tx, id)
		return err
	})
	return v, err
}
