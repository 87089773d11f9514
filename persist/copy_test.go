package persist_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// fillForCopy writes a bit of every kind of record into s: users and keys,
// sessions with search postings, files, the audit chain, and a raw bucket
// with nested buckets, awkward names and a sequence. It returns a file
// and a session to look for.
func fillForCopy(t *testing.T, s *persist.Store) (persist.File, persist.Session) {
	t.Helper()
	u := newUser(t, s)
	require.NoError(t, s.CreateAPIKey(t.Context(), persist.APIKey{UserID: u.ID, Name: "ci", Prefix: uniq("sk"), Hash: []byte{1, 2, 3}}))
	var f persist.File
	for i := range 3 {
		var err error
		f, err = s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: fmt.Sprintf("docs/%d.txt", i)},
			strings.NewReader(fmt.Sprintf("file number %d", i)), 0)
		require.NoError(t, err)
	}
	var sess persist.Session
	for i := range 20 {
		sess = newSession(t, s, u.DefaultWorkspaceID, time.Now().Add(time.Duration(i)*time.Minute), fmt.Sprintf("session %d", i))
		require.NoError(t, save(t, s, persist.SessionSave{Session: sess, Snapshot: persist.Snapshot{Version: 1, Data: []byte{byte(i)}},
			IndexText: fmt.Sprintf("walrus number %d", i)}))
	}
	for i := range 30 {
		appendAudit(t, s, persist.AuditEntry{ActorID: u.ID, Action: "POST /x", Outcome: persist.OutcomeSuccess,
			Details: map[string]string{"i": fmt.Sprint(i)}})
	}
	require.NoError(t, s.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("copy_test"))
		if err != nil {
			return err
		}
		for range 3 {
			if _, err := b.NextSequence(); err != nil {
				return err
			}
		}
		n, err := b.CreateBucketIfNotExists([]byte("nested/with%odd\x00\xffname"))
		if err != nil {
			return err
		}
		if err := n.Put([]byte{0}, nil); err != nil {
			return err
		}
		for i := range 12000 { // more than a batch
			if err := b.Put(fmt.Appendf(nil, "k%06d", i), []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	return f, sess
}

// TestCopyToPostgres copies a bbolt store into PostgreSQL and finds every
// key, sequence and record on the other side; a non-empty target is
// refused unless Replace says so.
func TestCopyToPostgres(t *testing.T) {
	dir := t.TempDir()
	src := openAt(t, dir)
	f, sess := fillForCopy(t, src)
	want, err := src.Dump()
	require.NoError(t, err)
	total, err := src.CountRows()
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), total)

	dst := persisttest.PostgresConfig(t, persist.Config{Dir: dir, NoSync: true})
	var progressed atomic.Int64
	report, err := persist.CopyToPostgres(t.Context(), src, dst, persist.CopyOptions{BatchRows: 1000,
		Progress: func(n int64) { progressed.Add(n) }})
	require.NoError(t, err)
	require.Equal(t, total, report.Rows)
	require.Equal(t, total, progressed.Load())
	require.Equal(t, persist.LatestSchema(), report.SchemaVersion)
	require.Positive(t, report.Sequences)

	// Blobs: into the database's blob tables, checked; already there,
	// read back and checked, not copied again.
	br, err := persist.CopyBlobs(t.Context(), src, dst, nil)
	require.NoError(t, err)
	require.Equal(t, persist.BlobReport{Blobs: 3, Bytes: 3 * int64(len("file number 0")), Copied: 3}, br)
	br, err = persist.CopyBlobs(t.Context(), src, dst, nil)
	require.NoError(t, err)
	require.Equal(t, persist.BlobReport{Blobs: 3, Bytes: 3 * int64(len("file number 0"))}, br, "already there: checked, not copied")

	// The same records, on PostgreSQL, in a data dir of their own: the
	// bytes are in the database.
	dst.Dir = t.TempDir()
	pg, err := persist.Open(dst)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pg.Close()) })
	require.NoError(t, pg.Check())
	got, err := pg.Dump()
	require.NoError(t, err)
	require.Equal(t, want, got)
	v, err := pg.VerifyAudit()
	require.NoError(t, err)
	require.Equal(t, persist.AuditVerification{OK: true, Entries: 30, FirstSeq: 1, LastSeq: 30}, v)
	r, gf, err := pg.OpenFileContent(f.ID)
	require.NoError(t, err)
	body, err := io.ReadAll(r)
	require.NoError(t, r.Close())
	require.NoError(t, err)
	require.Equal(t, "file number 2", string(body))
	require.Equal(t, f, gf)
	found, _, err := pg.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{sess.WorkspaceID}, Q: "walrus 19"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, sess.ID, found[0].ID)
	require.NoError(t, pg.RawUpdate(func(tx persist.RawTx) error {
		n, err := tx.Bucket([]byte("copy_test")).NextSequence()
		require.Equal(t, uint64(4), n, "sequences continue where the source left them")
		return err
	}))
	require.NoError(t, pg.Close())

	// Again: refused, then replaced.
	_, err = persist.CopyToPostgres(t.Context(), src, dst, persist.CopyOptions{})
	require.ErrorIs(t, err, persist.ErrConflict)
	require.ErrorContains(t, err, "already holds records")
	_, err = persist.CopyToPostgres(t.Context(), src, dst, persist.CopyOptions{Replace: true})
	require.NoError(t, err)
}

// TestCopyBlobsRefusesDamagedBlob fails a copy whose source blob no longer
// holds the bytes its name says, and leaves nothing of it in the target.
func TestCopyBlobsRefusesDamagedBlob(t *testing.T) {
	dir := t.TempDir()
	src := openAt(t, dir)
	u := newUser(t, src)
	f, err := src.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a.txt"}, strings.NewReader("intact"), 0)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src.BlobPath(f.SHA256), []byte("damaged"), 0o600))
	dst := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	_, err = persist.CopyBlobs(t.Context(), src, dst, nil)
	require.ErrorContains(t, err, "holds bytes whose SHA-256 is")
	pg, err := persist.Open(dst)
	require.NoError(t, err)
	defer func() { require.NoError(t, pg.Close()) }()
	has, err := pg.HasBlob(f.SHA256)
	require.NoError(t, err)
	require.False(t, has)
	n, err := pg.BlobLeftovers()
	require.NoError(t, err)
	require.Zero(t, n)
}
