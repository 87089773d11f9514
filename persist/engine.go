package persist

// The store reaches its records through the small ordered key-value model
// below, which both engines implement: bbolt (the default, one file in the
// data dir) and PostgreSQL (engine_pg.go). The model is the subset of
// bbolt's that the repositories use, with the same names and semantics:
// buckets of keys in byte order, nested buckets, per-bucket sequences and
// cursors. Byte slices an engine returns are valid until the transaction
// ends; callers copy (decode) what they keep.

// engine is one storage engine.
type engine interface {
	// View runs fn in a read-only transaction that sees every committed
	// write.
	View(fn func(kvTx) error) error
	// Update runs fn in one read-write transaction and commits it unless
	// fn fails. fn may run more than once (an engine retries it when the
	// database reports a conflict), so it must reset what it captures.
	// It is called by the store's writer goroutine only.
	Update(fn func(kvTx) error) error
	// Check runs the engine's own consistency check, then fn in a
	// transaction that no commit changes while it runs. Nothing is
	// written.
	Check(fn func(kvTx) error) error
	// Close releases the engine. Transactions must have ended.
	Close() error
}

// kvTx is a transaction of an engine.
type kvTx interface {
	// Bucket returns the top-level bucket name, or nil if it does not exist.
	Bucket(name []byte) bucket
	// CreateBucketIfNotExists returns the top-level bucket name, creating
	// it first if needed. Migrations call it.
	CreateBucketIfNotExists(name []byte) (bucket, error)
	// DeleteBucket removes the top-level bucket name and everything in it.
	DeleteBucket(name []byte) error
}

// bucket is an ordered set of keys, with values or nested buckets, like
// *bbolt.Bucket. A nested bucket's key reads as a nil value in cursors and
// ForEach; Get returns nil for it. Put of a nil value stores an empty one.
type bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	Cursor() cursor
	ForEach(fn func(k, v []byte) error) error
	NextSequence() (uint64, error)
	Bucket(name []byte) bucket
	CreateBucketIfNotExists(name []byte) (bucket, error)
	DeleteBucket(name []byte) error
	// SetFillPercent tells bbolt how full to leave split pages: 0.9 suits
	// keys appended in order. Other engines ignore it.
	SetFillPercent(f float64)
	Stats() bucketStats
}

// bucketStats describes a bucket.
type bucketStats struct {
	// KeyN counts the bucket's keys, its nested buckets included.
	KeyN int
}

// cursor walks a bucket in key order, like *bbolt.Cursor. Each method
// returns the key and value it lands on, or nil keys past either end.
type cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek moves to the first key at or after seek.
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
	// Delete removes the key the cursor is on.
	Delete() error
}
