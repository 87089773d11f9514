package persist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgEngine keeps the buckets in PostgreSQL, in two tables of one schema
// (which also holds the file blobs' tables, see pgBlobs):
//
//	kv            (bucket text, key bytea, value bytea, primary key (bucket, key))
//	kv_sequences  (bucket text primary key, seq bigint)
//
// A bucket is named by its path: the escaped names of it and its parents
// joined by "/", the top-level buckets being keys of the root bucket "". A
// nested bucket is a key of its parent with a NULL value, as bbolt shows
// it. The bucket column sorts in the "C" collation and the key is bytea,
// so both compare bytes as bbolt does and the primary key's index serves
// every cursor. A cursor reads pages of up to pgMaxPage rows, starting
// small, since most seeks read one or two keys.
//
// Reads run in REPEATABLE READ READ ONLY transactions (one snapshot per
// View). The writer's batch is one SERIALIZABLE transaction, run while
// holding an advisory lock of the schema, so that the writers of every
// host sharing the database take turns as bbolt's one writer does instead
// of failing each other on the rows they all write (the audit chain's
// head, counters, search postings). A serialization failure or deadlock
// that still happens (a write outside the lock) reruns the batch after a
// randomized, growing wait, which is safe because write functions are
// idempotent.
type pgEngine struct {
	pool   *pgxpool.Pool
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	// top caches the names of top-level buckets known to exist: they are
	// created by migrations and dropped only by tests, through this engine.
	top sync.Map
}

const (
	pgFirstPage  = 16
	pgMaxPage    = 256
	pgMaxRetries = 30
	// pgMaxBackoff bounds the wait between attempts (see pgBackoff).
	pgMaxBackoff = 100 * time.Millisecond
	// pgConnectTimeout bounds connecting and creating the tables at Open.
	pgConnectTimeout = 15 * time.Second
)

// pgSchemaLock is the advisory lock key that serializes table creation
// between hosts opening the same database at once.
const pgSchemaLock = 0x5e5a7

func openPostgres(cfg Config) (engine, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("persist: postgres URL %s: %w", redactURL(cfg.URL), ErrInvalid)
	}
	pc.MaxConns = int32(cfg.PostgresMaxConns)
	pc.ConnConfig.RuntimeParams["search_path"] = cfg.PostgresSchema
	if cfg.NoSync {
		// Tests and benchmarks: a crash may lose the last commits, never
		// corrupt the database.
		pc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &pgEngine{ctx: ctx, cancel: cancel}
	openCtx, done := context.WithTimeout(ctx, pgConnectTimeout)
	defer done()
	if e.pool, err = pgxpool.NewWithConfig(openCtx, pc); err != nil {
		cancel()
		return nil, fmt.Errorf("persist: postgres %s: %w", redactURL(cfg.URL), err)
	}
	if err := e.createTables(openCtx, cfg.PostgresSchema); err != nil {
		e.pool.Close()
		cancel()
		return nil, fmt.Errorf("persist: postgres %s: %w", redactURL(cfg.URL), err)
	}
	return e, nil
}

func (e *pgEngine) createTables(ctx context.Context, schema string) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgSchemaLock); err != nil {
			return err
		}
		for _, stmt := range append([]string{
			`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{schema}.Sanitize(),
			`CREATE TABLE IF NOT EXISTS ` + pgx.Identifier{schema, "kv"}.Sanitize() + ` (
				bucket text COLLATE "C" NOT NULL,
				key bytea NOT NULL,
				value bytea,
				PRIMARY KEY (bucket, key))`,
			`CREATE TABLE IF NOT EXISTS ` + pgx.Identifier{schema, "kv_sequences"}.Sanitize() + ` (
				bucket text COLLATE "C" PRIMARY KEY,
				seq bigint NOT NULL)`,
		}, pgBlobTables(schema)...) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *pgEngine) begin(opts pgx.TxOptions) (pgx.Tx, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("persist: %w", ErrClosed)
	}
	tx, err := e.pool.BeginTx(e.ctx, opts)
	if err != nil {
		if e.closed.Load() {
			return nil, fmt.Errorf("persist: %w", ErrClosed)
		}
		return nil, &engineError{err}
	}
	return tx, nil
}

func (e *pgEngine) View(fn func(kvTx) error) error {
	tx, err := e.begin(pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	// Deferred too, so that a panic (or a test's FailNow) in fn returns
	// the connection to the pool; a second Rollback is a no-op.
	defer func() { _ = tx.Rollback(e.ctx) }()
	t := &pgTx{e: e, tx: tx}
	ferr := fn(t)
	rerr := tx.Rollback(e.ctx)
	switch {
	case t.err != nil && ferr != nil:
		// Both, so that errors.Is finds the caller's sentinel as well as
		// the database's failure that may have caused it.
		return errors.Join(ferr, &engineError{t.err})
	case t.err != nil:
		return &engineError{t.err}
	case ferr != nil:
		return ferr
	case rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed):
		return &engineError{rerr}
	}
	return nil
}

func (e *pgEngine) Update(fn func(kvTx) error) error {
	if e.closed.Load() {
		return fmt.Errorf("persist: %w", ErrClosed)
	}
	conn, err := e.pool.Acquire(e.ctx)
	if err != nil {
		if e.closed.Load() {
			return fmt.Errorf("persist: %w", ErrClosed)
		}
		return &engineError{err}
	}
	// One writer at a time over the schema, as bbolt has: the lock is
	// taken before the transaction begins, so its snapshot sees every
	// commit of the writer before, and writers of other hosts do not fail
	// each other's serializable transactions on the rows they all write
	// (the audit chain's head, counters, search postings).
	if _, err := conn.Exec(e.ctx, pgWriterLockSQL); err != nil {
		conn.Release()
		if e.closed.Load() {
			return fmt.Errorf("persist: %w", ErrClosed)
		}
		return &engineError{err}
	}
	defer func() {
		if _, err := conn.Exec(e.ctx, pgWriterUnlockSQL); err != nil {
			// A connection that may still hold the lock does not go back
			// to the pool; closing it releases the lock.
			_ = conn.Hijack().Close(context.Background())
			return
		}
		conn.Release()
	}()
	for attempt := 0; ; attempt++ {
		tx, err := conn.BeginTx(e.ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
		if err != nil {
			if e.closed.Load() {
				return fmt.Errorf("persist: %w", ErrClosed)
			}
			return &engineError{err}
		}
		t := &pgTx{e: e, tx: tx}
		ferr := runRollingBack(e.ctx, tx, fn, t)
		if t.err == nil && ferr == nil && t.flush() == nil {
			if err := tx.Commit(e.ctx); err == nil {
				return nil
			} else {
				t.err = err
			}
		}
		_ = tx.Rollback(e.ctx)
		if t.err == nil {
			return ferr
		}
		if retryable(t.err) && attempt < pgMaxRetries {
			select {
			case <-time.After(pgBackoff(attempt)):
			case <-e.ctx.Done():
				return &engineError{t.err}
			}
			continue
		}
		return &engineError{t.err}
	}
}

// The writers' lock, in the two-key space of advisory locks (apart from
// pgSchemaLock's): one per schema, so that stores on other schemas of the
// database do not wait for each other.
const (
	pgWriterLockSQL   = `SELECT pg_advisory_lock(24231, hashtext(current_schema()))`
	pgWriterUnlockSQL = `SELECT pg_advisory_unlock(24231, hashtext(current_schema()))`
)

// pgBackoff is the wait before the retry after the given failed attempt:
// a random time up to a bound that doubles from 2ms to pgMaxBackoff, so
// that transactions that conflicted do not meet again at once.
func pgBackoff(attempt int) time.Duration {
	bound := pgMaxBackoff
	if attempt < 6 {
		bound = min(pgMaxBackoff, 2*time.Millisecond<<attempt)
	}
	return bound/2 + rand.N(bound/2+1)
}

// runRollingBack runs fn, rolling tx back if fn panics or exits its
// goroutine, so that the connection returns to the pool.
func runRollingBack(ctx context.Context, tx pgx.Tx, fn func(kvTx) error, t *pgTx) error {
	ok := false
	defer func() {
		if !ok {
			_ = tx.Rollback(ctx)
		}
	}()
	err := fn(t)
	ok = true
	return err
}

// Check runs fn in one snapshot: PostgreSQL checks its own pages, and no
// commit changes what a REPEATABLE READ transaction sees.
func (e *pgEngine) Check(fn func(kvTx) error) error { return e.View(fn) }

func (e *pgEngine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.pool.Close()
	e.cancel()
	return nil
}

// retryable reports a conflict with a concurrent transaction.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// engineError is a failure of the database itself, not of the caller's
// function: the writer fails the whole batch with it instead of blaming
// the function that happened to see it.
type engineError struct{ err error }

func (e *engineError) Error() string { return "persist: database: " + e.err.Error() }
func (e *engineError) Unwrap() error { return e.err }

// redactURL hides a connection URL's password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// pgTx is a transaction. Bucket methods that return no error (Get, cursor
// moves) record the first database error here; the transaction then fails
// with it however the caller's function ends.
//
// Writes are queued, not sent: the next read, or the commit, sends every
// queued write in one round trip (a pipelined batch) before it, so that the
// dozens of puts of a write function cost one round trip instead of one
// each, and every read still sees the transaction's own writes. A queued
// write that fails fails the transaction there. Keys and values are copied
// when queued.
type pgTx struct {
	e      *pgEngine
	tx     pgx.Tx
	err    error
	queued pgx.Batch
}

// pgMaxQueued is the most writes queued before they are sent anyway.
const pgMaxQueued = 1024

func (t *pgTx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// exec queues a write (see pgTx).
func (t *pgTx) exec(sql string, args ...any) error {
	if t.err != nil {
		return &engineError{t.err}
	}
	for i, a := range args {
		// Sent later: bbolt lets a caller reuse a key's buffer once Put
		// returns, so the bytes are copied now.
		if b, ok := a.([]byte); ok {
			args[i] = bytes.Clone(b)
		}
	}
	t.queued.Queue(sql, args...)
	if t.queued.Len() >= pgMaxQueued {
		return t.flush()
	}
	return nil
}

// flush sends the queued writes. It fails, with the transaction, if one of
// them does or the transaction failed before.
func (t *pgTx) flush() error {
	if t.err != nil {
		return &engineError{t.err}
	}
	if t.queued.Len() == 0 {
		return nil
	}
	b := t.queued
	t.queued = pgx.Batch{}
	if err := t.tx.SendBatch(t.e.ctx, &b).Close(); err != nil {
		t.fail(err)
		return &engineError{err}
	}
	return nil
}

// ready sends the queued writes before a read and reports whether the
// transaction is still good.
func (t *pgTx) ready() bool { return t.flush() == nil }

func (t *pgTx) root() *pgBucket { return &pgBucket{t: t, path: ""} }

func (t *pgTx) Bucket(name []byte) bucket {
	if _, ok := t.e.top.Load(string(name)); ok {
		return t.root().child(name)
	}
	b := t.root().Bucket(name)
	if b != nil && t.err == nil {
		t.e.top.Store(string(name), true)
	}
	return b
}

func (t *pgTx) CreateBucketIfNotExists(name []byte) (bucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}

func (t *pgTx) DeleteBucket(name []byte) error {
	t.e.top.Delete(string(name))
	return t.root().DeleteBucket(name)
}

type pgBucket struct {
	t    *pgTx
	path string
}

func (b *pgBucket) child(name []byte) *pgBucket {
	return &pgBucket{t: b.t, path: pgChildPath(b.path, name)}
}

// pgChildPath is the path of the bucket name nested in the bucket at
// parent ("" for the root).
func pgChildPath(parent string, name []byte) string {
	p := make([]byte, 0, len(parent)+1+len(name))
	if parent != "" {
		p = append(append(p, parent...), '/')
	}
	return string(appendEscaped(p, name))
}

// appendEscaped appends name to dst with '%', '/', control bytes and bytes
// not part of valid UTF-8 written as %XX, so that the path is valid text
// and "/" only separates names.
func appendEscaped(dst, name []byte) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); {
		c := name[i]
		if c >= utf8.RuneSelf {
			if _, n := utf8.DecodeRune(name[i:]); n > 1 {
				dst = append(dst, name[i:i+n]...)
				i += n
				continue
			}
		}
		if c < 0x20 || c == '/' || c == '%' || c >= 0x7f {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

func (b *pgBucket) Get(key []byte) []byte {
	t := b.t
	if !t.ready() {
		return nil
	}
	var v []byte
	err := t.tx.QueryRow(t.e.ctx, `SELECT value FROM kv WHERE bucket = $1 AND key = $2`, b.path, key).Scan(&v)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			t.fail(err)
		}
		return nil
	}
	return v
}

func (b *pgBucket) Put(key, value []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("persist: put of an empty key: %w", ErrInvalid)
	}
	if value == nil {
		value = []byte{}
	}
	return b.t.exec(`INSERT INTO kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`, b.path, key, value)
}

func (b *pgBucket) Delete(key []byte) error {
	return b.t.exec(`DELETE FROM kv WHERE bucket = $1 AND key = $2 AND value IS NOT NULL`, b.path, key)
}

func (b *pgBucket) NextSequence() (uint64, error) {
	t := b.t
	if err := t.flush(); err != nil {
		return 0, err
	}
	var n int64
	err := t.tx.QueryRow(t.e.ctx, `INSERT INTO kv_sequences (bucket, seq) VALUES ($1, 1)
		ON CONFLICT (bucket) DO UPDATE SET seq = kv_sequences.seq + 1 RETURNING seq`, b.path).Scan(&n)
	if err != nil {
		t.fail(err)
		return 0, &engineError{err}
	}
	return uint64(n), nil
}

// Bucket returns nil only for a bucket that does not exist. Once the
// transaction failed it returns the bucket anyway: its reads find nothing,
// its writes fail, and the transaction fails with the database's error
// (which the writer retries if it is a conflict), not a caller who took
// the failure for a missing bucket.
func (b *pgBucket) Bucket(name []byte) bucket {
	t := b.t
	if !t.ready() {
		return b.child(name)
	}
	var one int
	err := t.tx.QueryRow(t.e.ctx, `SELECT 1 FROM kv WHERE bucket = $1 AND key = $2 AND value IS NULL`, b.path, name).Scan(&one)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			t.fail(err)
			return b.child(name)
		}
		return nil
	}
	return b.child(name)
}

func (b *pgBucket) CreateBucketIfNotExists(name []byte) (bucket, error) {
	if len(name) == 0 {
		return nil, fmt.Errorf("persist: bucket with an empty name: %w", ErrInvalid)
	}
	if err := b.t.exec(`INSERT INTO kv (bucket, key, value) VALUES ($1, $2, NULL)
		ON CONFLICT (bucket, key) DO NOTHING`, b.path, name); err != nil {
		return nil, err
	}
	return b.child(name), nil
}

func (b *pgBucket) DeleteBucket(name []byte) error {
	if b.Bucket(name) == nil {
		if b.t.err != nil {
			return &engineError{b.t.err}
		}
		return fmt.Errorf("persist: delete bucket %q: %w", name, ErrNotFound)
	}
	c := b.child(name).path
	// Every descendant's path starts with c+"/"; "0" follows "/".
	if err := b.t.exec(`DELETE FROM kv WHERE bucket = $1 OR (bucket >= $2 AND bucket < $3)`, c, c+"/", c+"0"); err != nil {
		return err
	}
	if err := b.t.exec(`DELETE FROM kv_sequences WHERE bucket = $1 OR (bucket >= $2 AND bucket < $3)`, c, c+"/", c+"0"); err != nil {
		return err
	}
	return b.t.exec(`DELETE FROM kv WHERE bucket = $1 AND key = $2`, b.path, name)
}

func (b *pgBucket) SetFillPercent(float64) {}

func (b *pgBucket) Stats() bucketStats {
	t := b.t
	if !t.ready() {
		return bucketStats{}
	}
	var n int
	if err := t.tx.QueryRow(t.e.ctx, `SELECT count(*) FROM kv WHERE bucket = $1`, b.path).Scan(&n); err != nil {
		t.fail(err)
	}
	return bucketStats{KeyN: n}
}

func (b *pgBucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	if b.t.err != nil {
		return &engineError{b.t.err}
	}
	return nil
}

func (b *pgBucket) Cursor() cursor { return &pgCursor{b: b} }

// pgCursor moves as a bbolt cursor does (see cursorModel in the tests): a
// move that would leave the keys returns nil and stays on the key at the
// edge, so that turning around continues from it; a Seek past every key
// leaves the cursor after the last, where Prev lands on the last key.
//
// It holds a window of rows in ascending key order, read a page at a
// time: the page after the window when Next leaves it, the page before
// when Prev does. A new window keeps the row the cursor came from, so
// that turning around at a page edge reads nothing. Pages start small,
// since most seeks read one or two keys, and double up to pgMaxPage.
type pgCursor struct {
	b    *pgBucket
	rows []pgRow
	i    int // the current row of rows, when rows is not empty
	// head and tail are set when the window starts at the bucket's first
	// key and ends at its last: there is nothing to read beyond them.
	head, tail bool
	// past is set after a Seek found no key at or after its argument.
	past bool
	size int
}

type pgRow struct{ k, v []byte }

type pgBound int

const (
	pgAll pgBound = iota // no bound
	pgGE                 // key >= bound (ascending only)
	pgGT                 // key > bound (ascending)
	pgLT                 // key < bound (descending)
)

var pgPageSQL = map[[2]int]string{
	{int(pgAll), 0}: `SELECT key, value FROM kv WHERE bucket = $1 ORDER BY key LIMIT $2`,
	{int(pgAll), 1}: `SELECT key, value FROM kv WHERE bucket = $1 ORDER BY key DESC LIMIT $2`,
	{int(pgGE), 0}:  `SELECT key, value FROM kv WHERE bucket = $1 AND key >= $3 ORDER BY key LIMIT $2`,
	{int(pgGT), 0}:  `SELECT key, value FROM kv WHERE bucket = $1 AND key > $3 ORDER BY key LIMIT $2`,
	{int(pgLT), 1}:  `SELECT key, value FROM kv WHERE bucket = $1 AND key < $3 ORDER BY key DESC LIMIT $2`,
}

// fetch reads a page, in ascending key order whatever order the query
// walks in, and reports whether it was full (rows may follow it in the
// query's order). It returns nil when there are no rows, or on a database
// error, which it records in the transaction.
func (c *pgCursor) fetch(bound pgBound, desc bool, key []byte) (out []pgRow, full bool) {
	t := c.b.t
	if !t.ready() {
		return nil, false
	}
	if c.size == 0 {
		c.size = pgFirstPage
	}
	size := c.size
	c.size = min(c.size*2, pgMaxPage)
	d := 0
	if desc {
		d = 1
	}
	args := []any{c.b.path, size}
	if bound != pgAll {
		args = append(args, key)
	}
	rows, err := t.tx.Query(t.e.ctx, pgPageSQL[[2]int{int(bound), d}], args...)
	if err != nil {
		t.fail(err)
		return nil, false
	}
	defer rows.Close()
	out = make([]pgRow, 0, min(size, pgFirstPage))
	for rows.Next() {
		var r pgRow
		if err := rows.Scan(&r.k, &r.v); err != nil {
			t.fail(err)
			return nil, false
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.fail(err)
		return nil, false
	}
	if desc {
		slices.Reverse(out)
	}
	return out, len(out) == size
}

func (c *pgCursor) cur() ([]byte, []byte) {
	if c.past || c.i < 0 || c.i >= len(c.rows) {
		return nil, nil
	}
	r := c.rows[c.i]
	return r.k, r.v
}

func (c *pgCursor) First() ([]byte, []byte) {
	c.size, c.past = 0, false
	var full bool
	c.rows, full = c.fetch(pgAll, false, nil)
	c.head, c.tail, c.i = true, !full, 0
	return c.cur()
}

func (c *pgCursor) Last() ([]byte, []byte) {
	c.size, c.past = 0, false
	var full bool
	c.rows, full = c.fetch(pgAll, true, nil)
	c.head, c.tail, c.i = !full, true, len(c.rows)-1
	return c.cur()
}

func (c *pgCursor) Seek(k []byte) ([]byte, []byte) {
	c.size = 0
	var full bool
	c.rows, full = c.fetch(pgGE, false, k)
	c.past = len(c.rows) == 0
	c.head, c.tail, c.i = false, !full, 0
	return c.cur()
}

// Next moves to the next larger key.
func (c *pgCursor) Next() ([]byte, []byte) {
	if c.past || len(c.rows) == 0 {
		return nil, nil
	}
	if c.i+1 < len(c.rows) {
		c.i++
		return c.cur()
	}
	if c.tail {
		return nil, nil
	}
	from := c.rows[c.i]
	page, full := c.fetch(pgGT, false, from.k)
	if len(page) == 0 {
		c.tail = true
		return nil, nil
	}
	c.rows = append([]pgRow{from}, page...)
	c.head, c.tail, c.i = false, !full, 1
	return c.cur()
}

// Prev moves to the next smaller key.
func (c *pgCursor) Prev() ([]byte, []byte) {
	if c.past {
		return c.Last()
	}
	if len(c.rows) == 0 {
		return nil, nil
	}
	if c.i > 0 {
		c.i--
		return c.cur()
	}
	if c.head {
		return nil, nil
	}
	from := c.rows[c.i]
	page, full := c.fetch(pgLT, true, from.k)
	if len(page) == 0 {
		c.head = true
		return nil, nil
	}
	c.rows = append(page, from)
	c.head, c.tail, c.i = !full, false, len(page)-1
	return c.cur()
}

func (c *pgCursor) Delete() error {
	k, _ := c.cur()
	if k == nil {
		return fmt.Errorf("persist: cursor delete off any key: %w", ErrInvalid)
	}
	return c.b.t.exec(`DELETE FROM kv WHERE bucket = $1 AND key = $2 AND value IS NOT NULL`, c.b.path, k)
}
