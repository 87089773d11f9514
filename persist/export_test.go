package persist

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

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

// BlobPath exposes where a blob lives.
func (s *Store) BlobPath(sha string) string { return s.blobPath(sha) }

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

// RollBackLastMigration makes s's data what the previous schema version
// wrote: it drops the top-level buckets the last migration creates and
// sets the schema version back by one. Call it only while nothing else
// writes, then reopen the store.
func (s *Store) RollBackLastMigration() error {
	errAbort := errors.New("abort")
	rec := &recordingTx{}
	err := s.eng.Update(func(t kvTx) error {
		rec.kvTx, rec.created = t, nil
		if err := migrations[len(migrations)-1](rec); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		return fmt.Errorf("record the last migration: %w", err)
	}
	return s.eng.Update(func(t kvTx) error {
		for _, name := range rec.created {
			if err := t.DeleteBucket(name); err != nil {
				return err
			}
		}
		return t.Bucket(bucketMeta).Put(metaSchemaVersion, []byte(strconv.Itoa(len(migrations)-1)))
	})
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

// SameCreation exposes the save's check that two encodings of a session
// record have the same id, workspace, user and creation time.
func SameCreation(a, b []byte) bool { return sameCreation(a, b) }

// MergeTerms exposes the merge of new terms into a reverse record.
func MergeTerms(old []byte, terms []string) ([]byte, []string) { return mergeTerms(old, terms) }
