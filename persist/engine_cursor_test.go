package persist_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// cursorModel is bbolt's cursor over a sorted key list, as both engines
// must move: a move that would leave the keys returns nil and stays on the
// key at the edge (so Prev after Next ran off the end returns the key
// before the last), except that a Seek past every key leaves the cursor
// after the last, where Prev returns the last key.
type cursorModel struct {
	keys [][]byte
	at   int // index of the current key; len(keys) after a Seek past the end; -1 before any positioning
}

func (m *cursorModel) key() []byte {
	if m.at < 0 || m.at >= len(m.keys) {
		return nil
	}
	return m.keys[m.at]
}

func (m *cursorModel) first() []byte {
	if len(m.keys) == 0 {
		return nil
	}
	m.at = 0
	return m.key()
}

func (m *cursorModel) last() []byte {
	if len(m.keys) == 0 {
		return nil
	}
	m.at = len(m.keys) - 1
	return m.key()
}

func (m *cursorModel) seek(s []byte) []byte {
	if len(m.keys) == 0 {
		return nil
	}
	m.at, _ = slices.BinarySearchFunc(m.keys, s, bytes.Compare)
	return m.key()
}

func (m *cursorModel) next() []byte {
	if m.at < 0 || m.at+1 >= len(m.keys) {
		return nil
	}
	m.at++
	return m.key()
}

func (m *cursorModel) prev() []byte {
	if m.at <= 0 {
		return nil
	}
	m.at--
	return m.key()
}

// testEngineCursorDirections drives cursors with random sequences of
// First, Last, Seek, Next and Prev, turning around often, mid-page and at
// the edges of the PostgreSQL engine's pages and of bbolt's leaves, and
// after running off either end, and compares every key and value with
// cursorModel. Buckets of 0, 1, 2, 17 and 700 keys, nested buckets among
// them, cover the short cases and the paged ones.
func testEngineCursorDirections(t *testing.T) {
	s := persisttest.Open(t)
	rng := rand.New(rand.NewPCG(11, 12))
	sizes := []int{0, 1, 2, 17, 700}
	keysOf := map[int][][]byte{}
	nested := map[string]bool{}
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		for _, n := range sizes {
			b, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "dir_test_%d", n))
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			var keys [][]byte
			for len(keys) < n {
				k := make([]byte, 1+rng.IntN(3))
				for i := range k {
					k[i] = byte(rng.IntN(16)) * 17 // 0x00 … 0xff
				}
				if seen[string(k)] {
					continue
				}
				seen[string(k)] = true
				keys = append(keys, k)
				if rng.IntN(10) == 0 {
					nested[fmt.Sprint(n, string(k))] = true
					if _, err := b.CreateBucketIfNotExists(k); err != nil {
						return err
					}
					continue
				}
				// Values large enough to spread bbolt's keys over many leaves.
				if err := b.Put(k, bytes.Repeat(k, 40)); err != nil {
					return err
				}
			}
			slices.SortFunc(keys, bytes.Compare)
			keysOf[n] = keys
		}
		return nil
	}))
	value := func(n int, k []byte) []byte {
		if k == nil || nested[fmt.Sprint(n, string(k))] {
			return nil
		}
		return bytes.Repeat(k, 40)
	}
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		for _, n := range sizes {
			b := tx.Bucket(fmt.Appendf(nil, "dir_test_%d", n))
			for walk := range 40 {
				c := b.Cursor()
				m := &cursorModel{keys: keysOf[n], at: -1}
				var trace []string
				for range 120 {
					var got, gotV, want []byte
					var op string
					switch r := rng.IntN(20); {
					case r == 0:
						op = "First"
						got, gotV = c.First()
						want = m.first()
					case r == 1:
						op = "Last"
						got, gotV = c.Last()
						want = m.last()
					case r <= 3:
						seek := make([]byte, rng.IntN(4))
						for i := range seek {
							seek[i] = byte(rng.IntN(256))
						}
						if rng.IntN(4) == 0 && len(m.keys) > 0 {
							seek = m.keys[rng.IntN(len(m.keys))]
						}
						op = fmt.Sprintf("Seek(%x)", seek)
						got, gotV = c.Seek(seek)
						want = m.seek(seek)
					case r <= 11:
						op = "Next"
						got, gotV = c.Next()
						want = m.next()
					default:
						op = "Prev"
						got, gotV = c.Prev()
						want = m.prev()
					}
					trace = append(trace, op)
					if len(trace) > 12 {
						trace = trace[1:]
					}
					require.Equal(t, want, got, "bucket of %d keys, walk %d: key after %v", n, walk, trace)
					require.Equal(t, value(n, want), gotV, "bucket of %d keys, walk %d: value after %v", n, walk, trace)
				}
			}
		}
		return nil
	}))
}

// testEngineCursorIdioms checks the moves the repositories make, one by
// one, on a bucket of many pages: the last key below a bound (Seek then
// Prev, or Last when the Seek runs off the end), a walk forward that
// turns back, and a walk back that turns forward.
func testEngineCursorIdioms(t *testing.T) {
	s := persisttest.Open(t)
	const n = 600
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("idiom_test"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(key(i), key(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		b := tx.Bucket([]byte("idiom_test"))
		for _, bound := range []int{1, 15, 16, 17, 47, 48, 300, 599} {
			c := b.Cursor()
			k, _ := c.Seek(key(bound))
			require.Equal(t, key(bound), k)
			k, _ = c.Prev()
			require.Equal(t, key(bound-1), k, "Seek(%d) then Prev", bound)
			k, _ = c.Next()
			require.Equal(t, key(bound), k, "Seek(%d), Prev, Next", bound)
		}
		c := b.Cursor()
		k, _ := c.Seek([]byte("l"))
		require.Nil(t, k, "Seek past the last key")
		k, _ = c.Prev()
		require.Equal(t, key(n-1), k, "Prev after a Seek past the end is the last key")

		// Forward over several pages, then back to the start.
		k, _ = c.First()
		require.Equal(t, key(0), k)
		for i := 1; i < 100; i++ {
			k, _ = c.Next()
			require.Equal(t, key(i), k)
		}
		for i := 98; i >= 0; i-- {
			k, _ = c.Prev()
			require.Equal(t, key(i), k, "back from 99")
		}
		k, _ = c.Prev()
		require.Nil(t, k, "before the first key")
		k, _ = c.Next()
		require.Equal(t, key(1), k, "Next after running off the start: the cursor stayed on the first key")

		// Back over several pages from the end, then forward to it.
		k, _ = c.Last()
		require.Equal(t, key(n-1), k)
		for i := n - 2; i >= n-100; i-- {
			k, _ = c.Prev()
			require.Equal(t, key(i), k)
		}
		for i := n - 99; i < n; i++ {
			k, _ = c.Next()
			require.Equal(t, key(i), k, "forward from %d", n-100)
		}
		k, _ = c.Next()
		require.Nil(t, k, "past the last key")
		k, _ = c.Prev()
		require.Equal(t, key(n-2), k, "Prev after running off the end: the cursor stayed on the last key")

		// Zigzag across a page edge.
		k, _ = c.Seek(key(14))
		require.Equal(t, key(14), k)
		for i := range 10 {
			k, _ = c.Next()
			require.Equal(t, key(15+i), k)
			k, _ = c.Next()
			require.Equal(t, key(16+i), k)
			k, _ = c.Prev()
			require.Equal(t, key(15+i), k)
		}
		return nil
	}))
}

// testMigrateFromThePreviousSchema opens a store whose data the previous
// schema version wrote (the last migration's buckets dropped, the version
// set back) and checks that Open migrates it, keeping what was there, and
// that a second Open has nothing left to do.
func testMigrateFromThePreviousSchema(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	u := newUser(t, s)
	sess := newSession(t, s, u.DefaultWorkspaceID, time.Now(), "before the migration")
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "kept.txt", CreatedBy: u.ID}, strings.NewReader("kept"), 0)
	require.NoError(t, err)
	require.NoError(t, s.RollBackLastMigration())
	require.NoError(t, s.Close())

	for range 2 {
		s, err = persist.Open(cfg)
		require.NoError(t, err)
		require.Equal(t, persist.LatestSchema(), s.SchemaVersion())
		got, err := s.UserByID(u.ID)
		require.NoError(t, err)
		require.Equal(t, u.Email, got.Email)
		gotSess, err := s.Session(sess.ID)
		require.NoError(t, err)
		require.Equal(t, sess.Title, gotSess.Title)
		gotFile, err := s.File(f.ID)
		require.NoError(t, err)
		require.Equal(t, f.SHA256, gotFile.SHA256)
		newUser(t, s)
		require.NoError(t, s.Check())
		require.NoError(t, s.Close())
	}
}
