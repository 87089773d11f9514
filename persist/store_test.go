package persist_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestOpenValidatesConfig(t *testing.T) {
	_, err := persist.Open(persist.Config{})
	require.ErrorIs(t, err, persist.ErrInvalid)
}

func TestOpenCreatesSchema(t *testing.T) {
	s := persisttest.Open(t)
	require.Equal(t, persist.LatestSchema(), s.SchemaVersion())
	n, err := s.CountUsers()
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.CountSessions()
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, s.Check())
}

func TestOpenLockedDataDir(t *testing.T) {
	dir := t.TempDir()
	openAt(t, dir)
	// A second Store in the same process conflicts on the flock like
	// another process would.
	_, err := persist.Open(persist.Config{Dir: dir, OpenTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, persist.ErrLocked)
	require.ErrorContains(t, err, "data dir "+dir+" is in use by another process")
}

func TestReopenKeepsEverything(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s := reopen(t, cfg)
	u := newUser(t, s)
	key := persist.APIKey{UserID: u.ID, Name: "ci", Prefix: uniq("sk"), Hash: []byte{1, 2, 3}}
	require.NoError(t, s.CreateAPIKey(t.Context(), key))
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a/b.txt"},
		strings.NewReader("hello"), 0)
	require.NoError(t, err)
	sess := newSession(t, s, u.DefaultWorkspaceID, time.Now(), "reopen test")
	require.NoError(t, save(t, s, persist.SessionSave{
		Session:   sess,
		Snapshot:  persist.Snapshot{Version: 3, Data: []byte("state")},
		IndexText: "durable words",
	}))
	require.NoError(t, s.Close())

	s2 := reopen(t, cfg)
	require.NoError(t, s2.Check())
	require.Equal(t, persist.LatestSchema(), s2.SchemaVersion())
	got, err := s2.UserByEmail(u.Email)
	require.NoError(t, err)
	require.Equal(t, u, got)
	k, err := s2.APIKeyByPrefix(key.Prefix)
	require.NoError(t, err)
	require.Equal(t, key.Hash, k.Hash)
	gf, err := s2.File(f.ID)
	require.NoError(t, err)
	require.Equal(t, f, gf)
	r, _, err := s2.OpenFileContent(f.ID)
	require.NoError(t, err)
	defer r.Close()
	snap, err := s2.LoadSnapshot(sess.ID)
	require.NoError(t, err)
	require.Equal(t, persist.Snapshot{Version: 3, Data: []byte("state")}, snap)
	items, _, err := s2.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{u.DefaultWorkspaceID}, Q: "durable"})
	require.NoError(t, err)
	require.Len(t, items, 1)
}

func TestCloseIsIdempotentAndRefusesWork(t *testing.T) {
	s, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())

	err = s.Update(t.Context(), func(*persist.Tx) error { return nil })
	require.ErrorIs(t, err, persist.ErrClosed)
	var asyncErr error
	s.UpdateAsync(func(*persist.Tx) error { return nil }, func(err error) { asyncErr = err })
	require.ErrorIs(t, asyncErr, persist.ErrClosed)
	_, err = s.UserByID("usr_x")
	require.ErrorIs(t, err, persist.ErrClosed)
	_, err = s.PutFile(t.Context(), persist.File{WorkspaceID: "ws_x", Path: "a"}, strings.NewReader("x"), 0)
	require.ErrorIs(t, err, persist.ErrClosed)
}

func TestConcurrentCloseWaits(t *testing.T) {
	s, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { require.NoError(t, s.Close()) })
	}
	wg.Wait()
}

// blockWriter parks the writer inside a write until the returned func is
// called, so that the test can queue writes that will share one batch.
func blockWriter(t *testing.T, s *persist.Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	s.UpdateAsync(func(*persist.Tx) error {
		close(started)
		<-unblock
		return nil
	}, nil)
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	return release
}

func TestGroupCommitFailingWriteFailsAlone(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	release := blockWriter(t, s)

	const n = 20
	boom := errors.New("boom")
	errs := make([]error, n)
	runs := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx *persist.Tx) error {
				runs[i]++ // only the writer goroutine runs fns
				switch i {
				case 7:
					return boom
				case 13:
					panic("bad write")
				}
				return tx.CreateSession(persist.Session{ID: "sess_" + string(rune('a'+i)), WorkspaceID: u.DefaultWorkspaceID})
			})
		})
	}
	require.Eventually(t, func() bool { return s.Queued() == n }, 10*time.Second, time.Millisecond)
	before := s.Stats()
	release()
	wg.Wait()

	for i, err := range errs {
		switch i {
		case 7:
			require.ErrorIs(t, err, boom)
		case 13:
			require.ErrorContains(t, err, "panicked")
		default:
			require.NoError(t, err, "write %d", i)
			// A write that shared a rolled-back batch ran again.
			require.GreaterOrEqual(t, runs[i], 1)
		}
	}
	count, err := s.CountSessions()
	require.NoError(t, err)
	require.Equal(t, n-2, count)
	after := s.Stats()
	require.Equal(t, uint64(n-2), after.Writes-before.Writes-1, "the blocking write plus the successful ones")
	require.Less(t, after.Commits-before.Commits, uint64(n-2), "successful writes shared commits")
}

func TestUpdateConcurrentWritersAllCommit(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sess := persist.Session{ID: uniq("sess"), WorkspaceID: u.DefaultWorkspaceID, Title: "concurrent"}
			errs[i] = s.Update(t.Context(), func(tx *persist.Tx) error { return tx.CreateSession(sess) })
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	count, err := s.CountSessions()
	require.NoError(t, err)
	require.Equal(t, n, count)
}

func TestUpdateCancelledBeforeRunDoesNotRun(t *testing.T) {
	s := persisttest.Open(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(*persist.Tx) error { ran <- struct{}{}; return nil })
	}()
	require.Eventually(t, func() bool { return s.Queued() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	release()
	// A later write commits after the cancelled one was dropped.
	require.NoError(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }))
	require.Empty(t, ran)

	require.ErrorIs(t, s.Update(ctx, func(*persist.Tx) error { return nil }), context.Canceled)
}

func TestUpdateAsyncReportsAfterCommit(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	done := make(chan error, 1)
	s.UpdateAsync(func(tx *persist.Tx) error {
		return tx.CreateSession(persist.Session{ID: "sess_async", WorkspaceID: u.DefaultWorkspaceID})
	}, func(err error) { done <- err })
	require.NoError(t, <-done)
	_, err := s.Session("sess_async")
	require.NoError(t, err)

	// A panicking callback does not stop the writer.
	s.UpdateAsync(func(*persist.Tx) error { return nil }, func(error) { panic("callback") })
	require.NoError(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }))
}

func TestCloseDrainsQueuedWrites(t *testing.T) {
	s, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true})
	require.NoError(t, err)
	u := newUser(t, s)
	release := blockWriter(t, s)
	const n = 10
	results := make(chan error, n)
	for range n {
		s.UpdateAsync(func(tx *persist.Tx) error {
			return tx.CreateSession(persist.Session{ID: uniq("sess"), WorkspaceID: u.DefaultWorkspaceID, Title: "drain"})
		}, func(err error) { results <- err })
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	require.NoError(t, <-closed)
	for range n {
		require.NoError(t, <-results)
	}
}

func TestViewSeesCommittedWrites(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
		return tx.CreateSession(persist.Session{ID: "sess_v", WorkspaceID: u.DefaultWorkspaceID})
	}))
	sentinel := errors.New("stop")
	err := s.View(func(tx *persist.Tx) error {
		// A write in a read transaction fails; bbolt refuses it.
		require.Error(t, tx.CreateSession(persist.Session{ID: "sess_w", WorkspaceID: u.DefaultWorkspaceID}))
		return sentinel
	})
	require.ErrorIs(t, err, sentinel)
}

func TestOpenSweepsLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	require.NoError(t, s.Close())
	stray := filepath.Join(dir, "blobs", "ab", "ab"+strings.Repeat("0", 62))
	tmp := filepath.Join(dir, "blobs", "tmp", "put-1")
	require.NoError(t, os.MkdirAll(filepath.Dir(stray), 0o700))
	require.NoError(t, os.WriteFile(stray, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(tmp, []byte("x"), 0o600))

	s2 := openAt(t, dir)
	require.NoError(t, s2.Check())
	require.NoFileExists(t, stray)
	require.NoFileExists(t, tmp)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	require.NoError(t, s.Close())
	db, err := bolt.Open(filepath.Join(dir, "seshat.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("99"))
	}))
	require.NoError(t, db.Close())

	_, err = persist.Open(persist.Config{Dir: dir})
	require.ErrorContains(t, err, "schema version 99 is newer")
}

func TestCheckReportsMissingBlob(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUser(t, s)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "x"}, strings.NewReader("x"), 0)
	require.NoError(t, err)
	require.NoError(t, s.Check())
	require.NoError(t, os.Remove(s.BlobPath(f.SHA256)))
	require.ErrorContains(t, s.Check(), "blob "+f.SHA256)
	_, _, err = s.OpenFileContent(f.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
}

// TestDurableWrites runs the fsync paths (commits, blobs, directories) that
// the NoSync tests skip.
func TestDurableWrites(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, func(c *persist.Config) { c.NoSync = false })
	u := newUser(t, s)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "d"}, strings.NewReader("durable"), 0)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s2 := openAt(t, dir)
	got, err := s2.File(f.ID)
	require.NoError(t, err)
	require.Equal(t, f, got)
	require.NoError(t, s2.Check())
}

// TestPostgresKeepsFilesInTheDatabase: a store on PostgreSQL keeps no
// blob dir in its data dir; a second store on another data dir and the
// same database reads the first one's file.
func TestPostgresKeepsFilesInTheDatabase(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	s := reopen(t, cfg)
	u := newUser(t, s)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a.txt"}, strings.NewReader("in the database"), 0)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(cfg.Dir, "blobs"))
	require.ErrorIs(t, err, os.ErrNotExist)

	other := cfg
	other.Dir = t.TempDir()
	s2 := reopen(t, other)
	require.Equal(t, "in the database", readAll(t, s2, f.ID))
	require.NoError(t, s2.DeleteFile(t.Context(), f.ID))
	has, err := s.HasBlob(f.SHA256)
	require.NoError(t, err)
	require.False(t, has, "the last reference went on the other store: so did the bytes")
	require.NoError(t, s.Check())
}

// TestPostgresBlobsAcrossStores has two stores on one database, as two
// hosts, put and delete files of the same few contents at once: every
// file left reads its bytes on both, and both stores check clean.
func TestPostgresBlobsAcrossStores(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	a := reopen(t, cfg)
	other := cfg
	other.Dir = t.TempDir()
	b := reopen(t, other)
	u := newUser(t, a)
	ws := u.DefaultWorkspaceID
	contents := []string{"alpha", "beta", strings.Repeat("gamma", persist.PGChunkBytes/4)}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for h, s := range []*persist.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				path := fmt.Sprintf("h%d/%d", h, i%5)
				f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: ws, Path: path}, strings.NewReader(contents[i%3]), 0)
				if err != nil {
					errs <- err
					return
				}
				if i%4 == 3 {
					if err := s.DeleteFile(t.Context(), f.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	files, err := a.ListFiles(ws)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		for _, s := range []*persist.Store{a, b} {
			r, _, err := s.OpenFileContent(f.ID)
			require.NoError(t, err, "file %s", f.Path)
			got, err := io.ReadAll(r)
			require.NoError(t, r.Close())
			require.NoError(t, err)
			require.Equal(t, sha(string(got)), f.SHA256)
		}
	}
	require.NoError(t, a.Check())
	require.NoError(t, b.Check())
}

// TestPostgresImportsBlobsKeptInADir opens a store on PostgreSQL whose
// records name bytes only a blob dir holds, as earlier versions kept
// them: Open copies them into the database, and the files read.
func TestPostgresImportsBlobsKeptInADir(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	s := reopen(t, cfg)
	u := newUser(t, s)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "old.txt"}, strings.NewReader("kept in a dir"), 0)
	require.NoError(t, err)
	g, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "lost.txt"}, strings.NewReader("kept nowhere"), 0)
	require.NoError(t, err)
	require.NoError(t, s.ForgetBlob(f.SHA256))
	require.NoError(t, s.ForgetBlob(g.SHA256))
	require.Error(t, s.Check(), "the records name missing bytes")
	require.NoError(t, s.Close())
	legacy := filepath.Join(cfg.Dir, "blobs", f.SHA256[:2], f.SHA256)
	require.NoError(t, os.MkdirAll(filepath.Dir(legacy), 0o700))
	require.NoError(t, os.WriteFile(legacy, []byte("kept in a dir"), 0o600))

	s = reopen(t, cfg)
	require.Equal(t, "kept in a dir", readAll(t, s, f.ID))
	_, _, err = s.OpenFileContent(g.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	err = s.Check()
	require.ErrorContains(t, err, g.SHA256)
	require.NotContains(t, err.Error(), f.SHA256)
	require.NoError(t, s.DeleteFile(t.Context(), g.ID))
	require.NoError(t, s.Check())
}

// TestLazyWritesShareTheNextCommit: a lazy write waits for a write someone
// waits on and commits with it; alone, it commits after LazyDelay; at
// Close, at once.
func TestLazyWritesShareTheNextCommit(t *testing.T) {
	// A delay far longer than the test, so that only the eager write (or
	// Close) can have ended the wait.
	s := openAt(t, t.TempDir(), func(c *persist.Config) { c.LazyDelay = time.Hour })
	before := s.Stats()
	lazy := make(chan error, 1)
	s.UpdateLazy(func(*persist.Tx) error { return nil }, func(err error) { lazy <- err })
	require.Eventually(t, func() bool { return s.Queued() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }))
	require.NoError(t, <-lazy)
	after := s.Stats()
	require.Equal(t, uint64(1), after.Commits-before.Commits, "the lazy write shared the eager write's commit")
	require.Equal(t, uint64(2), after.Writes-before.Writes)

	// Alone, past its delay.
	quick := openAt(t, t.TempDir(), func(c *persist.Config) { c.LazyDelay = 20 * time.Millisecond })
	done := make(chan error, 1)
	quick.UpdateLazy(func(*persist.Tx) error { return nil }, func(err error) { done <- err })
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a lone lazy write never committed")
	}

	// Queued at Close: committed before Close returns.
	s.UpdateLazy(func(*persist.Tx) error { return nil }, func(err error) { lazy <- err })
	require.NoError(t, s.Close())
	select {
	case err := <-lazy:
		require.NoError(t, err)
	default:
		t.Fatal("Close returned before the lazy write committed")
	}
}
