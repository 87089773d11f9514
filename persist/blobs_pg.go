package persist

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBlobs keeps blobs in the PostgreSQL engine's database, in two tables
// of its schema (created with kv, see pgEngine.createTables):
//
//	blobs        (sha text primary key, size bigint, placed timestamptz, lease text)
//	blob_chunks  (sha text, seq int, data bytea, primary key (sha, seq))
//
// A blob is its blobs row and its chunks, seq 0, 1, … of pgChunkBytes
// each (the last one shorter; none for an empty blob). A put streams its
// chunks in one COPY, under a staging name, inside a transaction of its
// own; place then either inserts the blobs row and renames the chunks to
// the SHA-256, or, when the blob exists, drops them and touches the row.
// The transaction commits before the file record's write starts, so the
// record never names missing bytes, and no connection or transaction is
// held by the group-commit writer while bytes stream.
//
// Other hosts share the tables, and this host's pins do not reach them.
// A put marks the row it placed or touched with a lease (a random token)
// and placed = now(); removal, and the sweep, leave a row alone while it
// holds a lease younger than sharedBlobGrace, so that another host's
// upload of the same bytes, placed but not yet committed, keeps its blob.
// The put clears its lease once its record's write is decided. Removal
// is one statement that also checks, in the kv table, that no reference
// count names the blob.
type pgBlobs struct {
	e *pgEngine
	// refsBucket is the kv bucket path of the blob reference counts.
	refsBucket string
	log        *slog.Logger
}

// pgChunkBytes is the size of a blob's chunks: large enough that a row's
// overhead and a round trip per chunk on read do not matter, small enough
// that a reader holds little.
const pgChunkBytes = 512 << 10

// sharedBlobGrace is how old a lease must be before another host may take
// the blob it guards: a put's lease lives from its place to its record's
// commit, normally milliseconds. The sweep at Open also removes only
// unreferenced blobs placed longer ago than this.
const sharedBlobGrace = time.Hour

// pgBlobTables are the statements that create the blob tables, run with
// the kv tables'. The chunks are stored uncompressed (EXTERNAL): most
// uploads that would compress are small, and compressing the rest costs
// more time than the space it saves.
func pgBlobTables(schema string) []string {
	blobs := pgx.Identifier{schema, "blobs"}.Sanitize()
	chunks := pgx.Identifier{schema, "blob_chunks"}.Sanitize()
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + blobs + ` (
			sha text COLLATE "C" PRIMARY KEY,
			size bigint NOT NULL,
			placed timestamptz NOT NULL,
			lease text)`,
		`CREATE TABLE IF NOT EXISTS ` + chunks + ` (
			sha text COLLATE "C" NOT NULL,
			seq integer NOT NULL,
			data bytea NOT NULL,
			PRIMARY KEY (sha, seq))`,
		`ALTER TABLE ` + chunks + ` ALTER COLUMN data SET STORAGE EXTERNAL`,
	}
}

func newPGBlobs(e *pgEngine, log *slog.Logger) *pgBlobs {
	return &pgBlobs{e: e, refsBucket: pgChildPath("", bucketBlobRefs), log: log}
}

func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *pgBlobs) stage(ctx context.Context, content io.Reader, maxBytes int64) (stagedBlob, error) {
	tx, err := p.e.begin(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, err
	}
	st := &pgStaged{p: p, tx: tx, tmp: "tmp-" + randomToken(), lease: randomToken()}
	src := newHashingReader(ctx, content, maxBytes)
	seq := 0
	var readErr error
	_, err = tx.CopyFrom(p.e.ctx, pgx.Identifier{"blob_chunks"}, []string{"sha", "seq", "data"},
		pgx.CopyFromFunc(func() ([]any, error) {
			buf := make([]byte, pgChunkBytes)
			n, err := io.ReadFull(src, buf)
			switch {
			case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
				readErr = err
				return nil, err
			case n == 0:
				return nil, nil
			}
			row := []any{st.tmp, seq, buf[:n]}
			seq++
			return row, nil
		}))
	if err != nil {
		_ = tx.Rollback(p.e.ctx)
		switch {
		case readErr != nil && errors.Is(readErr, ErrTooLarge):
			return nil, readErr
		case readErr != nil:
			return nil, fmt.Errorf("persist: write file content: %w", readErr)
		}
		return nil, &engineError{err}
	}
	st.hash, st.n = src.sum(), src.n
	return st, nil
}

// pgStaged is a put's chunks, under a staging name, in its open
// transaction.
type pgStaged struct {
	p     *pgBlobs
	tx    pgx.Tx
	tmp   string
	lease string
	hash  string
	n     int64
	// leased is set once place committed a lease to clear.
	leased bool
}

func (s *pgStaged) sha() string { return s.hash }
func (s *pgStaged) size() int64 { return s.n }

func (s *pgStaged) discard() {
	if s.tx != nil {
		_ = s.tx.Rollback(s.p.e.ctx)
		s.tx = nil
	}
}

func (s *pgStaged) place() error {
	ctx := s.p.e.ctx
	defer s.discard()
	// An existing blob is touched (its row locked until the commit, so
	// that no removal takes it meanwhile) and the staged chunks dropped;
	// a new one gets its row and the chunks their name. Each statement
	// sees the latest commits: the insert waits for another host's insert
	// or removal of the same row under way, and when it finds the row
	// after all, the touch takes it.
	for range 3 {
		tag, err := s.tx.Exec(ctx, `UPDATE blobs SET placed = now(), lease = $2 WHERE sha = $1`, s.hash, s.lease)
		if err != nil {
			return &engineError{err}
		}
		if tag.RowsAffected() == 1 {
			if _, err := s.tx.Exec(ctx, `DELETE FROM blob_chunks WHERE sha = $1`, s.tmp); err != nil {
				return &engineError{err}
			}
			return s.commit()
		}
		tag, err = s.tx.Exec(ctx, `INSERT INTO blobs (sha, size, placed, lease) VALUES ($1, $2, now(), $3)
			ON CONFLICT (sha) DO NOTHING`, s.hash, s.n, s.lease)
		if err != nil {
			return &engineError{err}
		}
		if tag.RowsAffected() == 1 {
			if _, err := s.tx.Exec(ctx, `UPDATE blob_chunks SET sha = $1 WHERE sha = $2`, s.hash, s.tmp); err != nil {
				return &engineError{err}
			}
			return s.commit()
		}
	}
	return fmt.Errorf("persist: place blob %s: it keeps appearing and going: %w", s.hash, ErrConflict)
}

func (s *pgStaged) commit() error {
	if err := s.tx.Commit(s.p.e.ctx); err != nil {
		return &engineError{err}
	}
	s.tx, s.leased = nil, true
	return nil
}

// placed clears the put's lease, unless another put took the row since.
func (s *pgStaged) placed() {
	if !s.leased {
		return
	}
	s.leased = false
	if _, err := s.p.e.pool.Exec(s.p.e.ctx, `UPDATE blobs SET lease = NULL WHERE sha = $1 AND lease = $2`, s.hash, s.lease); err != nil {
		s.p.log.Warn("clearing a blob's lease failed", "sha256", s.hash, "err", err)
	}
}

// removeSQL deletes the blobs named by $1 that no reference count names
// and no young lease guards, and their chunks, in one statement.
const pgRemoveSQL = `WITH gone AS (
	DELETE FROM blobs b WHERE b.sha = ANY($1)
		AND (b.lease IS NULL OR b.placed < now() - $3 * interval '1 second')
		AND NOT EXISTS (SELECT 1 FROM kv WHERE kv.bucket = $2 AND kv.key = convert_to(b.sha, 'UTF8'))
	RETURNING b.sha)
DELETE FROM blob_chunks c USING gone WHERE c.sha = gone.sha`

func (p *pgBlobs) remove(shas []string) {
	if len(shas) == 0 {
		return
	}
	if _, err := p.e.pool.Exec(p.e.ctx, pgRemoveSQL, shas, p.refsBucket, sharedBlobGrace.Seconds()); err != nil {
		p.log.Warn("removing unreferenced blobs failed", "count", len(shas), "err", err)
	}
}

// sweep removes every blob placed longer ago than sharedBlobGrace that no
// reference count names. Staged chunks need no sweep: they belong to a
// transaction, which a crash rolls back.
func (p *pgBlobs) sweep(func([]string) (map[string]bool, error)) error {
	ctx, cancel := context.WithTimeout(p.e.ctx, pgConnectTimeout)
	defer cancel()
	var shas []string
	rows, err := p.e.pool.Query(ctx, `SELECT sha FROM blobs b WHERE b.placed < now() - $2 * interval '1 second'
		AND NOT EXISTS (SELECT 1 FROM kv WHERE kv.bucket = $1 AND kv.key = convert_to(b.sha, 'UTF8'))`,
		p.refsBucket, sharedBlobGrace.Seconds())
	if err == nil {
		shas, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return fmt.Errorf("persist: sweep blobs: %w", &engineError{err})
	}
	if len(shas) == 0 {
		return nil
	}
	tag, err := p.e.pool.Exec(ctx, pgRemoveSQL, shas, p.refsBucket, sharedBlobGrace.Seconds())
	if err != nil {
		return fmt.Errorf("persist: sweep blobs: %w", &engineError{err})
	}
	p.log.Info("removed unreferenced blobs", "count", len(shas), "chunks", tag.RowsAffected())
	return nil
}

func (p *pgBlobs) sizes(shas []string) (map[string]int64, error) {
	out := make(map[string]int64, len(shas))
	if len(shas) == 0 {
		return out, nil
	}
	rows, err := p.e.pool.Query(p.e.ctx, `SELECT sha, size FROM blobs WHERE sha = ANY($1)`, shas)
	if err != nil {
		return nil, &engineError{err}
	}
	defer rows.Close()
	for rows.Next() {
		var sha string
		var n int64
		if err := rows.Scan(&sha, &n); err != nil {
			return nil, &engineError{err}
		}
		out[sha] = n
	}
	if err := rows.Err(); err != nil {
		return nil, &engineError{err}
	}
	return out, nil
}

// open reads the blob's row and first chunk; the reader fetches the next
// chunk when it has handed out the last, so it never holds more than one
// and holds no connection between reads. A blob removed while it is read
// fails the read instead of cutting it short, and so do bytes that do
// not hash to the blob's name.
func (p *pgBlobs) open(sha string, _ int64) (io.ReadCloser, error) {
	var size *int64
	var first []byte
	err := p.e.pool.QueryRow(p.e.ctx, `SELECT b.size, c.data FROM blobs b
		LEFT JOIN blob_chunks c ON c.sha = b.sha AND c.seq = 0 WHERE b.sha = $1`, sha).Scan(&size, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("persist: blob %s: %w", sha, fs.ErrNotExist)
	}
	if err != nil {
		if p.e.closed.Load() {
			return nil, fmt.Errorf("persist: %w", ErrClosed)
		}
		return nil, &engineError{err}
	}
	if *size > 0 && len(first) == 0 {
		return nil, fmt.Errorf("persist: blob %s: %w", sha, fs.ErrNotExist)
	}
	return &pgBlobReader{p: p, sha: sha, size: *size, buf: first, read: int64(len(first)), seq: 1, h: sha256.New()}, nil
}

type pgBlobReader struct {
	p    *pgBlobs
	sha  string
	size int64
	// read counts the bytes fetched so far; buf is what is left of the
	// current chunk.
	read int64
	buf  []byte
	seq  int
	h    hash.Hash
	err  error
}

func (r *pgBlobReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(r.buf) == 0 {
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(b, r.buf)
	_, _ = r.h.Write(r.buf[:n])
	r.buf = r.buf[n:]
	return n, nil
}

// next fetches the next chunk, or ends the blob with io.EOF once its
// bytes are all read and hash to its name.
func (r *pgBlobReader) next() error {
	if r.read >= r.size {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.sha {
			return fmt.Errorf("persist: blob %s holds bytes whose SHA-256 is %s", r.sha, got)
		}
		return io.EOF
	}
	var data []byte
	err := r.p.e.pool.QueryRow(r.p.e.ctx, `SELECT data FROM blob_chunks WHERE sha = $1 AND seq = $2`, r.sha, r.seq).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && len(data) == 0) {
		return fmt.Errorf("persist: blob %s was removed while it was read: %w", r.sha, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return &engineError{err}
	}
	r.seq++
	r.read += int64(len(data))
	r.buf = data
	return nil
}

func (r *pgBlobReader) Close() error {
	r.buf, r.err = nil, fs.ErrClosed
	return nil
}

// importDirBlobs copies into the database every blob the records
// reference that it lacks, from the blob dir where earlier versions kept
// file bytes on this engine too (Config.BlobDir, or Dir/blobs), each
// checked against its SHA-256. The files are left where they are. A blob
// found nowhere is logged; Check reports it. Open runs it before the
// writer starts.
func (s *Store) importDirBlobs(p *pgBlobs) error {
	shas, err := s.referencedBlobs()
	if err != nil {
		return err
	}
	have, err := p.sizes(shas)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.cfg.Dir, blobDirName)
	if s.cfg.BlobDir != "" {
		dir = s.cfg.BlobDir
	}
	legacy := &dirBlobs{dir: dir}
	imported, missing := 0, 0
	for _, sha := range shas {
		if _, ok := have[sha]; ok {
			continue
		}
		if _, err := os.Stat(legacy.path(sha)); err != nil {
			missing++
			continue
		}
		staged, err := copyBlob(context.Background(), legacy.path(sha), p, sha, nil)
		if err != nil {
			return fmt.Errorf("persist: import file bytes from %s: %w", dir, err)
		}
		staged.placed()
		imported++
	}
	if imported > 0 {
		s.log.Info("copied file bytes kept in a blob dir into the database; the files there are no longer used",
			"dir", dir, "count", imported)
	}
	if missing > 0 {
		s.log.Warn("file bytes referenced by records are neither in the database nor in the blob dir",
			"dir", dir, "count", missing)
	}
	return nil
}
