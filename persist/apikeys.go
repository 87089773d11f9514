package persist

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// CreateAPIKey stores k. An empty ID is minted and a zero CreatedAt becomes
// now. It fails with ErrInvalid without a UserID or Prefix, ErrNotFound if
// the user does not exist, and ErrConflict if the prefix or id is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey) error {
	if k.ID == "" {
		k.ID = newID(idPrefixKey)
	}
	return s.Update(ctx, func(tx *Tx) error { return tx.CreateAPIKey(k) })
}

// CreateAPIKey is Store.CreateAPIKey inside tx.
func (tx *Tx) CreateAPIKey(k APIKey) error {
	if k.ID == "" {
		k.ID = newID(idPrefixKey)
	}
	if err := checkID("key id", k.ID); err != nil {
		return err
	}
	if err := checkID("user id", k.UserID); err != nil {
		return err
	}
	if k.Prefix == "" {
		return fmt.Errorf("persist: api key without prefix: %w", ErrInvalid)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt = normTime(k.CreatedAt)
	k.LastUsedAt = normTime(k.LastUsedAt)
	if tx.bucket(bucketUsers).Get([]byte(k.UserID)) == nil {
		return fmt.Errorf("persist: user %s: %w", k.UserID, ErrNotFound)
	}
	keys := tx.bucket(bucketKeys)
	byPrefix := tx.bucket(bucketKeysByPrefix)
	if byPrefix.Get([]byte(k.Prefix)) != nil {
		return fmt.Errorf("persist: api key prefix %s exists: %w", k.Prefix, ErrConflict)
	}
	if keys.Get([]byte(k.ID)) != nil {
		return fmt.Errorf("persist: api key %s exists: %w", k.ID, ErrConflict)
	}
	if err := putJSON(keys, []byte(k.ID), k); err != nil {
		return err
	}
	if err := byPrefix.Put([]byte(k.Prefix), []byte(k.ID)); err != nil {
		return err
	}
	return tx.bucket(bucketKeysByUser).Put(key(k.UserID, k.ID), nil)
}

func (tx *Tx) apiKey(id string) (APIKey, bool, error) {
	var k APIKey
	ok, err := getJSON(tx.bucket(bucketKeys), []byte(id), &k)
	return k, ok, err
}

// APIKeyByPrefix returns the key with that prefix, or ErrNotFound. Its
// LastUsedAt includes touches not yet written.
func (s *Store) APIKeyByPrefix(prefix string) (APIKey, error) {
	var k APIKey
	err := s.View(func(tx *Tx) error {
		id := tx.bucket(bucketKeysByPrefix).Get([]byte(prefix))
		if id == nil {
			return fmt.Errorf("persist: api key with prefix %s: %w", prefix, ErrNotFound)
		}
		var ok bool
		var err error
		if k, ok, err = tx.apiKey(string(id)); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("persist: api key %s: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return APIKey{}, err
	}
	s.applyTouch(&k)
	return k, nil
}

// ListAPIKeys returns userID's keys, oldest first, with pending touches.
func (s *Store) ListAPIKeys(userID string) ([]APIKey, error) {
	list := []APIKey{}
	err := s.View(func(tx *Tx) error {
		prefix := prefixKey(userID)
		c := tx.bucket(bucketKeysByUser).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ak, ok, err := tx.apiKey(string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if ok {
				list = append(list, ak)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range list {
		s.applyTouch(&list[i])
	}
	slices.SortFunc(list, func(a, b APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// DeleteAPIKey removes userID's key id. Another user's key is ErrNotFound,
// like a missing one, so that ids do not leak across tenants.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, id string) error {
	err := s.Update(ctx, func(tx *Tx) error {
		k, ok, err := tx.apiKey(id)
		if err != nil {
			return err
		}
		if !ok || k.UserID != userID {
			return fmt.Errorf("persist: api key %s: %w", id, ErrNotFound)
		}
		if err := tx.bucket(bucketKeys).Delete([]byte(k.ID)); err != nil {
			return err
		}
		if err := tx.bucket(bucketKeysByPrefix).Delete([]byte(k.Prefix)); err != nil {
			return err
		}
		return tx.bucket(bucketKeysByUser).Delete(key(k.UserID, k.ID))
	})
	if err != nil {
		return err
	}
	s.touchMu.Lock()
	delete(s.touches, id)
	s.touchMu.Unlock()
	return nil
}

// TouchAPIKey records that key id was used at at. Authentication calls it
// on every request, so it only updates a map; the flusher writes the latest
// time of each key every TouchFlushInterval and at Close. Touches after
// Close are dropped.
func (s *Store) TouchAPIKey(id string, at time.Time) {
	at = normTime(at)
	s.touchMu.Lock()
	if at.After(s.touches[id]) {
		s.touches[id] = at
	}
	s.touchMu.Unlock()
}

// applyTouch raises k.LastUsedAt to its pending touch, if later.
func (s *Store) applyTouch(k *APIKey) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	for _, m := range []map[string]time.Time{s.flushing, s.touches} {
		if at, ok := m[k.ID]; ok && at.After(k.LastUsedAt) {
			k.LastUsedAt = at
		}
	}
}

// runTouchFlusher writes pending touches every TouchFlushInterval until
// Close.
func (s *Store) runTouchFlusher() {
	defer close(s.touchDone)
	t := time.NewTicker(s.cfg.TouchFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quitTouch:
			return
		case <-t.C:
			s.flushTouches()
		}
	}
}

// flushTouches writes the pending touches in one write. While it runs they
// stay visible to readers in s.flushing; if the write fails they go back to
// the pending map.
func (s *Store) flushTouches() {
	s.touchMu.Lock()
	if len(s.touches) == 0 {
		s.touchMu.Unlock()
		return
	}
	pending := s.touches
	s.flushing = pending
	s.touches = make(map[string]time.Time)
	s.touchMu.Unlock()

	ids := slices.Sorted(maps.Keys(pending))
	err := s.Update(context.Background(), func(tx *Tx) error {
		keys := tx.bucket(bucketKeys)
		for _, id := range ids {
			k, ok, err := tx.apiKey(id)
			if err != nil {
				return err
			}
			if !ok || !pending[id].After(k.LastUsedAt) {
				continue // deleted meanwhile, or already later
			}
			k.LastUsedAt = pending[id]
			if err := putJSON(keys, []byte(id), k); err != nil {
				return err
			}
		}
		return nil
	})

	s.touchMu.Lock()
	s.flushing = nil
	if err != nil {
		s.log.Warn("writing api key last-use times failed", "err", err, "keys", len(pending))
		for id, at := range pending {
			if at.After(s.touches[id]) {
				s.touches[id] = at
			}
		}
	}
	s.touchMu.Unlock()
}
