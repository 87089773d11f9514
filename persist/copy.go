package persist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
// writes nothing to it. File blobs go in tables of their own; see CopyBlobs.
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

// BlobBytes sums the sizes of the blobs s's records reference; one that is
// missing fails it.
func (s *Store) BlobBytes() (int64, error) {
	shas, err := s.referencedBlobs()
	if err != nil {
		return 0, err
	}
	sizes, err := s.blobs.sizes(shas)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, sha := range shas {
		size, ok := sizes[sha]
		if !ok {
			return 0, fmt.Errorf("persist: blob %s: %w", sha, fs.ErrNotExist)
		}
		n += size
	}
	return n, nil
}

// referencedBlobs returns the SHA-256 of every blob the records reference.
func (s *Store) referencedBlobs() ([]string, error) {
	var shas []string
	err := s.View(func(tx *Tx) error {
		shas = shas[:0]
		return tx.bucket(bucketBlobRefs).ForEach(func(k, _ []byte) error {
			if validSHA(string(k)) {
				shas = append(shas, string(k))
			}
			return nil
		})
	})
	return shas, err
}

// CopyBlobs copies every blob src's records reference, from the blob dir
// of src, a store on bbolt, into the blob tables of the PostgreSQL
// database dst names (URL and PostgresSchema; the tables are created if
// missing), checking each one's SHA-256 on the way; progress, if set,
// receives the bytes as they are read. A blob already in the target with
// the right size is read back and checked instead of written again. Run
// it before CopyToPostgres: until the records arrive the copied blobs are
// unreferenced, and hosts on the target leave such blobs alone for
// sharedBlobGrace.
func CopyBlobs(ctx context.Context, src *Store, dst Config, progress func(n int64)) (BlobReport, error) {
	var r BlobReport
	dir, ok := src.blobs.(*dirBlobs)
	if !ok || src.db == nil {
		return r, fmt.Errorf("persist: copy blobs: the source store is not on bbolt: %w", ErrInvalid)
	}
	if dst.Dir == "" {
		dst.Dir = src.cfg.Dir
	}
	dst, err := dst.withDefaults()
	if err != nil {
		return r, err
	}
	if !dst.postgres() {
		return r, fmt.Errorf("persist: copy blobs: target %q is not a postgres:// URL: %w", redactURL(dst.URL), ErrInvalid)
	}
	eng, err := openPostgres(dst)
	if err != nil {
		return r, err
	}
	defer eng.Close()
	pg := newPGBlobs(eng.(*pgEngine), src.log)

	shas, err := src.referencedBlobs()
	if err != nil {
		return r, err
	}
	have, err := pg.sizes(shas)
	if err != nil {
		return r, err
	}
	for _, sha := range shas {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		r.Blobs++
		fi, err := os.Stat(dir.path(sha))
		if err != nil {
			return r, fmt.Errorf("persist: blob %s: %w", sha, err)
		}
		if n, ok := have[sha]; ok && n == fi.Size() {
			// Already there: read it back, which checks its SHA-256.
			n, err := checkBlob(pg, sha, n, progress)
			r.Bytes += n
			if err != nil {
				return r, err
			}
			continue
		}
		staged, err := copyBlob(ctx, dir.path(sha), pg, sha, progress)
		if staged != nil {
			r.Bytes += staged.size()
		}
		if err != nil {
			return r, err
		}
		r.Copied++
	}
	return r, nil
}

// checkBlob reads the blob back from b, failing unless it holds size
// bytes that hash to sha.
func checkBlob(b blobBackend, sha string, size int64, progress func(int64)) (int64, error) {
	rc, err := b.open(sha, size)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, progressReader{r: rc, fn: progress})
	if err != nil {
		return n, fmt.Errorf("persist: check blob %s: %w", sha, err)
	}
	if n != size {
		return n, fmt.Errorf("persist: blob %s holds %d bytes, not %d", sha, n, size)
	}
	return n, nil
}

// copyBlob streams the file src into b as the blob sha, refusing bytes
// that do not hash to it, and returns what it staged (nil if nothing).
func copyBlob(ctx context.Context, src string, b blobBackend, sha string, progress func(int64)) (stagedBlob, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("persist: blob %s: %w", sha, err)
	}
	defer in.Close()
	staged, err := b.stage(ctx, progressReader{r: in, fn: progress}, 0)
	if err != nil {
		return nil, fmt.Errorf("persist: copy blob %s: %w", sha, err)
	}
	if got := staged.sha(); got != sha {
		staged.discard()
		return staged, fmt.Errorf("persist: blob %s holds bytes whose SHA-256 is %s", sha, got)
	}
	if err := staged.place(); err != nil {
		staged.discard()
		return staged, fmt.Errorf("persist: copy blob %s: %w", sha, err)
	}
	return staged, nil
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
