package persist_test

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestSaveSessionKeepsCreation: whatever a save says of the session's
// workspace, user and creation time, the stored ones stay, and the session
// stays listed and searchable where it was created.
func TestSaveSessionKeepsCreation(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	other := newUser(t, s)
	created := time.Date(2025, 3, 1, 9, 0, 0, 123456000, time.UTC)
	sess := newSession(t, s, u.DefaultWorkspaceID, created, "kept creation")
	for i, change := range []func(*persist.Session){
		func(r *persist.Session) { r.WorkspaceID = other.DefaultWorkspaceID },
		func(r *persist.Session) { r.UserID = other.ID },
		func(r *persist.Session) { r.CreatedAt = created.Add(time.Microsecond) },
		func(r *persist.Session) { r.CreatedAt = created.In(time.FixedZone("east", 3600)) },
		func(r *persist.Session) { r.WorkspaceID, r.UserID, r.CreatedAt = "", "", time.Time{} },
		func(*persist.Session) {},
	} {
		rec := sess
		rec.MessageCount = i + 1
		change(&rec)
		require.NoError(t, save(t, s, persist.SessionSave{Session: rec, IndexText: "zebra"}))
		got, err := s.Session(sess.ID)
		require.NoError(t, err)
		require.Equal(t, sess.WorkspaceID, got.WorkspaceID, "change %d", i)
		require.Equal(t, sess.UserID, got.UserID, "change %d", i)
		require.True(t, created.Equal(got.CreatedAt), "change %d: created %v", i, got.CreatedAt)
		require.Equal(t, i+1, got.MessageCount, "change %d", i)
		page, _, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{u.DefaultWorkspaceID}, Q: "zebra kept"})
		require.NoError(t, err)
		require.Len(t, page, 1, "change %d", i)
		page, _, err = s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{other.DefaultWorkspaceID}, Q: "zebra"})
		require.NoError(t, err)
		require.Empty(t, page, "change %d", i)
	}
	require.NoError(t, s.Check())
}

// TestSameCreation: the byte comparison finds two records equal only when
// their id, workspace, user and creation time are the same, whatever else
// differs, strings that look like keys included.
func TestSameCreation(t *testing.T) {
	created := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	base := persist.Session{ID: "sess_1", WorkspaceID: "ws_1", UserID: "usr_1", Title: "t", CreatedAt: created, UpdatedAt: created}
	enc := func(r persist.Session) []byte {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		return b
	}
	a := enc(base)
	same := base
	same.Title = `x","created_at":"2020-01-01T00:00:00Z`
	same.SystemPrompt = `,"created_at":"2020-01-01T00:00:00Z","title":`
	same.Status, same.MessageCount, same.UpdatedAt = "running", 9, created.Add(time.Hour)
	require.True(t, persist.SameCreation(a, enc(same)))
	require.True(t, persist.SameCreation(enc(same), a))
	for i, change := range []func(*persist.Session){
		func(r *persist.Session) { r.ID = "sess_2" },
		func(r *persist.Session) { r.WorkspaceID = "ws_2" },
		func(r *persist.Session) { r.WorkspaceID = "" },
		func(r *persist.Session) { r.UserID = "usr_2" },
		func(r *persist.Session) { r.CreatedAt = created.Add(time.Nanosecond) },
		func(r *persist.Session) { r.CreatedAt = time.Time{} },
	} {
		r := same
		change(&r)
		require.False(t, persist.SameCreation(a, enc(r)), "change %d", i)
	}
	require.False(t, persist.SameCreation(a, []byte(`{}`)))
	require.False(t, persist.SameCreation([]byte(`{"id":"sess_1"}`), a))
}

// TestMergeTerms: merging sorted terms into a reverse record gives the
// record that sorting and joining all of them gives, and the terms it did
// not hold, whatever overlaps (prefixes of each other included).
func TestMergeTerms(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "ab", "abc", "b", "ba", "bb", "io", "iox", "zz", "zzz", "é", "éa", "日本"}
	pick := func() []string {
		set := map[string]struct{}{}
		for range r.IntN(6) {
			set[words[r.IntN(len(words))]] = struct{}{}
		}
		return slices.Sorted(maps.Keys(set))
	}
	for range 2000 {
		old, terms := pick(), pick()
		var stored []byte
		if len(old) > 0 {
			stored = []byte(strings.Join(old, "\x00"))
		}
		var want []string
		for _, term := range terms {
			if !slices.Contains(old, term) {
				want = append(want, term)
			}
		}
		rev, added := persist.MergeTerms(stored, slices.Clone(terms))
		require.Equal(t, want, added, "old %q terms %q", old, terms)
		if len(want) == 0 {
			require.Nil(t, rev)
			continue
		}
		all := slices.Sorted(slices.Values(append(slices.Clone(old), want...)))
		require.Equal(t, strings.Join(all, "\x00"), string(rev), "old %q terms %q", old, terms)
		require.Equal(t, len(rev), cap(rev), "sized once")
	}
}

// TestSaveSessionCreates: a save with Create writes a session never
// created, listed and searchable as CreateSession's are, in one commit;
// a second one is a conflict, and one in a workspace that is gone fails
// without leaving anything.
func TestSaveSessionCreates(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	created := time.Now().UTC()
	rec := persist.Session{ID: uniq("sess"), WorkspaceID: u.DefaultWorkspaceID, UserID: u.ID, Title: "made by its turn",
		CreatedAt: created, UpdatedAt: created, MessageCount: 2}
	sv := persist.SessionSave{Session: rec, Create: true, IndexText: "walrus", Snapshot: persist.Snapshot{Version: 2, Data: []byte("{}")},
		Messages: [][]byte{[]byte(`{"role":"user"}`), []byte(`{"role":"assistant"}`)}}
	require.NoError(t, save(t, s, sv))
	got, err := s.Session(rec.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.MessageCount)
	require.Equal(t, u.ID, got.UserID)
	for _, q := range []string{"walrus", "turn", ""} {
		page, _, err := s.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{u.DefaultWorkspaceID}, Q: q})
		require.NoError(t, err)
		require.Len(t, page, 1, "query %q", q)
	}
	snap, err := s.LoadSnapshot(rec.ID)
	require.NoError(t, err)
	require.Equal(t, []byte("{}"), snap.Data)

	require.ErrorIs(t, save(t, s, sv), persist.ErrConflict)

	gone := sv
	gone.Session.ID, gone.Session.WorkspaceID = uniq("sess"), "ws_gone"
	require.ErrorIs(t, save(t, s, gone), persist.ErrNotFound)
	_, err = s.Session(gone.Session.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	require.NoError(t, s.Check())
}
