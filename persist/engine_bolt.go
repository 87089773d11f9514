package persist

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// boltEngine is the embedded engine: one bbolt file, exclusively locked.
type boltEngine struct {
	db *bolt.DB
}

func (e *boltEngine) View(fn func(kvTx) error) error {
	return mapClosed(e.db.View(func(btx *bolt.Tx) error { return fn(boltTx{btx}) }))
}

func (e *boltEngine) Update(fn func(kvTx) error) error {
	return mapClosed(e.db.Update(func(btx *bolt.Tx) error { return fn(boltTx{btx}) }))
}

// Check holds bbolt's writer lock while it runs: bbolt's check reads the
// freelist, which a concurrent commit changes, so a read-only transaction
// would race the writer. The transaction is rolled back.
func (e *boltEngine) Check(fn func(kvTx) error) error {
	errDone := errors.New("check done")
	var result error
	err := e.db.Update(func(btx *bolt.Tx) error {
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			result = fmt.Errorf("persist: bbolt check: %w", errors.Join(errs...))
		} else {
			result = fn(boltTx{btx})
		}
		return errDone
	})
	if err != nil && !errors.Is(err, errDone) {
		return mapClosed(err)
	}
	return result
}

func (e *boltEngine) Close() error { return e.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name []byte) bucket {
	if b := t.tx.Bucket(name); b != nil {
		return boltBucket{b}
	}
	return nil
}

func (t boltTx) CreateBucketIfNotExists(name []byte) (bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

func (t boltTx) DeleteBucket(name []byte) error { return t.tx.DeleteBucket(name) }

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(key []byte) []byte          { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error    { return b.b.Put(key, value) }
func (b boltBucket) Delete(key []byte) error        { return b.b.Delete(key) }
func (b boltBucket) Cursor() cursor                 { return b.b.Cursor() }
func (b boltBucket) NextSequence() (uint64, error)  { return b.b.NextSequence() }
func (b boltBucket) SetFillPercent(f float64)       { b.b.FillPercent = f }
func (b boltBucket) Stats() bucketStats             { return bucketStats{KeyN: b.b.Stats().KeyN} }
func (b boltBucket) DeleteBucket(name []byte) error { return b.b.DeleteBucket(name) }

func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

func (b boltBucket) Bucket(name []byte) bucket {
	if nb := b.b.Bucket(name); nb != nil {
		return boltBucket{nb}
	}
	return nil
}

func (b boltBucket) CreateBucketIfNotExists(name []byte) (bucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{nb}, nil
}
