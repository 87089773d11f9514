package persist

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// CreateSession stores a new session record. ID and WorkspaceID are
// required; a zero CreatedAt becomes now and a zero UpdatedAt becomes
// CreatedAt. The title is indexed for search. It fails with ErrConflict if
// the id exists and ErrNotFound if the workspace does not.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	return s.Update(ctx, func(tx *Tx) error { return tx.CreateSession(sess) })
}

// CreateSession is Store.CreateSession inside tx.
func (tx *Tx) CreateSession(sess Session) error {
	if err := checkID("session id", sess.ID); err != nil {
		return err
	}
	if err := checkID("workspace id", sess.WorkspaceID); err != nil {
		return err
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	sess.CreatedAt = normTime(sess.CreatedAt)
	if sess.UpdatedAt.IsZero() {
		sess.UpdatedAt = sess.CreatedAt
	}
	sess.UpdatedAt = normTime(sess.UpdatedAt)
	if tx.bucket(bucketWorkspaces).Get([]byte(sess.WorkspaceID)) == nil {
		return fmt.Errorf("persist: workspace %s: %w", sess.WorkspaceID, ErrNotFound)
	}
	sessions := tx.bucket(bucketSessions)
	if sessions.Get([]byte(sess.ID)) != nil {
		return fmt.Errorf("persist: session %s exists: %w", sess.ID, ErrConflict)
	}
	if err := putJSON(sessions, []byte(sess.ID), sess); err != nil {
		return err
	}
	byTime := tx.bucket(bucketIdxTime)
	byTime.SetFillPercent(appendFillPercent)
	if err := byTime.Put(listKey(sess.WorkspaceID, sess.CreatedAt, sess.ID), nil); err != nil {
		return err
	}
	if err := tx.index(sess, sess.Title); err != nil {
		return err
	}
	return tx.counterAdd(metaSessionCount, +1)
}

// Session returns the session record, or ErrNotFound.
func (s *Store) Session(id string) (Session, error) {
	return view(s, (*Tx).session, id)
}

func (tx *Tx) session(id string) (Session, error) {
	return record[Session](tx, bucketSessions, "session", id)
}

// snapshotHeader is the envelope before a snapshot's data: its version,
// big-endian, so that old snapshots can be told apart from new ones.
const snapshotHeader = 2

// LoadSnapshot returns the session's last saved snapshot, or ErrNotFound
// if none was saved yet (or the session does not exist).
func (s *Store) LoadSnapshot(id string) (Snapshot, error) {
	var snap Snapshot
	err := s.View(func(tx *Tx) error {
		v := tx.bucket(bucketSnapshots).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("persist: snapshot of session %s: %w", id, ErrNotFound)
		}
		if len(v) < snapshotHeader {
			return fmt.Errorf("persist: snapshot of session %s is truncated (%d bytes)", id, len(v))
		}
		snap = Snapshot{
			Version: binary.BigEndian.Uint16(v),
			Data:    append([]byte{}, v[snapshotHeader:]...),
		}
		return nil
	})
	return snap, err
}

// SaveSession queues save as one group-committed write and returns at
// once; done (if not nil) gets the result on the writer goroutine, as with
// UpdateAsync. The store owns save.Snapshot.Data until done runs: the
// caller must not modify it.
//
// A session deleted meanwhile is not brought back: done gets ErrNotFound.
func (s *Store) SaveSession(save SessionSave, done func(error)) {
	if save.Session.UpdatedAt.IsZero() {
		save.Session.UpdatedAt = now()
	}
	epoch, fenced := s.owned.Load(save.Session.ID)
	s.UpdateAsync(func(tx *Tx) error {
		if fenced {
			if err := tx.checkOwner(save.Session.ID, epoch.(uint64)); err != nil {
				return err
			}
		}
		return tx.SaveSession(save)
	}, done)
}

// SaveSession writes the session's record and snapshot and indexes the
// record's title and save.IndexText, in tx. The session must exist
// (ErrNotFound) unless save.Create; its WorkspaceID, UserID and CreatedAt are kept from
// creation, whatever save.Session says, because the listing and search
// indexes are keyed by them. A zero UpdatedAt becomes now. A zero Snapshot
// (no version, no data) leaves the stored snapshot as it is.
//
// Index terms are only ever added: a word that left the title stays
// searchable until the session is deleted.
func (tx *Tx) SaveSession(save SessionSave) error {
	if save.Create {
		if err := tx.CreateSession(save.Session); err != nil {
			return err
		}
	}
	sessions := tx.bucket(bucketSessions)
	stored := sessions.Get([]byte(save.Session.ID))
	if stored == nil {
		return fmt.Errorf("persist: session %s: %w", save.Session.ID, ErrNotFound)
	}
	rec := save.Session
	rec.CreatedAt = normTime(rec.CreatedAt)
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = now()
	}
	rec.UpdatedAt = normTime(rec.UpdatedAt)
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("persist: encode session %s: %w", rec.ID, err)
	}
	if !sameCreation(stored, data) {
		// The save names another workspace, user or creation time than
		// the record (a caller that does not know them): keep the stored
		// ones, which the indexes are keyed by.
		var kept Session
		if err := json.Unmarshal(stored, &kept); err != nil {
			return fmt.Errorf("persist: decode session %s: %w", rec.ID, err)
		}
		rec.WorkspaceID, rec.UserID, rec.CreatedAt = kept.WorkspaceID, kept.UserID, kept.CreatedAt
		if data, err = json.Marshal(rec); err != nil {
			return fmt.Errorf("persist: encode session %s: %w", rec.ID, err)
		}
	}
	if err := sessions.Put([]byte(rec.ID), data); err != nil {
		return err
	}
	if snap := save.Snapshot; snap.Version != 0 || len(snap.Data) > 0 {
		v := make([]byte, snapshotHeader+len(snap.Data))
		binary.BigEndian.PutUint16(v, snap.Version)
		copy(v[snapshotHeader:], snap.Data)
		if err := tx.bucket(bucketSnapshots).Put([]byte(rec.ID), v); err != nil {
			return err
		}
	}
	if len(save.Messages) > 0 {
		msgs := tx.bucket(bucketMessages)
		msgs.SetFillPercent(0.9) // appended in key order
		for i, m := range save.Messages {
			if err := msgs.Put(messageKey(rec.ID, save.MessagesFrom+i), m); err != nil {
				return err
			}
		}
	}
	return tx.index(rec, rec.Title, save.IndexText)
}

// sameCreation reports whether two encodings of a session record (both
// from encoding/json of Session) hold the same id, workspace, user and
// creation time, by comparing their bytes: the record starts with its id,
// workspace and user, and its creation time follows the first
// `,"created_at":` (a comma and an unescaped quote cannot occur inside a
// string, and no nested object has that key). A save that carries the
// values it loaded so finds them equal without decoding the record; any
// other difference (an older encoding, another field order) answers false,
// and the caller decodes.
func sameCreation(a, b []byte) bool {
	const title, created = `,"title":`, `,"created_at":"`
	i := bytes.Index(a, []byte(title))
	if i < 0 || len(b) < i+len(title) || !bytes.Equal(a[:i+len(title)], b[:i+len(title)]) {
		return false
	}
	ta, tb := timeAfter(a, created), timeAfter(b, created)
	return ta != nil && bytes.Equal(ta, tb)
}

// timeAfter returns the string value after the first key of v, up to its
// closing quote, or nil.
func timeAfter(v []byte, key string) []byte {
	i := bytes.Index(v, []byte(key))
	if i < 0 {
		return nil
	}
	v = v[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

// messageKey is the key of a session's message at index i.
func messageKey(sessionID string, i int) []byte {
	k := make([]byte, 0, len(sessionID)+9)
	k = append(k, sessionID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(i))
}

// LoadMessages returns a session's stored messages in order (none for a
// session whose messages still live in its snapshot).
func (s *Store) LoadMessages(id string) ([][]byte, error) {
	var out [][]byte
	err := s.View(func(tx *Tx) error {
		prefix := append([]byte(id), 0)
		c := tx.bucket(bucketMessages).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if want := messageKey(id, len(out)); !bytes.Equal(k, want) {
				return fmt.Errorf("persist: session %s: message %d is missing", id, len(out))
			}
			out = append(out, bytes.Clone(v))
		}
		return nil
	})
	return out, err
}

// deleteMessages removes every message of a session.
func (tx *Tx) deleteMessages(id string) error {
	prefix := append([]byte(id), 0)
	c := tx.bucket(bucketMessages).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSession removes the session's record, snapshot and index entries.
// A missing id is ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.DeleteSession(id) })
}

// DeleteSession is Store.DeleteSession inside tx.
func (tx *Tx) DeleteSession(id string) error {
	sess, err := tx.session(id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketSessions).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.bucket(bucketSnapshots).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.deleteMessages(id); err != nil {
		return err
	}
	if err := tx.deletePlansWhere(sess.WorkspaceID, func(p Plan) bool { return p.SessionID == id }); err != nil {
		return err
	}
	if err := tx.bucket(bucketIdxTime).Delete(listKey(sess.WorkspaceID, sess.CreatedAt, sess.ID)); err != nil {
		return err
	}
	if err := tx.unindex(sess); err != nil {
		return err
	}
	return tx.counterAdd(metaSessionCount, -1)
}

// CountSessions returns the number of sessions, from a counter kept with
// the records (no scan).
func (s *Store) CountSessions() (int, error) {
	n := 0
	err := s.View(func(tx *Tx) error {
		n = tx.counter(metaSessionCount)
		return nil
	})
	return n, err
}

// listKey is the key of a session in the time index: workspace id, NUL,
// position. Keys of one workspace are contiguous and in creation order, so
// a page is a reverse cursor walk; new sessions land at the end of their
// range, which keeps the bucket append-mostly.
func listKey(workspaceID string, created time.Time, sessionID string) []byte {
	k := make([]byte, 0, len(workspaceID)+1+8+len(sessionID))
	k = append(k, workspaceID...)
	k = append(k, 0)
	k = append(k, timeKey(created)...)
	return append(k, sessionID...)
}
