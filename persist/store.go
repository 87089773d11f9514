package persist

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Config configures a Store. Only Dir is required.
type Config struct {
	// Dir is the data dir. With the bbolt engine the database is
	// Dir/seshat.db and file contents live under Dir/blobs/ unless BlobDir
	// says otherwise; with PostgreSQL both are in the database. It is
	// created (mode 0700) if missing.
	Dir string
	// BlobDir, if set, is where the bbolt engine keeps file contents
	// instead of Dir/blobs (another disk, say). Created (mode 0700) if
	// missing. The PostgreSQL engine keeps them in the database; at Open it
	// copies in, from BlobDir (or Dir/blobs), any referenced blob the
	// database lacks, where earlier versions kept them.
	BlobDir string
	// URL names the engine: "" or "bolt" for the bbolt file in Dir, or a
	// PostgreSQL connection URL (postgres://… or postgresql://…).
	URL string
	// PostgresSchema is the schema the PostgreSQL engine keeps its tables
	// in; it is created if missing. If empty, "seshat".
	PostgresSchema string
	// PostgresMaxConns caps the PostgreSQL connection pool. If zero, 8.
	PostgresMaxConns int
	// OpenTimeout bounds the wait for the data dir's lock. If zero, 1s.
	// Another process (or another Store in this process) holding the dir
	// makes Open fail with ErrLocked once it passes.
	OpenTimeout time.Duration
	// NoSync skips fsync on commit and on blob writes. It risks losing
	// recent commits, or corrupting the file, on a power loss or kernel
	// crash: for tests and benchmarks only. If false, every commit is
	// durable when it returns.
	NoSync bool
	// CommitInterval is the longest a queued write waits for others to
	// join its batch. The writer only waits when the previous batch was
	// larger than what is queued, so a lone writer never waits. If zero, 2ms.
	CommitInterval time.Duration
	// LazyDelay is the longest a write queued with UpdateLazy waits for a
	// write someone waits on, to share its commit. If zero, 5ms.
	LazyDelay time.Duration
	// MaxBatch caps the writes committed in one transaction. If zero, 1000.
	MaxBatch int
	// TouchFlushInterval is how often API-key last-use times are written.
	// If zero, 30s.
	TouchFlushInterval time.Duration
	// Logger receives the store's few log lines. If nil, they are discarded.
	Logger *slog.Logger
	// AuditRetention is how long audit entries are kept. Each append
	// removes a few entries older than that, recording the last removed
	// as the chain's anchor. If zero, entries are kept forever.
	AuditRetention time.Duration
	// MasterKey seals provider credentials at rest (AES-256-GCM): exactly
	// MasterKeyBytes bytes. The first Open with a key records a check
	// value; Open with another key then fails with ErrWrongMasterKey. If
	// nil, the store keeps no credentials: writing or reading one fails
	// with ErrNoMasterKey.
	MasterKey []byte
}

const (
	dbFileName     = "seshat.db"
	blobDirName    = "blobs"
	blobTmpDirName = "tmp"
)

// withDefaults fills in the zero values documented on Config.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("persist: config: empty Dir: %w", ErrInvalid)
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = time.Second
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 2 * time.Millisecond
	}
	if c.LazyDelay <= 0 {
		c.LazyDelay = 5 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.TouchFlushInterval <= 0 {
		c.TouchFlushInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PostgresSchema == "" {
		c.PostgresSchema = "seshat"
	}
	if c.PostgresMaxConns <= 0 {
		c.PostgresMaxConns = 8
	}
	switch {
	case c.URL == "" || c.URL == "bolt":
	case c.postgres():
	default:
		return c, fmt.Errorf("persist: config: store %q is neither bolt nor a postgres:// URL: %w", redactURL(c.URL), ErrInvalid)
	}
	return c, nil
}

// postgres reports whether the config names the PostgreSQL engine.
func (c Config) postgres() bool {
	return strings.HasPrefix(c.URL, "postgres://") || strings.HasPrefix(c.URL, "postgresql://")
}

// Store is the durable store, on bbolt or PostgreSQL. It is safe for concurrent use. It owns
// two goroutines, started by Open and stopped by Close: the writer, which
// runs every write, and the flusher of API-key touches.
type Store struct {
	cfg Config
	eng engine
	db  *bolt.DB // nil unless the engine is bbolt
	log *slog.Logger
	// blobs keeps file contents: a directory on bbolt, the database on
	// PostgreSQL.
	blobs  blobBackend
	schema int
	// aead seals provider credentials; nil without Config.MasterKey.
	aead cipher.AEAD

	// mu guards the write queue, eager and closed.
	mu    sync.Mutex
	queue []*request
	// eager counts the queued writes that are not lazy.
	eager  int
	closed bool

	// wake tells the writer the queue changed. Capacity 1: a pending
	// signal is enough, senders never block.
	wake chan struct{}

	commits atomic.Uint64
	// authGen counts commits that changed users or API keys; see
	// AuthGeneration.
	authGen atomic.Uint64
	writes  atomic.Uint64
	// owned holds the owner epochs this process took (ClaimSession), by
	// session id; a save of such a session is fenced by its epoch.
	owned sync.Map

	// touchMu guards touches and flushing: last-use times not yet
	// committed, and those in the commit under way.
	touchMu  sync.Mutex
	touches  map[string]time.Time
	flushing map[string]time.Time

	// pinMu guards pins: blobs on disk whose reference is not committed
	// yet, which the writer must not remove.
	pinMu sync.Mutex
	pins  map[string]int

	quitTouch  chan struct{}
	touchDone  chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// request is one queued write.
type request struct {
	ctx  context.Context // nil for UpdateAsync
	fn   func(*Tx) error
	done func(error) // may be nil
	// lazy: no one waits for this write (UpdateLazy).
	lazy bool
}

// Open opens or creates the store in cfg.Dir, applies pending schema
// migrations, removes blobs left by an interrupted write, and starts the
// writer and the touch flusher.
func Open(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("persist: create data dir: %w", err)
	}
	log := cfg.Logger.With("component", "persist")
	var db *bolt.DB
	var eng engine
	var blobs blobBackend
	if cfg.postgres() {
		if eng, err = openPostgres(cfg); err != nil {
			return nil, err
		}
		blobs = newPGBlobs(eng.(*pgEngine), log)
	} else {
		blobDir := filepath.Join(cfg.Dir, blobDirName)
		if cfg.BlobDir != "" {
			blobDir = cfg.BlobDir
		}
		if blobs, err = openDirBlobs(blobDir, cfg.NoSync, log); err != nil {
			return nil, err
		}
		db, err = bolt.Open(filepath.Join(cfg.Dir, dbFileName), 0o600, &bolt.Options{
			Timeout: cfg.OpenTimeout,
			NoSync:  cfg.NoSync,
		})
		if err != nil {
			if errors.Is(err, berrors.ErrTimeout) {
				return nil, fmt.Errorf("persist: data dir %s is in use by another process: %w", cfg.Dir, ErrLocked)
			}
			return nil, fmt.Errorf("persist: open %s: %w", cfg.Dir, err)
		}
		eng = &boltEngine{db: db}
	}
	s := &Store{
		cfg:        cfg,
		eng:        eng,
		db:         db,
		log:        log,
		blobs:      blobs,
		wake:       make(chan struct{}, 1),
		touches:    make(map[string]time.Time),
		pins:       make(map[string]int),
		quitTouch:  make(chan struct{}),
		touchDone:  make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if s.schema, err = migrate(eng); err != nil {
		_ = eng.Close()
		return nil, err
	}
	if s.aead, err = checkMasterKey(eng, cfg.MasterKey); err != nil {
		_ = eng.Close()
		return nil, err
	}
	if pg, ok := blobs.(*pgBlobs); ok {
		if err := s.importDirBlobs(pg); err != nil {
			_ = eng.Close()
			return nil, err
		}
	}
	// Nothing else of this store runs yet, so the sweep cannot race a write.
	if err := s.sweepBlobs(); err != nil {
		_ = eng.Close()
		return nil, err
	}
	go s.runWriter()
	go s.runTouchFlusher()
	return s, nil
}

// Close flushes pending API-key touches, lets the writer commit every write
// queued so far, stops it and closes the database. Writes queued after
// Close starts fail with ErrClosed. Close is idempotent; a concurrent call
// waits for the first and returns its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quitTouch)
		<-s.touchDone
		s.flushTouches()

		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.signal()
		<-s.writerDone

		s.closeErr = s.eng.Close()
	})
	return s.closeErr
}

// SchemaVersion returns the schema version of the open store.
func (s *Store) SchemaVersion() int { return s.schema }

// Stats counts the writer's work since Open.
type Stats struct {
	// Commits is the number of transactions committed.
	Commits uint64
	// Writes is the number of write functions committed.
	Writes uint64
}

// Stats returns counters of the writer; Writes/Commits is the mean batch.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// View runs fn in a read-only transaction. fn must not call Update,
// UpdateAsync or any writing Store method: the writer may need to remap the
// file, which waits for open read transactions, so the two would deadlock.
// Keep fn short; pages a reader holds cannot be reused and the file grows.
func (s *Store) View(fn func(*Tx) error) error {
	return s.eng.View(func(ktx kvTx) error {
		return fn(&Tx{tx: ktx, s: s})
	})
}

// Update queues fn for the writer and waits until its batch commits.
//
// The writer runs the queued functions of many callers in one bbolt
// transaction, so a burst of writes costs one fsync pair. If one of them
// returns an error the whole transaction is rolled back and the others run
// again without it; the failing one then runs alone, and its error is
// Update's result. So fn may run more than once and must be idempotent: it
// may only act through tx and assign its results to captured variables,
// which a later run overwrites. fn runs on the writer goroutine: it must
// not block, and must not call Update, View or other Store methods (they
// would deadlock).
//
// If ctx ends before the writer starts fn, fn does not run. If it ends
// later, Update returns ctx.Err() at once and the write may still commit.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := make(chan error, 1)
	if err := s.enqueue(&request{ctx: ctx, fn: fn, done: func(err error) { ch <- err }}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// UpdateAsync queues fn like Update and returns at once. done, if not nil,
// gets fn's result after its batch committed (or failed). done runs on the
// writer goroutine, so it must return quickly and must not call Store
// methods that write or wait for the writer. After Close, done is called
// with ErrClosed on the caller's goroutine before UpdateAsync returns.
func (s *Store) UpdateAsync(fn func(*Tx) error, done func(error)) {
	if err := s.enqueue(&request{fn: fn, done: done}); err != nil && done != nil {
		done(err)
	}
}

// UpdateLazy queues fn like UpdateAsync, for a write no one waits on (a
// usage count, an audit entry after its answer): while only such writes
// are queued, the writer holds them up to Config.LazyDelay for a write
// someone waits on, so that they share its commit instead of taking one
// of their own ahead of it.
func (s *Store) UpdateLazy(fn func(*Tx) error, done func(error)) {
	if err := s.enqueue(&request{fn: fn, done: done, lazy: true}); err != nil && done != nil {
		done(err)
	}
}

func (s *Store) enqueue(r *request) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("persist: write after close: %w", ErrClosed)
	}
	if !r.lazy {
		s.eager++
	}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runWriter is the writer goroutine: it takes batches off the queue and
// commits them until Close has been called and the queue is empty.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	var batch []*request
	last := 1
	for {
		batch = s.nextBatch(batch[:0], last)
		if len(batch) == 0 {
			return
		}
		last = len(batch)
		s.commit(batch)
		clear(batch) // drop references to finished requests
	}
}

// nextBatch blocks until writes are queued and returns up to MaxBatch of
// them. When fewer than target (the size of the previous batch) are queued,
// it waits up to CommitInterval for the rest: callers acknowledged by the
// last commit are usually about to queue their next write, and taking them
// together saves a commit. A lone writer (target 1) never waits. While only
// lazy writes are queued, it waits up to LazyDelay for another. It returns
// an empty batch once the store is closed and the queue drained.
func (s *Store) nextBatch(buf []*request, target int) []*request {
	target = min(target, s.cfg.MaxBatch)
	var linger, lazy waitTimer
	defer linger.stop()
	defer lazy.stop()
	lingered, lazyDue := false, false
	for {
		s.mu.Lock()
		n, closed, eager := len(s.queue), s.closed, s.eager
		if n > 0 && eager == 0 && !closed && !lazyDue {
			s.mu.Unlock()
			lazyDue = lazy.wait(s.wake, s.cfg.LazyDelay)
			continue
		}
		if n > 0 && (n >= target || closed || lingered || eager == 0) {
			take := min(n, s.cfg.MaxBatch)
			for _, r := range s.queue[:take] {
				if !r.lazy {
					s.eager--
				}
			}
			buf = append(buf, s.queue[:take]...)
			rest := copy(s.queue, s.queue[take:])
			clear(s.queue[rest:])
			s.queue = s.queue[:rest]
			s.mu.Unlock()
			return buf
		}
		s.mu.Unlock()
		if n == 0 {
			if closed {
				return buf
			}
			<-s.wake
			continue
		}
		lingered = linger.wait(s.wake, s.cfg.CommitInterval)
	}
}

// waitTimer is a timer started by its first wait.
type waitTimer struct{ t *time.Timer }

// wait blocks until wake or until d has passed since the first wait, and
// reports whether it has. Once it has, wait must not be called again.
func (w *waitTimer) wait(wake <-chan struct{}, d time.Duration) (expired bool) {
	if w.t == nil {
		w.t = time.NewTimer(d)
	}
	select {
	case <-wake:
		return false
	case <-w.t.C:
		return true
	}
}

func (w *waitTimer) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// maxBatchRetries bounds how often one batch is rerun after a failing
// function was taken out; past it the rest run one per transaction, so a
// batch full of failures costs O(n) runs, not O(n²).
const maxBatchRetries = 4

// commit runs batch on the writer goroutine. It commits all functions in
// one transaction; a failing function is taken out and the rest rerun, and
// each failed one then runs alone so that only it reports the error.
func (s *Store) commit(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx != nil && r.ctx.Err() != nil {
			s.finish(r, r.ctx.Err())
			continue
		}
		live = append(live, r)
	}
	var failed []*request
	for len(live) > 0 {
		if len(failed) >= maxBatchRetries {
			for _, r := range live {
				s.finish(r, s.runAlone(r))
			}
			break
		}
		i, err := s.runBatch(live)
		if err == nil {
			for _, r := range live {
				s.finish(r, nil)
			}
			break
		}
		if i < 0 || len(live) == 1 {
			// The commit itself failed, or the only function did: no
			// rerun can do better.
			for _, r := range live {
				s.finish(r, err)
			}
			break
		}
		failed = append(failed, live[i])
		live = append(live[:i:i], live[i+1:]...)
	}
	for _, r := range failed {
		s.finish(r, s.runAlone(r))
	}
}

// runBatch runs fns in one transaction. On failure it returns the index of
// the function that failed, or -1 if the commit did.
func (s *Store) runBatch(batch []*request) (int, error) {
	var (
		failed    int
		remove    []string
		authDirty bool
	)
	err := s.eng.Update(func(ktx kvTx) error {
		// The engine may run this again after a conflict: start afresh.
		failed, remove, authDirty = -1, nil, false
		tx := &Tx{tx: ktx, s: s, writer: true}
		defer func() { authDirty = tx.authDirty }()
		for i, r := range batch {
			if err := tx.call(r.fn); err != nil {
				failed = i
				return err
			}
		}
		var err error
		remove, err = tx.unreferencedBlobs()
		return err
	})
	if err != nil {
		var ee *engineError
		if errors.As(err, &ee) {
			// The database failed, not the function that saw it.
			failed = -1
		}
		return failed, err
	}
	s.commits.Add(1)
	s.writes.Add(uint64(len(batch)))
	if authDirty {
		// After the commit, never before: a reader that sees the new
		// generation must also see the new records.
		s.authGen.Add(1)
	}
	s.removeBlobs(remove)
	return -1, nil
}

// runAlone runs one function in its own transaction.
func (s *Store) runAlone(r *request) error {
	_, err := s.runBatch([]*request{r})
	return err
}

// finish reports a write's result. A panicking callback must not take the
// writer down with it: every later write would hang.
func (s *Store) finish(r *request, err error) {
	if r.done == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("write callback panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	r.done(err)
}

// call runs fn, turning a panic into an error so that one bad write fails
// alone instead of killing the writer and with it every later write.
func (tx *Tx) call(fn func(*Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			tx.s.log.Error("write function panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("persist: write function panicked: %v", p)
		}
	}()
	return fn(tx)
}

// Check runs the engine's consistency check (bbolt's, on bbolt), then
// verifies the store's own invariants: every index entry matches its
// record, counters and blob reference counts are exact, and every
// referenced blob exists. No commit changes what it reads while it runs;
// nothing is written.
func (s *Store) Check() error {
	var shas []string
	err := s.eng.Check(func(ktx kvTx) error {
		tx := &Tx{tx: ktx, s: s}
		err := tx.checkInvariants()
		shas = tx.blobs
		return err
	})
	if err != nil {
		return err
	}
	// Outside the transaction: the PostgreSQL backend asks the pool,
	// which the transaction holds a connection of.
	return s.checkBlobs(shas)
}

// mapClosed turns bbolt's "database not open" into ErrClosed.
func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("persist: %w", ErrClosed)
	}
	return err
}

// AuthGeneration returns a number that changes after every commit that
// wrote users or API keys (a revocation, a disabled user, a role change).
// A credential cache keeps the generation it read its entries under and
// drops them once it differs, so that such changes apply at once.
func (s *Store) AuthGeneration() uint64 { return s.authGen.Load() }
