package persist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// Copying a bbolt store into PostgreSQL: what `seshat migrate` does. The
// copy is of the key-value model itself, bucket by bucket and key by key,
// so every record the repositories keep (the audit chain, the session
// search postings, counters and sequences included) arrives byte for byte
// and nothing needs translating. The rows go in COPY batches inside one
// transaction: a copy that fails leaves the target as it found it.

// CopyOptions configures CopyToPostgres.
type CopyOptions struct {
	// Replace lets the copy empty a target that already holds records.
	// Without it such a target fails the copy with ErrConflict.
	Replace bool
	// BatchRows is the rows sent in one COPY. If zero, 5000.
	BatchRows int
	// Progress, if set, is called after each batch with the rows it sent.
	Progress func(rows int64)
}

// CopyReport says what a copy wrote and checked.
type CopyReport struct {
	// Buckets counts buckets, nested ones included.
	Buckets int64
	// Rows counts keys, nested buckets' keys included.
	Rows int64
	// Bytes sums the keys' and values' lengths.
	Bytes int64
	// Sequences counts buckets with a non-zero sequence.
	Sequences int64
	// SchemaVersion is the schema of the copied records.
	SchemaVersion int
}

// bucketTally is what one bucket holds, for checking the copy.
type bucketTally struct {
	rows, bytes int64
}

// kvRow is a row of the PostgreSQL engine's kv table.
type kvRow struct {
	bucket     string
	key, value []byte
}

// CountRows returns the keys of every bucket of a bbolt store, nested
// buckets' keys included: the total of a copy's progress.
func (s *Store) CountRows() (int64, error) {
	if s.db == nil {
		return 0, fmt.Errorf("persist: count rows: the store is not on bbolt: %w", ErrInvalid)
	}
	var n int64
	err := s.db.View(func(btx *bolt.Tx) error {
		tally, _ := boltTally(btx)
		for _, t := range tally {
			n += t.rows
		}
		return nil
	})
	return n, err
}

// boltTally walks every bucket of btx and returns, per PostgreSQL bucket
// path, the rows the copy writes and their bytes, and the non-zero
// sequences.
func boltTally(btx *bolt.Tx) (map[string]bucketTally, map[string]uint64) {
	tally := map[string]bucketTally{}
	seqs := map[string]uint64{}
	_ = walkBolt(btx, func(r kvRow) error {
		t := tally[r.bucket]
		t.rows++
		t.bytes += int64(len(r.key) + len(r.value))
		tally[r.bucket] = t
		return nil
	}, func(path string, seq uint64) error {
		seqs[path] = seq
		return nil
	})
	return tally, seqs
}

// walkBolt calls row for every key of btx as the PostgreSQL engine keeps
// it (a bucket is a key of its parent with a nil value, the top-level
// buckets keys of the root bucket ""), parents before their children, and
// seq for every bucket whose sequence is not zero. Keys and values are
// valid until btx ends.
func walkBolt(btx *bolt.Tx, row func(kvRow) error, seq func(path string, n uint64) error) error {
	var walk func(b *bolt.Bucket, path string) error
	walk = func(b *bolt.Bucket, path string) error {
		if n := b.Sequence(); n != 0 {
			if err := seq(path, n); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if v != nil {
				return row(kvRow{bucket: path, key: k, value: v})
			}
			if err := row(kvRow{bucket: path, key: k}); err != nil {
				return err
			}
			return walk(b.Bucket(k), pgChildPath(path, k))
		})
	}
	return btx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if err := row(kvRow{bucket: "", key: name}); err != nil {
			return err
		}
		return walk(b, pgChildPath("", name))
	})
}

// CopyToPostgres copies every bucket, key and sequence of src, a store on
// bbolt, into the PostgreSQL database dst names (URL and PostgresSchema;
// the tables are created if missing), then reads the target back and
// checks that every bucket holds as many keys and bytes as the source's,
// and every sequence matches. src must not change meanwhile: the caller
// holds it open, which keeps other processes out of its data dir, and
// writes nothing to it. File blobs are not rows; see CopyBlobs.
func CopyToPostgres(ctx context.Context, src *Store, dst Config, opts CopyOptions) (CopyReport, error) {
	if src.db == nil {
		return CopyReport{}, fmt.Errorf("persist: copy: the source store is not on bbolt: %w", ErrInvalid)
	}
	if dst.Dir == "" {
		dst.Dir = src.cfg.Dir
	}
	dst, err := dst.withDefaults()
	if err != nil {
		return CopyReport{}, err
	}
	if !dst.postgres() {
		return CopyReport{}, fmt.Errorf("persist: copy: target %q is not a postgres:// URL: %w", redactURL(dst.URL), ErrInvalid)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = 5000
	}
	eng, err := openPostgres(dst)
	if err != nil {
		return CopyReport{}, err
	}
	pg := eng.(*pgEngine)
	defer pg.Close()

	report := CopyReport{SchemaVersion: src.schema}
	var tally map[string]bucketTally
	var seqs map[string]uint64
	kv := pgx.Identifier{dst.PostgresSchema, "kv"}
	kvSeq := pgx.Identifier{dst.PostgresSchema, "kv_sequences"}
	err = src.db.View(func(btx *bolt.Tx) error {
		tally, seqs = boltTally(btx)
		return pgx.BeginFunc(ctx, pg.pool, func(tx pgx.Tx) error {
			// Hosts starting on this database meanwhile wait at their
			// schema step instead of migrating half-copied records.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgSchemaLock); err != nil {
				return err
			}
			var used bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+kv.Sanitize()+`) OR EXISTS (SELECT 1 FROM `+kvSeq.Sanitize()+`)`).Scan(&used); err != nil {
				return err
			}
			if used {
				if !opts.Replace {
					return fmt.Errorf("persist: copy: the target %s (schema %s) already holds records: %w", redactURL(dst.URL), dst.PostgresSchema, ErrConflict)
				}
				if _, err := tx.Exec(ctx, `TRUNCATE `+kv.Sanitize()+`, `+kvSeq.Sanitize()); err != nil {
					return err
				}
			}
			batch := make([][]any, 0, opts.BatchRows)
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				if _, err := tx.CopyFrom(ctx, kv, []string{"bucket", "key", "value"}, pgx.CopyFromRows(batch)); err != nil {
					return err
				}
				if opts.Progress != nil {
					opts.Progress(int64(len(batch)))
				}
				batch = batch[:0]
				return nil
			}
			var seqRows [][]any
			err := walkBolt(btx, func(r kvRow) error {
				report.Rows++
				report.Bytes += int64(len(r.key) + len(r.value))
				if r.value == nil {
					report.Buckets++
					batch = append(batch, []any{r.bucket, r.key, nil})
				} else {
					batch = append(batch, []any{r.bucket, r.key, r.value})
				}
				if len(batch) == opts.BatchRows {
					return flush()
				}
				return ctx.Err()
			}, func(path string, n uint64) error {
				seqRows = append(seqRows, []any{path, int64(n)})
				return nil
			})
			if err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			report.Sequences = int64(len(seqRows))
			_, err = tx.CopyFrom(ctx, kvSeq, []string{"bucket", "seq"}, pgx.CopyFromRows(seqRows))
			return err
		})
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return report, err
		}
		return report, fmt.Errorf("persist: copy to %s: %w", redactURL(dst.URL), err)
	}
	if err := verifyCopy(ctx, pg, kv, kvSeq, tally, seqs); err != nil {
		return report, err
	}
	return report, nil
}

// verifyCopy reads the target's tables back and compares each bucket's
// keys and bytes, and the sequences, with the source's.
func verifyCopy(ctx context.Context, pg *pgEngine, kv, kvSeq pgx.Identifier, want map[string]bucketTally, wantSeqs map[string]uint64) error {
	got := map[string]bucketTally{}
	rows, err := pg.pool.Query(ctx, `SELECT bucket, count(*), coalesce(sum(length(key) + coalesce(length(value), 0)), 0)::bigint FROM `+kv.Sanitize()+` GROUP BY bucket`)
	if err != nil {
		return fmt.Errorf("persist: verify the copy: %w", err)
	}
	for rows.Next() {
		var b string
		var t bucketTally
		if err := rows.Scan(&b, &t.rows, &t.bytes); err != nil {
			rows.Close()
			return fmt.Errorf("persist: verify the copy: %w", err)
		}
		got[b] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("persist: verify the copy: %w", err)
	}
	gotSeqs := map[string]uint64{}
	rows, err = pg.pool.Query(ctx, `SELECT bucket, seq FROM `+kvSeq.Sanitize())
	if err != nil {
		return fmt.Errorf("persist: verify the copy: %w", err)
	}
	for rows.Next() {
		var b string
		var n int64
		if err := rows.Scan(&b, &n); err != nil {
			rows.Close()
			return fmt.Errorf("persist: verify the copy: %w", err)
		}
		gotSeqs[b] = uint64(n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("persist: verify the copy: %w", err)
	}
	var p problems
	for _, b := range sortedKeys(want, got) {
		if w, g := want[b], got[b]; w != g {
			p.add("bucket %q: source has %d keys (%d bytes), target %d keys (%d bytes)", b, w.rows, w.bytes, g.rows, g.bytes)
		}
	}
	for _, b := range sortedKeys(wantSeqs, gotSeqs) {
		if w, g := wantSeqs[b], gotSeqs[b]; w != g {
			p.add("bucket %q: source sequence %d, target %d", b, w, g)
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("persist: the copy does not match its source: %w", errors.Join(p...))
	}
	return nil
}

// sortedKeys returns the keys of a and b, sorted, each once.
func sortedKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// BlobReport says what CopyBlobs did.
type BlobReport struct {
	// Blobs counts the blobs the records reference.
	Blobs int64
	// Bytes sums their sizes.
	Bytes int64
	// Copied counts the blobs written to the target (the others were
	// there with the same bytes already).
	Copied int64
}

// BlobBytes sums the sizes of the blobs src's records reference.
func (s *Store) BlobBytes() (int64, error) {
	var n int64
	err := s.eachBlob(func(sha string) error {
		fi, err := os.Stat(s.blobPath(sha))
		if err != nil {
			return fmt.Errorf("persist: blob %s: %w", sha, err)
		}
		n += fi.Size()
		return nil
	})
	return n, err
}

// eachBlob calls fn with the SHA-256 of every blob the records reference.
func (s *Store) eachBlob(fn func(sha string) error) error {
	var shas []string
	err := s.View(func(tx *Tx) error {
		return tx.bucket(bucketBlobRefs).ForEach(func(k, _ []byte) error {
			if validSHA(string(k)) {
				shas = append(shas, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, sha := range shas {
		if err := fn(sha); err != nil {
			return err
		}
	}
	return nil
}

// BlobDirOf is where a store on data dir dir keeps file contents unless
// Config.BlobDir says otherwise.
func BlobDirOf(dir string) string { return filepath.Join(dir, blobDirName) }

// CopyBlobs copies every blob src's records reference into the blob dir
// dstBlobs (see BlobDirOf), checking each one's SHA-256 on the way;
// progress, if set, receives the bytes as they are read. A blob already in
// the target with the right size is checked and kept. With dstBlobs the
// source's own blob dir, the blobs are only counted and checked: they are
// in place.
func CopyBlobs(ctx context.Context, src *Store, dstBlobs string, progress func(n int64)) (BlobReport, error) {
	var r BlobReport
	same, err := sameDir(src.blobDir, dstBlobs)
	if err != nil {
		return r, err
	}
	if !same {
		if err := os.MkdirAll(filepath.Join(dstBlobs, blobTmpDirName), 0o700); err != nil {
			return r, fmt.Errorf("persist: create the target blob dir: %w", err)
		}
	}
	err = src.eachBlob(func(sha string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Blobs++
		dst := filepath.Join(dstBlobs, sha[:2], sha)
		if same {
			dst = ""
		} else if fi, err := os.Stat(dst); err == nil {
			// Already there: check the bytes instead of writing them.
			srcFI, err := os.Stat(src.blobPath(sha))
			if err == nil && srcFI.Size() == fi.Size() {
				n, err := hashFile(dst, sha, progress)
				r.Bytes += n
				return err
			}
		}
		n, err := copyBlob(src.blobPath(sha), dst, sha, src.cfg.NoSync, progress)
		r.Bytes += n
		if err == nil && dst != "" {
			r.Copied++
		}
		return err
	})
	return r, err
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, fmt.Errorf("persist: blob dir: %w", err)
	}
	fb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("persist: target blob dir: %w", err)
	}
	return os.SameFile(fa, fb), nil
}

// hashFile reads name and fails unless its SHA-256 is sha.
func hashFile(name, sha string, progress func(int64)) (int64, error) {
	return copyBlob(name, "", sha, true, progress)
}

// copyBlob copies src to dst (through a temp file, renamed once synced)
// checking the SHA-256, or with dst empty only checks src.
func copyBlob(src, dst, sha string, noSync bool, progress func(int64)) (n int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("persist: blob %s: %w", sha, err)
	}
	defer in.Close()
	h := sha256.New()
	w := io.Writer(h)
	var out *os.File
	if dst != "" {
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return 0, fmt.Errorf("persist: create blob dir: %w", err)
		}
		if out, err = os.CreateTemp(filepath.Join(filepath.Dir(filepath.Dir(dst)), blobTmpDirName), "copy-*"); err != nil {
			return 0, fmt.Errorf("persist: create temp file: %w", err)
		}
		defer func() {
			if err != nil {
				_ = out.Close()
				_ = os.Remove(out.Name())
			}
		}()
		w = io.MultiWriter(out, h)
	}
	n, err = io.Copy(w, progressReader{r: in, fn: progress})
	if err != nil {
		return n, fmt.Errorf("persist: copy blob %s: %w", sha, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return n, fmt.Errorf("persist: blob %s holds bytes whose SHA-256 is %s", sha, got)
	}
	if out == nil {
		return n, nil
	}
	if !noSync {
		if err = out.Sync(); err != nil {
			return n, fmt.Errorf("persist: sync blob: %w", err)
		}
	}
	if err = out.Close(); err != nil {
		return n, fmt.Errorf("persist: close blob: %w", err)
	}
	if err = os.Rename(out.Name(), dst); err != nil {
		return n, fmt.Errorf("persist: place blob: %w", err)
	}
	if !noSync {
		if err = syncDir(filepath.Dir(dst)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(int64(n))
	}
	return n, err
}
