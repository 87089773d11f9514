package persist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchPut puts v at k in a scratch bucket: a write of known size for
// measuring the writer alone.
func (tx *Tx) BenchPut(k, v []byte) error {
	b, err := tx.tx.CreateBucketIfNotExists([]byte("bench"))
	if err != nil {
		return err
	}
	b.SetFillPercent(appendFillPercent)
	return b.Put(k, v)
}

// BoltDB exposes the bbolt handle, to compare group commit with plain
// per-write transactions.
func (s *Store) BoltDB() *bolt.DB { return s.db }

// BlobPath exposes where a blob lives on bbolt.
func (s *Store) BlobPath(sha string) string { return s.blobs.(*dirBlobs).path(sha) }

// HasBlob reports whether the store's blob backend holds the blob.
func (s *Store) HasBlob(sha string) (bool, error) {
	sizes, err := s.blobs.sizes([]string{sha})
	_, ok := sizes[sha]
	return ok, err
}

// BlobLeftovers counts what puts under way left in the backend: temp
// files on bbolt, staged chunks and chunks without their blob on
// PostgreSQL.
func (s *Store) BlobLeftovers() (int, error) {
	switch b := s.blobs.(type) {
	case *dirBlobs:
		tmps, err := os.ReadDir(b.tmpDir)
		return len(tmps), err
	case *pgBlobs:
		var n int
		err := b.e.pool.QueryRow(b.e.ctx, `SELECT count(*) FROM blob_chunks c WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha = c.sha)`).Scan(&n)
		return n, err
	}
	return 0, errors.New("unknown blob backend")
}

// BlobChunks counts a blob's chunks on PostgreSQL (-1 on bbolt).
func (s *Store) BlobChunks(sha string) (int, error) {
	b, ok := s.blobs.(*pgBlobs)
	if !ok {
		return -1, nil
	}
	var n int
	err := b.e.pool.QueryRow(b.e.ctx, `SELECT count(*) FROM blob_chunks WHERE sha = $1`, sha).Scan(&n)
	return n, err
}

// AgeBlobs makes every blob on PostgreSQL look placed d earlier, and
// leased when leased is set, for sweep tests.
func (s *Store) AgeBlobs(d time.Duration, leased bool) error {
	b, ok := s.blobs.(*pgBlobs)
	if !ok {
		return nil
	}
	lease := any(nil)
	if leased {
		lease = "another-host"
	}
	_, err := b.e.pool.Exec(b.e.ctx, `UPDATE blobs SET placed = placed - $1 * interval '1 second', lease = $2`, d.Seconds(), lease)
	return err
}

// PGChunkBytes is the PostgreSQL blob chunk size.
const PGChunkBytes = pgChunkBytes

// Tokenize exposes the search tokenizer.
func Tokenize(text string) []string {
	var out []string
	tokenize(text, func(t string) { out = append(out, t) })
	return out
}

// Queued returns the number of writes waiting for the writer.
func (s *Store) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// SetMaxPrefixPostings changes when a query prefix is checked per match
// rather than collected, until the returned func restores it.
func SetMaxPrefixPostings(n int) (restore func()) {
	old := maxPrefixPostings
	maxPrefixPostings = n
	return func() { maxPrefixPostings = old }
}

// RawTx is an engine transaction, for tests that read or tamper with
// buckets directly on either engine.
type RawTx = kvTx

// RawView runs fn in a read transaction of the engine.
func (s *Store) RawView(fn func(RawTx) error) error {
	return s.eng.View(func(t kvTx) error { return fn(t) })
}

// RawUpdate runs fn in a write transaction of the engine, outside the
// writer: call it only while nothing else writes.
func (s *Store) RawUpdate(fn func(RawTx) error) error {
	return s.eng.Update(func(t kvTx) error { return fn(t) })
}

// BenchAdd adds one to the u64 at k in the scratch bucket.
func (tx *Tx) BenchAdd(k []byte) error {
	b := tx.bucket([]byte("bench"))
	return b.Put(k, u64(readU64(b.Get(k))+1))
}

// recordingTx records the top-level buckets a migration creates.
type recordingTx struct {
	kvTx
	created [][]byte
}

func (r *recordingTx) CreateBucketIfNotExists(name []byte) (bucket, error) {
	r.created = append(r.created, bytes.Clone(name))
	return r.kvTx.CreateBucketIfNotExists(name)
}

// undoMigrations holds, by migration, how a test takes a store's data back
// to the previous schema where dropping the buckets the migration creates
// is not enough: it rewrites the data in the previous layout.
var undoMigrations = map[uintptr]func(kvTx) error{
	reflect.ValueOf(migrateFlatPostings).Pointer(): nestPostings,
}

// FlatPostingsSchema is the schema version that moved the session search
// postings into one flat bucket.
var FlatPostingsSchema = func() int {
	for i, m := range migrations {
		if reflect.ValueOf(m).Pointer() == reflect.ValueOf(migrateFlatPostings).Pointer() {
			return i + 1
		}
	}
	panic("no flat postings migration")
}()

// RollBackLastMigration makes s's data what the previous schema version
// wrote: it drops the top-level buckets the last migration creates (or
// undoes it, see undoMigrations) and sets the schema version back by one.
// Call it only while nothing else writes, then reopen the store.
func (s *Store) RollBackLastMigration() error { return s.rollBack(len(migrations) - 1) }

// RollBackToSchema rolls the migrations back, the last first, until s's
// data is what schema version v wrote.
func (s *Store) RollBackToSchema(v int) error {
	for i := len(migrations) - 1; i >= v; i-- {
		if err := s.rollBack(i); err != nil {
			return err
		}
	}
	return nil
}

// rollBack takes s's data from schema version i+1 back to i.
func (s *Store) rollBack(i int) error {
	if undo, ok := undoMigrations[reflect.ValueOf(migrations[i]).Pointer()]; ok {
		return s.eng.Update(func(t kvTx) error {
			if err := undo(t); err != nil {
				return err
			}
			return t.Bucket(bucketMeta).Put(metaSchemaVersion, []byte(strconv.Itoa(i)))
		})
	}
	errAbort := errors.New("abort")
	rec := &recordingTx{}
	err := s.eng.Update(func(t kvTx) error {
		rec.kvTx, rec.created = t, nil
		if err := migrations[i](rec); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		return fmt.Errorf("record migration %d: %w", i+1, err)
	}
	return s.eng.Update(func(t kvTx) error {
		for _, name := range rec.created {
			if err := t.DeleteBucket(name); err != nil {
				return err
			}
		}
		return t.Bucket(bucketMeta).Put(metaSchemaVersion, []byte(strconv.Itoa(i)))
	})
}

// SetFlatPostingsPerTx sets how many postings one transaction of the
// flat-postings migration moves; the returned func restores the bound.
func SetFlatPostingsPerTx(n int) func() {
	old := flatPostingsPerTx
	flatPostingsPerTx = n
	return func() { flatPostingsPerTx = old }
}

// MigrateFlatPostingsPart runs one part of the flat-postings migration
// and commits it, as a process that stops right after would leave the
// store, and reports whether more is left.
func (s *Store) MigrateFlatPostingsPart() (more bool, err error) {
	err = s.eng.Update(func(tx kvTx) error {
		err := migrateFlatPostings(tx)
		if errors.Is(err, errMigrateMore) {
			more = true
			return nil
		}
		return err
	})
	return more, err
}

// nestPostings writes the session search postings in the layout before
// migrateFlatPostings: idx_terms/<wsID>/<term>/<position>.
func nestPostings(t kvTx) error {
	all, err := t.CreateBucketIfNotExists(bucketIdxTerms)
	if err != nil {
		return err
	}
	var keys [][]byte
	if err := t.Bucket(bucketIdxPostings).ForEach(func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		ws, rest, _ := bytes.Cut(k, []byte{0})
		term, pos, _ := bytes.Cut(rest, []byte{0})
		wb, err := all.CreateBucketIfNotExists(ws)
		if err != nil {
			return err
		}
		tb, err := wb.CreateBucketIfNotExists(term)
		if err != nil {
			return err
		}
		if err := tb.Put(pos, nil); err != nil {
			return err
		}
	}
	return t.DeleteBucket(bucketIdxPostings)
}

// Dump returns every key of the store as "bucket path\x00key" → value,
// nested buckets as "<bucket>": the same for two stores that hold the
// same records, whatever their engines.
func (s *Store) Dump() (map[string]string, error) {
	out := map[string]string{}
	put := func(path string, k, v []byte) {
		if v == nil {
			out[path+"\x00"+string(k)] = "<bucket>"
		} else {
			out[path+"\x00"+string(k)] = string(v)
		}
	}
	if s.db != nil {
		err := s.db.View(func(btx *bolt.Tx) error {
			return walkBolt(btx, func(r kvRow) error {
				put(r.bucket, r.key, r.value)
				return nil
			}, func(string, uint64) error { return nil })
		})
		return out, err
	}
	err := s.eng.View(func(t kvTx) error {
		var walk func(b *pgBucket) error
		walk = func(b *pgBucket) error {
			return b.ForEach(func(k, v []byte) error {
				put(b.path, k, v)
				if v == nil {
					return walk(b.child(k))
				}
				return nil
			})
		}
		return walk(t.(*pgTx).root())
	})
	return out, err
}

// PlaceBlobForTest stores content as a blob no record references, as a
// put that crashed before its record committed leaves it.
func (s *Store) PlaceBlobForTest(content io.Reader) error {
	st, err := s.blobs.stage(context.Background(), content, 0)
	if err != nil {
		return err
	}
	if err := st.place(); err != nil {
		st.discard()
		return err
	}
	st.placed()
	return nil
}

// ForgetBlob deletes a blob from the PostgreSQL tables, as a store of an
// earlier version, which kept the bytes in a blob dir, left it.
func (s *Store) ForgetBlob(sha string) error {
	b := s.blobs.(*pgBlobs)
	_, err := b.e.pool.Exec(b.e.ctx, `WITH gone AS (DELETE FROM blobs WHERE sha = $1 RETURNING sha)
		DELETE FROM blob_chunks WHERE sha IN (SELECT sha FROM gone)`, sha)
	return err
}

// SameCreation exposes the save's check that two encodings of a session
// record have the same id, workspace, user and creation time.
func SameCreation(a, b []byte) bool { return sameCreation(a, b) }

// MergeTerms exposes the merge of new terms into a reverse record.
func MergeTerms(old []byte, terms []string) ([]byte, []string) { return mergeTerms(old, terms) }
