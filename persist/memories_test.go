package persist_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func newMemory(u persist.User, content string, at time.Time) persist.Memory {
	return persist.Memory{
		ID: uniq("mem"), Scope: persist.MemoryScopeUser, UserID: u.ID, WorkspaceID: u.DefaultWorkspaceID,
		Content: content, Kind: persist.MemoryKindFact, CreatedAt: at,
	}
}

func TestMemoriesAddSearchSupersede(t *testing.T) {
	s := persisttest.Open(t)
	alice, bob := newUser(t, s), newUser(t, s)
	owner := persist.MemoryOwner(persist.MemoryScopeUser, alice.DefaultWorkspaceID, alice.ID)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tea := newMemory(alice, "The user drinks green tea every morning.", t0)
	berlin := newMemory(alice, "User lives in Berlin", t0.Add(time.Second))
	bobs := newMemory(bob, "User lives in Paris", t0.Add(2*time.Second))
	require.NoError(t, s.AddMemories(t.Context(), tea, berlin, bobs))

	t.Run("normalised text finds the active duplicate", func(t *testing.T) {
		require.NoError(t, s.View(func(tx *persist.Tx) error {
			m, ok, err := tx.ActiveMemoryByNorm(owner, "user drinks GREEN tea, every morning")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tea.ID, m.ID)
			_, ok, err = tx.ActiveMemoryByNorm(owner, "user drinks black tea every morning")
			require.NoError(t, err)
			require.False(t, ok)
			return nil
		}))
	})

	t.Run("search ranks by BM25 and never crosses owners", func(t *testing.T) {
		res, err := s.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: "where does the user live?"})
		require.NoError(t, err)
		require.Len(t, res, 1)
		require.Equal(t, berlin.ID, res[0].Memory.ID)
		require.Greater(t, res[0].Score, 0.0)
		require.Less(t, res[0].Score, 1.0)
	})

	t.Run("a superseded memory leaves search unless asked for", func(t *testing.T) {
		munich := newMemory(alice, "User lives in Munich", t0.Add(3*time.Second))
		munich.Supersedes = berlin.ID
		require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
			if _, err := tx.SupersedeMemory(berlin.ID, munich.ID, munich.CreatedAt); err != nil {
				return err
			}
			return tx.AddMemory(munich)
		}))
		old, err := s.Memory(berlin.ID)
		require.NoError(t, err)
		require.Equal(t, persist.MemorySuperseded, old.Status)
		require.Equal(t, munich.ID, old.SupersededBy)

		res, err := s.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: "user lives in berlin"})
		require.NoError(t, err)
		require.Len(t, res, 1)
		require.Equal(t, munich.ID, res[0].Memory.ID)
		res, err = s.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: "user lives in berlin", IncludeSuperseded: true})
		require.NoError(t, err)
		require.Len(t, res, 2)
		require.Equal(t, berlin.ID, res[0].Memory.ID, "the exact words rank first")

		require.NoError(t, s.View(func(tx *persist.Tx) error {
			_, ok, err := tx.ActiveMemoryByNorm(owner, "User lives in Berlin")
			require.False(t, ok, "a superseded memory is no duplicate")
			return err
		}))
		err = s.Update(t.Context(), func(tx *persist.Tx) error {
			_, err := tx.SupersedeMemory(berlin.ID, "mem_x", time.Time{})
			return err
		})
		require.ErrorIs(t, err, persist.ErrConflict)
	})

	t.Run("listing pages newest first with filters", func(t *testing.T) {
		all, next, err := s.ListMemories(persist.MemoryQuery{Owners: []string{owner}})
		require.NoError(t, err)
		require.Empty(t, next)
		require.Len(t, all, 3)
		require.Equal(t, "User lives in Munich", all[0].Content)

		var got []string
		cursor := ""
		for {
			page, next, err := s.ListMemories(persist.MemoryQuery{Owners: []string{owner}, Limit: 1, Cursor: cursor})
			require.NoError(t, err)
			for _, m := range page {
				got = append(got, m.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, []string{all[0].ID, all[1].ID, all[2].ID}, got)

		active, _, err := s.ListMemories(persist.MemoryQuery{Owners: []string{owner}, Status: persist.MemoryActive, Q: "lives"})
		require.NoError(t, err)
		require.Len(t, active, 1)
		_, _, err = s.ListMemories(persist.MemoryQuery{Owners: []string{owner}, Cursor: "zz"})
		require.ErrorIs(t, err, persist.ErrInvalid)
	})

	t.Run("delete removes the record and its index entries", func(t *testing.T) {
		require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error { return tx.DeleteMemory(tea.ID) }))
		_, err := s.Memory(tea.ID)
		require.ErrorIs(t, err, persist.ErrNotFound)
		res, err := s.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: "green tea", IncludeSuperseded: true})
		require.NoError(t, err)
		require.Empty(t, res)
	})
}

func TestMemoriesGoWithTheirWorkspace(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	ws, err := s.CreateWorkspace(t.Context(), persist.Workspace{Name: "team"}, u.ID)
	require.NoError(t, err)
	mine := newMemory(u, "private note", time.Time{})
	mine.WorkspaceID = ws.ID
	shared := newMemory(u, "shared note", time.Time{})
	shared.WorkspaceID, shared.Scope = ws.ID, persist.MemoryScopeWorkspace
	kept := newMemory(u, "personal note", time.Time{})
	require.NoError(t, s.AddMemories(t.Context(), mine, shared, kept))
	_, err = s.DeleteWorkspace(t.Context(), ws.ID)
	require.NoError(t, err)
	for _, id := range []string{mine.ID, shared.ID} {
		_, err := s.Memory(id)
		require.ErrorIs(t, err, persist.ErrNotFound)
	}
	_, err = s.Memory(kept.ID)
	require.NoError(t, err)
}

func TestMemoryAddRejectsBadRecords(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	for name, mod := range map[string]func(*persist.Memory){
		"scope":     func(m *persist.Memory) { m.Scope = "org" },
		"kind":      func(m *persist.Memory) { m.Kind = "gossip" },
		"content":   func(m *persist.Memory) { m.Content = "  " },
		"workspace": func(m *persist.Memory) { m.WorkspaceID = "ws_missing" },
	} {
		m := newMemory(u, "x y", time.Time{})
		mod(&m)
		err := s.AddMemories(t.Context(), m)
		require.Error(t, err, name)
	}
	m := newMemory(u, "same id", time.Time{})
	require.NoError(t, s.AddMemories(t.Context(), m))
	require.ErrorIs(t, s.AddMemories(t.Context(), m), persist.ErrConflict)
}

// BenchmarkMemoryAdd measures one add (with its duplicate lookup and a
// similarity search, as the update rule does) into an owner that already
// holds b.N-independent n memories.
func BenchmarkMemoryAdd(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := persisttest.Open(b)
			u := newUser(b, s)
			batch := make([]persist.Memory, 0, 1000)
			for i := range n {
				batch = append(batch, newMemory(u, fmt.Sprintf("fact %d about topic%d and item%d", i, i%97, i%1013), time.Time{}))
				if len(batch) == cap(batch) || i == n-1 {
					require.NoError(b, s.AddMemories(b.Context(), batch...))
					batch = batch[:0]
				}
			}
			b.ResetTimer()
			for i := range b.N {
				m := newMemory(u, fmt.Sprintf("new fact %d about topic%d", i, i%89), time.Time{})
				require.NoError(b, s.AddMemories(b.Context(), m))
			}
		})
	}
}

// A search of owners without any memory answers empty at once; one whose
// memories are all superseded (and so counted nowhere in the active
// totals) still finds them when asked to include superseded ones.
func TestSearchMemoriesOwnersWithoutActiveMemories(t *testing.T) {
	s := persisttest.Open(t)
	carol, dave := newUser(t, s), newUser(t, s)
	carolOwner := persist.MemoryOwner(persist.MemoryScopeUser, carol.DefaultWorkspaceID, carol.ID)
	daveOwner := persist.MemoryOwner(persist.MemoryScopeUser, dave.DefaultWorkspaceID, dave.ID)
	shared := persist.MemoryOwner(persist.MemoryScopeWorkspace, carol.DefaultWorkspaceID, "")

	res, err := s.SearchMemories(persist.MemorySearch{Owners: []string{carolOwner, shared}, Query: "what does the user play?"})
	require.NoError(t, err)
	require.NotNil(t, res)
	require.Empty(t, res)

	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	cello := newMemory(carol, "User plays the cello", t0)
	viola := newMemory(carol, "User plays the viola", t0.Add(time.Second))
	viola.Supersedes = cello.ID
	require.NoError(t, s.AddMemories(t.Context(), cello))
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
		if _, err := tx.SupersedeMemory(cello.ID, viola.ID, viola.CreatedAt); err != nil {
			return err
		}
		return tx.AddMemory(viola)
	}))
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error { return tx.DeleteMemory(viola.ID) }))
	require.NoError(t, s.AddMemories(t.Context(), newMemory(dave, "User plays the cello too", t0)))

	for _, owners := range [][]string{{carolOwner}, {shared, carolOwner}} {
		res, err = s.SearchMemories(persist.MemorySearch{Owners: owners, Query: "cello"})
		require.NoError(t, err)
		require.Empty(t, res, "the only memory is superseded")
		res, err = s.SearchMemories(persist.MemorySearch{Owners: owners, Query: "cello", IncludeSuperseded: true})
		require.NoError(t, err)
		require.Len(t, res, 1)
		require.Equal(t, cello.ID, res[0].Memory.ID)
	}
	res, err = s.SearchMemories(persist.MemorySearch{Owners: []string{shared, daveOwner}, Query: "cello"})
	require.NoError(t, err)
	require.Len(t, res, 1, "an owner without memories does not hide another's")
	require.Equal(t, daveOwner, res[0].Memory.Owner())
}

// BenchmarkSearchMemoriesNoMemories is a turn's recall for owners that
// have no memory at all, as most turns are.
func BenchmarkSearchMemoriesNoMemories(b *testing.B) {
	s := persisttest.Open(b)
	u, err := s.CreateUser(b.Context(), persist.User{Email: "recall@example.com"}, persist.Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	owners := []string{persist.MemoryOwner(persist.MemoryScopeUser, u.DefaultWorkspaceID, u.ID), persist.MemoryOwner(persist.MemoryScopeWorkspace, u.DefaultWorkspaceID, "")}
	prompt := "Say hello to the gateway bench, and tell me about the weather in Lisbon today"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SearchMemories(persist.MemorySearch{Owners: owners, Query: prompt, Limit: 5}); err != nil {
			b.Fatal(err)
		}
	}
}
