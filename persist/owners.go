package persist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// bucketSessionOwners holds each claimed session's owner epoch: session
// id → big-endian uint64, incremented by every claim.
var bucketSessionOwners = []byte("session_owners")

// ErrFenced: a write of a session this process claimed was refused
// because another process has claimed it since (a newer owner epoch).
var ErrFenced = errors.New("session is owned by a newer owner")

// ClaimSession makes this process the owner of session id: it takes the
// next owner epoch in the store and returns it. From then on every save of
// the session through this Store carries the epoch, and is refused with
// ErrFenced once another process has claimed the session after it; the
// check and the write are one transaction (serializable on PostgreSQL), so
// a stale owner can never overwrite its successor's writes.
func (s *Store) ClaimSession(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, fmt.Errorf("persist: claim session: empty id: %w", ErrInvalid)
	}
	var epoch uint64
	err := s.Update(ctx, func(tx *Tx) error {
		b := tx.bucket(bucketSessionOwners)
		epoch = 1
		if v := b.Get([]byte(id)); len(v) == 8 {
			epoch = binary.BigEndian.Uint64(v) + 1
		}
		return b.Put([]byte(id), u64(epoch))
	})
	if err != nil {
		return 0, err
	}
	s.owned.Store(id, epoch)
	return epoch, nil
}

// ReleaseSession forgets this process's claim of session id if it is
// still epoch: its saves are no longer fenced (nor refused).
func (s *Store) ReleaseSession(id string, epoch uint64) {
	s.owned.CompareAndDelete(id, epoch)
}

// SessionEpoch returns session id's stored owner epoch (0 if never
// claimed).
func (s *Store) SessionEpoch(id string) (uint64, error) {
	var epoch uint64
	err := s.View(func(tx *Tx) error {
		if v := tx.bucket(bucketSessionOwners).Get([]byte(id)); len(v) == 8 {
			epoch = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return epoch, err
}

// checkOwner fails with ErrFenced unless session id's stored epoch is
// epoch.
func (tx *Tx) checkOwner(id string, epoch uint64) error {
	var stored uint64
	if v := tx.bucket(bucketSessionOwners).Get([]byte(id)); len(v) == 8 {
		stored = binary.BigEndian.Uint64(v)
	}
	if stored != epoch {
		return fmt.Errorf("persist: save session %s at owner epoch %d, stored %d: %w", id, epoch, stored, ErrFenced)
	}
	return nil
}
