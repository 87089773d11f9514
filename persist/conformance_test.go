package persist_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestConformance runs the repository tests that open their store with
// persisttest.Open on every engine: bbolt, and PostgreSQL when
// SESHAT_TEST_POSTGRES names one. The same behaviour is the contract; a
// test that fails on one engine only is an engine bug.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"APIKeys", TestAPIKeys},
		{"AuthGenerationChangesWithUsersAndKeys", TestAuthGenerationChangesWithUsersAndKeys},
		{"CreateAPIKeyInTx", TestCreateAPIKeyInTx},
		{"AuditChainUnderConcurrency", TestAuditChainUnderConcurrency},
		{"AuditRetentionKeepsTheChainVerifiable", TestAuditRetentionKeepsTheChainVerifiable},
		{"Files", TestFiles},
		{"PutFileFailedCommitLeavesNoBlob", TestPutFileFailedCommitLeavesNoBlob},
		{"FileBlobRefcount", TestFileBlobRefcount},
		{"FileLargeStreams", TestFileLargeStreams},
		{"PutFileSameBytesConcurrently", TestPutFileSameBytesConcurrently},
		{"ReadOfARemovedBlobFails", TestReadOfARemovedBlobFails},
		{"PutFileTooLarge", TestPutFileTooLarge},
		{"PutFileCancelled", TestPutFileCancelled},
		{"BlobSweepAtOpen", TestBlobSweepAtOpen},
		{"BlobLeaseKeepsAnotherHostsPut", TestBlobLeaseKeepsAnotherHostsPut},
		{"JobCRUD", TestJobCRUD},
		{"JobRuns", TestJobRuns},
		{"ListSessionsInvalid", TestListSessionsInvalid},
		{"ListSessionsMatchesModel", TestListSessionsMatchesModel},
		{"ListSessionsPaging", TestListSessionsPaging},
		{"ListSessionsSearch", TestListSessionsSearch},
		{"SaveAndDeleteSessionQueuedTogether", TestSaveAndDeleteSessionQueuedTogether},
		{"SaveSessionAfterDeleteDoesNotResurrect", TestSaveSessionAfterDeleteDoesNotResurrect},
		{"SessionMessages", TestSessionMessages},
		{"Sessions", TestSessions},
		{"SessionsInTx", TestSessionsInTx},
		{"GroupCommitFailingWriteFailsAlone", TestGroupCommitFailingWriteFailsAlone},
		{"OpenCreatesSchema", TestOpenCreatesSchema},
		{"UpdateAsyncReportsAfterCommit", TestUpdateAsyncReportsAfterCommit},
		{"UpdateCancelledBeforeRunDoesNotRun", TestUpdateCancelledBeforeRunDoesNotRun},
		{"UpdateConcurrentWritersAllCommit", TestUpdateConcurrentWritersAllCommit},
		{"ViewSeesCommittedWrites", TestViewSeesCommittedWrites},
		{"DeleteWorkspaceSweeps", TestDeleteWorkspaceSweeps},
		{"LastOwnerUnderConcurrency", TestLastOwnerUnderConcurrency},
		{"QuotaUsageDeltas", TestQuotaUsageDeltas},
		{"StoredBytesQuotaUnderConcurrency", TestStoredBytesQuotaUnderConcurrency},
		{"WorkspaceRoles", TestWorkspaceRoles},
		{"CreateUserInTx", TestCreateUserInTx},
		{"CreateUserRolesAndWorkspace", TestCreateUserRolesAndWorkspace},
		{"CorpusIngestionCountsAndFencing", TestCorpusIngestionCountsAndFencing},
		{"MemoriesAddSearchSupersede", TestMemoriesAddSearchSupersede},
		{"MemoriesGoWithTheirWorkspace", TestMemoriesGoWithTheirWorkspace},
		{"MemoryAddRejectsBadRecords", TestMemoryAddRejectsBadRecords},
		{"DeleteWorkspaceRemovesItsMCPServers", TestDeleteWorkspaceRemovesItsMCPServers},
		{"ProviderSettingWithoutMasterKey", TestProviderSettingWithoutMasterKey},
		{"ProviderSettingsForScopesAndOrder", TestProviderSettingsForScopesAndOrder},
		{"SaveProviderTokenKeepsVersion", TestSaveProviderTokenKeepsVersion},
		{"SkillsScopedNamedAndDeletedWithTheirWorkspace", TestSkillsScopedNamedAndDeletedWithTheirWorkspace},
		{"SkillSyncAddsUpdatesRemovesAndKeepsFailedPaths", TestSkillSyncAddsUpdatesRemovesAndKeepsFailedPaths},
		{"TouchAPIKeyFlushedPeriodically", TestTouchAPIKeyFlushedPeriodically},
		{"MigrateFromThePreviousSchema", testMigrateFromThePreviousSchema},
		{"ReopenKeepsEverything", TestReopenKeepsEverything},
		{"InProgressCorpusFilesAfterReopen", TestInProgressCorpusFilesAfterReopen},
		{"TouchAPIKeyFlushedAtClose", TestTouchAPIKeyFlushedAtClose},
		{"EngineCursors", testEngineCursors},
		{"EngineNestedBuckets", testEngineNestedBuckets},
		{"EngineCursorDirections", testEngineCursorDirections},
		{"EngineCursorIdioms", testEngineCursorIdioms},
		{"EngineReusedKeyBuffer", testEngineReusedKeyBuffer},
	}
	for _, engine := range persisttest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			persisttest.Force(t, engine)
			for _, tc := range tests {
				t.Run(tc.name, tc.fn)
			}
		})
	}
}

// testEngineCursors checks an engine's cursor moves against a sorted
// slice, over more keys than one page of the PostgreSQL engine holds and
// with direction changes at page edges.
func testEngineCursors(t *testing.T) {
	s := persisttest.Open(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var keys [][]byte
	seen := map[string]bool{}
	for len(keys) < 700 {
		k := make([]byte, 1+rng.IntN(4))
		for i := range k {
			k[i] = byte(rng.IntN(8)) * 36 // 0x00 … 0xfc: the edges of byte order included
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("cursor_test"))
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := b.Put(k, []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	}))
	slices.SortFunc(keys, bytes.Compare)
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		b := tx.Bucket([]byte("cursor_test"))
		require.Equal(t, len(keys), b.Stats().KeyN)
		n := 0
		require.NoError(t, b.ForEach(func(k, _ []byte) error {
			require.Equal(t, keys[n], k)
			n++
			return nil
		}))
		require.Equal(t, len(keys), n)

		c := b.Cursor()
		at := -1 // model position; -1 or len(keys) past the ends
		check := func(op string, k []byte) {
			t.Helper()
			if at < 0 || at >= len(keys) {
				require.Nil(t, k, "after %s", op)
				return
			}
			require.Equal(t, keys[at], k, "after %s", op)
		}
		k, _ := c.First()
		at = 0
		check("First", k)
		for i := 1; i < len(keys); i++ {
			k, _ = c.Next()
			at = i
			check("Next", k)
		}
		k, _ = c.Next()
		require.Nil(t, k)
		k, _ = c.Last()
		at = len(keys) - 1
		check("Last", k)
		for i := len(keys) - 2; i >= 0; i-- {
			k, _ = c.Prev()
			at = i
			check("Prev", k)
		}
		k, _ = c.Prev()
		require.Nil(t, k)
		for range 300 {
			seek := make([]byte, rng.IntN(4))
			for i := range seek {
				seek[i] = byte(rng.IntN(256))
			}
			k, _ = c.Seek(seek)
			at, _ = slices.BinarySearchFunc(keys, seek, bytes.Compare)
			check("Seek", k)
			if at < len(keys) {
				k, _ = c.Next()
				at++
				check("Next", k)
			}
		}
		return nil
	}))
	// Deleting through a cursor while walking forward removes every key.
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		c := tx.Bucket([]byte("cursor_test")).Cursor()
		for _, k := range keys {
			got, _ := c.Seek(k)
			require.Equal(t, k, got)
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		k, _ := tx.Bucket([]byte("cursor_test")).Cursor().First()
		require.Nil(t, k)
		return nil
	}))
}

// testEngineNestedBuckets checks nested buckets, empty values and
// sequences, which the search index and job runs rely on.
func testEngineNestedBuckets(t *testing.T) {
	s := persisttest.Open(t)
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		root, err := tx.CreateBucketIfNotExists([]byte("nest_test"))
		if err != nil {
			return err
		}
		for _, name := range []string{"a/b", "a", "100%", "\x00x", "ünï"} {
			nb, err := root.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte("k"), nil); err != nil {
				return err
			}
			inner, err := nb.CreateBucketIfNotExists([]byte("in"))
			if err != nil {
				return err
			}
			if err := inner.Put([]byte(name), []byte("v")); err != nil {
				return err
			}
		}
		if err := root.Put([]byte("plain"), []byte("p")); err != nil {
			return err
		}
		for i := uint64(1); i <= 3; i++ {
			n, err := root.NextSequence()
			if err != nil {
				return err
			}
			require.Equal(t, i, n)
		}
		return nil
	}))
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		root := tx.Bucket([]byte("nest_test"))
		n, err := root.NextSequence()
		require.NoError(t, err)
		require.Equal(t, uint64(4), n, "sequences survive the commit")
		var names []string
		var vals [][]byte
		require.NoError(t, root.ForEach(func(k, v []byte) error {
			names, vals = append(names, string(k)), append(vals, v)
			return nil
		}))
		require.Equal(t, []string{"\x00x", "100%", "a", "a/b", "plain", "ünï"}, names)
		require.Equal(t, [][]byte{nil, nil, nil, nil, []byte("p"), nil}, vals, "nested buckets read as nil values")
		require.Nil(t, root.Get([]byte("a")), "Get of a nested bucket")
		require.Nil(t, root.Bucket([]byte("plain")), "a value is not a bucket")
		require.Nil(t, root.Bucket([]byte("missing")))
		a := root.Bucket([]byte("a"))
		require.NotNil(t, a)
		v := a.Get([]byte("k"))
		require.NotNil(t, v, "an empty value is not a missing key")
		require.Empty(t, v)
		require.Equal(t, []byte("v"), a.Bucket([]byte("in")).Get([]byte("a")))
		require.NoError(t, root.DeleteBucket([]byte("a")))
		require.Nil(t, root.Bucket([]byte("a")))
		ab := root.Bucket([]byte("a/b"))
		require.NotNil(t, ab, "a sibling whose name extends the deleted one stays")
		require.Equal(t, []byte("v"), ab.Bucket([]byte("in")).Get([]byte("a/b")))
		require.Error(t, root.DeleteBucket([]byte("missing")))
		// Recreated, it starts empty.
		a2, err := root.CreateBucketIfNotExists([]byte("a"))
		require.NoError(t, err)
		k, _ := a2.Cursor().First()
		require.Nil(t, k)
		return nil
	}))
}

// TestPostgresReopenAndSharedSchema runs two stores on one schema, as two
// hosts sharing a database would: both write the same counter at once
// (the database reports conflicts, the writers rerun their batches), and
// a store reopened on the schema sees everything.
func TestPostgresReopenAndSharedSchema(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	a, err := persist.Open(cfg)
	require.NoError(t, err)
	require.Equal(t, persist.LatestSchema(), a.SchemaVersion(), "migrated from an empty database")
	cfg2 := cfg
	cfg2.Dir = t.TempDir()
	b, err := persist.Open(cfg2)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	defer func() { require.NoError(t, a.Close()) }()
	require.NoError(t, a.Update(t.Context(), func(tx *persist.Tx) error { return tx.BenchPut([]byte("n"), u64(0)) }))

	const perStore = 50
	var wg sync.WaitGroup
	for _, s := range []*persist.Store{a, b} {
		wg.Go(func() {
			for range perStore {
				err := s.Update(context.Background(), func(tx *persist.Tx) error {
					return tx.BenchAdd([]byte("n"))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	u, err := a.CreateUser(t.Context(), persist.User{Email: "shared@example.com"}, persist.Workspace{Name: "W"})
	require.NoError(t, err)
	got, err := b.UserByID(u.ID)
	require.NoError(t, err)
	require.Equal(t, u.Email, got.Email)
	_, err = b.CreateUser(t.Context(), persist.User{Email: "shared@example.com"}, persist.Workspace{Name: "W"})
	require.ErrorIs(t, err, persist.ErrConflict, "uniqueness holds across stores")

	c, err := persist.Open(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.RawView(func(tx persist.RawTx) error {
		require.Equal(t, uint64(2*perStore), binary.BigEndian.Uint64(tx.Bucket([]byte("bench")).Get([]byte("n"))))
		return nil
	}))
	require.NoError(t, c.Check())
}

// TestPostgresClosedAndUnreachable checks the errors of a closed store
// and of a database that does not answer.
func TestPostgresClosedAndUnreachable(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.UserByID("usr_x")
	require.ErrorIs(t, err, persist.ErrClosed)
	require.ErrorIs(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }), persist.ErrClosed)

	bad := persist.Config{Dir: t.TempDir(), URL: "postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=1"}
	start := time.Now()
	_, err = persist.Open(bad)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the password stays out of errors")
	require.Less(t, time.Since(start), time.Minute)

	_, err = persist.Open(persist.Config{Dir: t.TempDir(), URL: "mysql://x"})
	require.True(t, errors.Is(err, persist.ErrInvalid))
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// TestPostgresQueuedWriteFailureFailsTheTransaction: writes are sent in
// batches before the next read or the commit; one that the database
// refuses (a key too large for its index) fails the whole transaction,
// the reads after it see nothing, and nothing of it is committed, whether
// a read or the commit sent it.
func TestPostgresQueuedWriteFailureFailsTheTransaction(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	huge := make([]byte, 8000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range huge {
		huge[i] = byte(rng.Uint32())
	}
	for _, readAfter := range []bool{true, false} {
		var seen []byte
		err := s.RawUpdate(func(tx persist.RawTx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("queued_test"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("a"), []byte("1")); err != nil {
				return err
			}
			if err := b.Put(huge, []byte("x")); err != nil {
				return err
			}
			if readAfter {
				seen = b.Get([]byte("a"))
			}
			return nil
		})
		require.Error(t, err, "read after: %v", readAfter)
		require.Nil(t, seen)
		require.NoError(t, s.RawView(func(tx persist.RawTx) error {
			require.Nil(t, tx.Bucket([]byte("queued_test")), "nothing of the failed transaction is committed")
			return nil
		}))
	}
	// And a transaction that reads its own queued writes sees them.
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("queued_test"))
		if err != nil {
			return err
		}
		for i := range 3000 { // past one batch
			if err := b.Put(fmt.Appendf(nil, "k%05d", i), []byte{1}); err != nil {
				return err
			}
		}
		require.Equal(t, []byte{1}, b.Get([]byte("k02999")))
		require.Equal(t, 3000, b.Stats().KeyN)
		return nil
	}))
}

// testEngineReusedKeyBuffer: bbolt copies a key on Put, so a caller may
// reuse its buffer for the next key; every engine must store what the key
// held at the Put.
func testEngineReusedKeyBuffer(t *testing.T) {
	s := persisttest.Open(t)
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("reuse_test"))
		if err != nil {
			return err
		}
		buf := make([]byte, 0, 8)
		for i := range 5 {
			buf = append(buf[:0], 'k', byte('0'+i))
			if err := b.Put(buf, []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		b := tx.Bucket([]byte("reuse_test"))
		for i := range 5 {
			require.Equal(t, []byte{byte(i)}, b.Get([]byte{'k', byte('0' + i)}), "key k%d", i)
		}
		return nil
	}))
}
