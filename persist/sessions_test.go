package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestSessions(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID
	created := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

	sess := persist.Session{ID: "sess_1", WorkspaceID: ws, UserID: u.ID, Title: "First", Model: "mock:echo",
		PermissionMode: "default", Status: "idle", CreatedAt: created}
	require.NoError(t, s.CreateSession(ctx, sess))
	require.ErrorIs(t, s.CreateSession(ctx, sess), persist.ErrConflict)
	require.ErrorIs(t, s.CreateSession(ctx, persist.Session{ID: "sess_2", WorkspaceID: "ws_missing"}), persist.ErrNotFound)
	require.ErrorIs(t, s.CreateSession(ctx, persist.Session{WorkspaceID: ws}), persist.ErrInvalid)

	got, err := s.Session("sess_1")
	require.NoError(t, err)
	sess.UpdatedAt = created
	require.Equal(t, sess, got)
	_, err = s.Session("sess_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)

	_, err = s.LoadSnapshot("sess_1")
	require.ErrorIs(t, err, persist.ErrNotFound, "no snapshot before the first save")

	rec := got
	rec.Title = "Renamed"
	rec.MessageCount = 2
	rec.WorkspaceID = "ws_other" // kept from creation
	rec.CreatedAt = created.Add(time.Hour)
	rec.UpdatedAt = created.Add(2 * time.Hour)
	require.NoError(t, save(t, s, persist.SessionSave{Session: rec, Snapshot: persist.Snapshot{Version: 1, Data: []byte{0, 1, 2}}}))
	got, err = s.Session("sess_1")
	require.NoError(t, err)
	require.Equal(t, "Renamed", got.Title)
	require.Equal(t, 2, got.MessageCount)
	require.Equal(t, ws, got.WorkspaceID)
	require.Equal(t, created, got.CreatedAt)
	require.Equal(t, created.Add(2*time.Hour), got.UpdatedAt)
	snap, err := s.LoadSnapshot("sess_1")
	require.NoError(t, err)
	require.Equal(t, persist.Snapshot{Version: 1, Data: []byte{0, 1, 2}}, snap)

	// A save without a snapshot keeps the last one.
	rec.Status = "running"
	require.NoError(t, save(t, s, persist.SessionSave{Session: rec}))
	snap, err = s.LoadSnapshot("sess_1")
	require.NoError(t, err)
	require.Equal(t, uint16(1), snap.Version)

	// Version 0 with data is a valid snapshot too.
	require.NoError(t, save(t, s, persist.SessionSave{Session: rec, Snapshot: persist.Snapshot{Data: []byte("v0")}}))
	snap, err = s.LoadSnapshot("sess_1")
	require.NoError(t, err)
	require.Equal(t, persist.Snapshot{Data: []byte("v0")}, snap)

	n, err := s.CountSessions()
	require.NoError(t, err)
	require.Equal(t, 1, n)

	require.NoError(t, s.DeleteSession(ctx, "sess_1"))
	require.ErrorIs(t, s.DeleteSession(ctx, "sess_1"), persist.ErrNotFound)
	_, err = s.Session("sess_1")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.LoadSnapshot("sess_1")
	require.ErrorIs(t, err, persist.ErrNotFound)
	n, err = s.CountSessions()
	require.NoError(t, err)
	require.Zero(t, n)
	items, _, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{ws}})
	require.NoError(t, err)
	require.Empty(t, items)
}

func TestSaveSessionAfterDeleteDoesNotResurrect(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	sess := newSession(t, s, u.DefaultWorkspaceID, time.Now(), "doomed")
	require.NoError(t, s.DeleteSession(t.Context(), sess.ID))

	err := save(t, s, persist.SessionSave{Session: sess, Snapshot: persist.Snapshot{Version: 1, Data: []byte("x")}, IndexText: "ghost"})
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.Session(sess.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.LoadSnapshot(sess.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	items, _, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{u.DefaultWorkspaceID}, Q: "ghost"})
	require.NoError(t, err)
	require.Empty(t, items)
}

func TestSaveAndDeleteSessionQueuedTogether(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	sess := newSession(t, s, u.DefaultWorkspaceID, time.Now(), "race")
	release := blockWriter(t, s)
	saved := make(chan error, 2)
	s.SaveSession(persist.SessionSave{Session: sess, IndexText: "before delete"}, func(err error) { saved <- err })
	deleted := make(chan error, 1)
	go func() { deleted <- s.DeleteSession(t.Context(), sess.ID) }()
	require.Eventually(t, func() bool { return s.Queued() == 2 }, 10*time.Second, time.Millisecond)
	s.SaveSession(persist.SessionSave{Session: sess, IndexText: "after delete"}, func(err error) { saved <- err })
	release()
	require.NoError(t, <-saved)
	require.ErrorIs(t, <-saved, persist.ErrNotFound)
	require.NoError(t, <-deleted)
	n, err := s.CountSessions()
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestSessionsInTx(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
		for _, id := range []string{"sess_a", "sess_b"} {
			if err := tx.CreateSession(persist.Session{ID: id, WorkspaceID: u.DefaultWorkspaceID}); err != nil {
				return err
			}
		}
		if err := tx.SaveSession(persist.SessionSave{Session: persist.Session{ID: "sess_a", Title: "composed"}}); err != nil {
			return err
		}
		return tx.DeleteSession("sess_b")
	}))
	got, err := s.Session("sess_a")
	require.NoError(t, err)
	require.Equal(t, "composed", got.Title)
	require.Equal(t, u.DefaultWorkspaceID, got.WorkspaceID)
	_, err = s.Session("sess_b")
	require.ErrorIs(t, err, persist.ErrNotFound)
}

func TestSessionMessages(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID
	created := time.Now().UTC()
	sess := persist.Session{ID: "sess_m", WorkspaceID: ws, UserID: u.ID, Title: "t", CreatedAt: created, UpdatedAt: created}
	require.NoError(t, s.CreateSession(ctx, sess))
	got, err := s.LoadMessages("sess_m")
	require.NoError(t, err)
	require.Empty(t, got)

	require.NoError(t, save(t, s, persist.SessionSave{Session: sess, Messages: [][]byte{[]byte(`"a"`), []byte(`"b"`)}}))
	// A save in flight may repeat a message; the write is idempotent.
	require.NoError(t, save(t, s, persist.SessionSave{Session: sess, Messages: [][]byte{[]byte(`"b"`), []byte(`"c"`)}, MessagesFrom: 1}))
	got, err = s.LoadMessages("sess_m")
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte(`"a"`), []byte(`"b"`), []byte(`"c"`)}, got)

	// Another session's messages stay apart, even with a prefix-sharing id.
	other := persist.Session{ID: "sess_m2", WorkspaceID: ws, UserID: u.ID, CreatedAt: created, UpdatedAt: created}
	require.NoError(t, s.CreateSession(ctx, other))
	require.NoError(t, save(t, s, persist.SessionSave{Session: other, Messages: [][]byte{[]byte(`"x"`)}}))
	got, err = s.LoadMessages("sess_m")
	require.NoError(t, err)
	require.Len(t, got, 3)

	require.NoError(t, s.DeleteSession(ctx, "sess_m"))
	got, err = s.LoadMessages("sess_m")
	require.NoError(t, err)
	require.Empty(t, got, "deleting a session deletes its messages")
	got, err = s.LoadMessages("sess_m2")
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte(`"x"`)}, got)
}
