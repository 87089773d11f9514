package persist_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "plain", in: "a.txt", want: "a.txt"},
		{name: "nested", in: "dir/sub/a.txt", want: "dir/sub/a.txt"},
		{name: "dot elements", in: "./a/./b", want: "a/b"},
		{name: "double slash", in: "a//b"},
		{name: "trailing slash", in: "a/b/"},
		{name: "blank name", in: " "},
		{name: "blank element", in: "a/ /b"},
		{name: "ideographic space name", in: "a/\u3000"},
		{name: "newline", in: "notes.txt\nsecret.txt  4096 bytes"},
		{name: "carriage return", in: "a\rb"},
		{name: "tab", in: "a\tb"},
		{name: "escape", in: "a\x1b[31mred"},
		{name: "C1 control", in: "a\u0085b"},
		{name: "right-to-left override", in: "invoice\u202Efdp.exe"},
		{name: "bidi isolate", in: "a\u2066b"},
		{name: "zero-width space", in: "read\u200Bme.txt"},
		{name: "zero-width joiner", in: "a\u200Db"},
		{name: "byte order mark", in: "\uFEFFa.txt"},
		{name: "line separator", in: "a\u2028b"},
		{name: "hangul filler", in: "a/\u3164"},
		{name: "spaces inside a name", in: "my notes/a b.txt", want: "my notes/a b.txt"},
		{name: "emoji", in: "🙂/👍🏽.txt", want: "🙂/👍🏽.txt"},
		{name: "dot only elements", in: "./a/.", want: "a"},
		{name: "dots in names", in: "a..b/.hidden", want: "a..b/.hidden"},
		{name: "unicode", in: "données/ファイル.md", want: "données/ファイル.md"},
		{name: "max length", in: strings.Repeat("a", persist.MaxPathBytes), want: strings.Repeat("a", persist.MaxPathBytes)},
		{name: "empty", in: ""},
		{name: "dotdot", in: ".."},
		{name: "dotdot inside", in: "a/../b"},
		{name: "dotdot last", in: "a/.."},
		{name: "absolute", in: "/abs"},
		{name: "nul", in: "a\x00b"},
		{name: "backslash", in: `a\b`},
		{name: "root", in: "."},
		{name: "root slash", in: "./"},
		{name: "too long", in: strings.Repeat("a", persist.MaxPathBytes+1)},
		{name: "bad utf8", in: "a\xffb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := persist.CleanPath(tc.in)
			if tc.want == "" {
				require.ErrorIs(t, err, persist.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func readAll(t *testing.T, s *persist.Store, id string) string {
	t.Helper()
	r, _, err := s.OpenFileContent(id)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestFiles(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID

	f, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "./notes/b.md", ContentType: "text/markdown", CreatedBy: u.ID},
		strings.NewReader("# hello"), 100)
	require.NoError(t, err)
	require.Equal(t, "notes/b.md", f.Path)
	require.Equal(t, int64(7), f.Size)
	require.Equal(t, sha("# hello"), f.SHA256)
	require.True(t, strings.HasPrefix(f.ID, "file_"))
	require.Equal(t, f.CreatedAt, f.UpdatedAt)

	a, err := s.PutFile(ctx, persist.File{ID: "file_a", WorkspaceID: ws, Path: "a.txt"}, strings.NewReader(""), 0)
	require.NoError(t, err)
	require.Equal(t, "file_a", a.ID)
	require.Equal(t, "application/octet-stream", a.ContentType)
	require.Zero(t, a.Size)

	got, err := s.File(f.ID)
	require.NoError(t, err)
	require.Equal(t, f, got)
	got, err = s.FileByPath(ws, "./notes/b.md")
	require.NoError(t, err)
	require.Equal(t, f, got)
	_, err = s.FileByPath(ws, "notes//b.md")
	require.ErrorIs(t, err, persist.ErrInvalid, "an empty element is refused, not collapsed")
	_, err = s.FileByPath(ws, "missing")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.FileByPath(ws, "../x")
	require.ErrorIs(t, err, persist.ErrInvalid)
	_, err = s.File("file_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.ListFiles(ws)
	require.NoError(t, err)
	require.Equal(t, []persist.File{a, f}, list, "sorted by path")
	other := newUser(t, s)
	list, err = s.ListFiles(other.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Empty(t, list)

	require.Equal(t, "# hello", readAll(t, s, f.ID))
	_, _, err = s.OpenFileContent("file_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// Replacing keeps the id and creation time.
	f2, err := s.PutFile(ctx, persist.File{ID: "file_ignored", WorkspaceID: ws, Path: "notes/b.md"}, strings.NewReader("# changed"), 0)
	require.NoError(t, err)
	require.Equal(t, f.ID, f2.ID)
	require.Equal(t, f.CreatedAt, f2.CreatedAt)
	require.False(t, f2.UpdatedAt.Before(f.UpdatedAt))
	require.Equal(t, "# changed", readAll(t, s, f.ID))
	_, err = s.File("file_ignored")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// An id taken at another path conflicts.
	_, err = s.PutFile(ctx, persist.File{ID: "file_a", WorkspaceID: ws, Path: "elsewhere"}, strings.NewReader("x"), 0)
	require.ErrorIs(t, err, persist.ErrConflict)
	_, err = s.PutFile(ctx, persist.File{WorkspaceID: "ws_missing", Path: "x"}, strings.NewReader("x"), 0)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "/etc/passwd"}, strings.NewReader("x"), 0)
	require.ErrorIs(t, err, persist.ErrInvalid)

	require.NoError(t, s.DeleteFile(ctx, f.ID))
	_, err = s.File(f.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.FileByPath(ws, "notes/b.md")
	require.ErrorIs(t, err, persist.ErrNotFound)
	require.ErrorIs(t, s.DeleteFile(ctx, f.ID), persist.ErrNotFound)
}

// hasBlob reports whether s's blob backend holds the blob.
func hasBlob(t *testing.T, s *persist.Store, sha string) bool {
	t.Helper()
	ok, err := s.HasBlob(sha)
	require.NoError(t, err)
	return ok
}

// noLeftovers fails t if a put left temp files or staged chunks behind.
func noLeftovers(t *testing.T, s *persist.Store) {
	t.Helper()
	n, err := s.BlobLeftovers()
	require.NoError(t, err)
	require.Zero(t, n, "no leftover temp file or staged chunk")
}

func TestFileBlobRefcount(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID
	blob := sha("shared bytes")

	f1, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "one"}, strings.NewReader("shared bytes"), 0)
	require.NoError(t, err)
	f2, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("shared bytes"), 0)
	require.NoError(t, err)
	require.Equal(t, f1.SHA256, f2.SHA256)
	require.True(t, hasBlob(t, s, blob))
	require.NoError(t, s.Check())
	noLeftovers(t, s)

	require.NoError(t, s.DeleteFile(ctx, f1.ID))
	require.Equal(t, "shared bytes", readAll(t, s, f2.ID))
	require.True(t, hasBlob(t, s, blob))
	require.NoError(t, s.Check())

	// Replacing content drops the reference to the old blob.
	_, err = s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("new bytes"), 0)
	require.NoError(t, err)
	require.False(t, hasBlob(t, s, blob))
	require.NoError(t, s.Check())

	// Same content at the same path keeps the blob.
	f3, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("new bytes"), 0)
	require.NoError(t, err)
	require.True(t, hasBlob(t, s, f3.SHA256))
	require.NoError(t, s.DeleteFile(ctx, f3.ID))
	require.False(t, hasBlob(t, s, f3.SHA256))
	require.NoError(t, s.Check())
	noLeftovers(t, s)

	// A reader opened before a delete still reads (on PostgreSQL, a blob
	// of one chunk comes whole with the open).
	f4, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "three"}, strings.NewReader("kept open"), 0)
	require.NoError(t, err)
	r, _, err := s.OpenFileContent(f4.ID)
	require.NoError(t, err)
	require.NoError(t, s.DeleteFile(ctx, f4.ID))
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, "kept open", string(b))
	require.False(t, hasBlob(t, s, f4.SHA256))

	// An empty file has a blob too.
	empty, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "empty"}, strings.NewReader(""), 0)
	require.NoError(t, err)
	require.Empty(t, readAll(t, s, empty.ID))
	require.NoError(t, s.Check())
}

// TestFileLargeStreams puts, reads back, replaces and deletes files of
// several chunks on PostgreSQL (and as many bytes on bbolt), their last
// chunk short, read in small pieces.
func TestFileLargeStreams(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID
	content := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7) ^ seed
		}
		return b
	}
	big := content(2*persist.PGChunkBytes+1234, 1)
	f, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "big.bin"}, bytes.NewReader(big), int64(len(big)))
	require.NoError(t, err)
	require.Equal(t, int64(len(big)), f.Size)
	chunks, err := s.BlobChunks(f.SHA256)
	require.NoError(t, err)
	if chunks >= 0 {
		require.Equal(t, 3, chunks)
	}
	r, _, err := s.OpenFileContent(f.ID)
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 1000))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.True(t, bytes.Equal(big, got.Bytes()), "the bytes read back are the bytes put")

	// Exactly one chunk, then one chunk and a byte.
	for _, n := range []int{persist.PGChunkBytes, persist.PGChunkBytes + 1} {
		b := content(n, byte(n))
		f2, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "big.bin"}, bytes.NewReader(b), 0)
		require.NoError(t, err)
		require.Equal(t, f.ID, f2.ID)
		require.True(t, bytes.Equal(b, []byte(readAll(t, s, f.ID))))
		require.False(t, hasBlob(t, s, f.SHA256), "the replaced blob went")
		f = f2
	}
	require.NoError(t, s.Check())
	require.NoError(t, s.DeleteFile(ctx, f.ID))
	require.False(t, hasBlob(t, s, f.SHA256))
	noLeftovers(t, s)
	u2, err := s.Usage()
	require.NoError(t, err)
	require.Zero(t, u2.BlobBytes)
}

func TestPutFileTooLarge(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"},
		strings.NewReader(strings.Repeat("x", 11)), 10)
	require.ErrorIs(t, err, persist.ErrTooLarge)
	noLeftovers(t, s)
	require.False(t, hasBlob(t, s, sha(strings.Repeat("x", 11))))
	_, err = s.FileByPath(u.DefaultWorkspaceID, "big")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// Past the limit by chunks, not bytes.
	_, err = s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"},
		bytes.NewReader(make([]byte, 3*persist.PGChunkBytes)), persist.PGChunkBytes+10)
	require.ErrorIs(t, err, persist.ErrTooLarge)
	noLeftovers(t, s)

	// Exactly at the limit is fine.
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"},
		strings.NewReader(strings.Repeat("x", 10)), 10)
	require.NoError(t, err)
	require.Equal(t, int64(10), f.Size)
	require.NoError(t, s.Check())
}

func TestPutFileCancelled(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.PutFile(ctx, persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "c"}, strings.NewReader("data"), 0)
	require.ErrorIs(t, err, context.Canceled)
	noLeftovers(t, s)
	require.False(t, hasBlob(t, s, sha("data")))
}

func TestPutFileFailedCommitLeavesNoBlob(t *testing.T) {
	s := persisttest.Open(t)
	_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: "ws_missing", Path: "x"}, strings.NewReader("orphan"), 0)
	require.ErrorIs(t, err, persist.ErrNotFound)
	// The clean-up runs as a queued write; one more write waits for it.
	require.NoError(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }))
	require.False(t, hasBlob(t, s, sha("orphan")))
	noLeftovers(t, s)
}

// TestBlobSweepAtOpen reopens a store with a blob placed whose record
// never committed: bbolt removes it at once (no one else writes its
// dir); PostgreSQL, whose blobs other hosts share, only once it is older
// than the grace period, and never a referenced one.
func TestBlobSweepAtOpen(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s := reopen(t, cfg)
	u := newUser(t, s)
	kept, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "kept"}, strings.NewReader("kept"), 0)
	require.NoError(t, err)
	orphan := sha("orphan bytes")
	require.NoError(t, s.PlaceBlobForTest(strings.NewReader("orphan bytes")))
	require.True(t, hasBlob(t, s, orphan))
	require.NoError(t, s.Close())

	s = reopen(t, cfg)
	postgres := cfg.URL != ""
	require.Equal(t, postgres, hasBlob(t, s, orphan), "young: kept only where other hosts may be putting it")
	require.NoError(t, s.Close())
	if postgres {
		s = reopen(t, cfg)
		require.NoError(t, s.AgeBlobs(2*time.Hour, false))
		require.NoError(t, s.Close())
		s = reopen(t, cfg)
		require.False(t, hasBlob(t, s, orphan), "old and unreferenced: swept")
		require.NoError(t, s.Close())
	}
	s = reopen(t, cfg)
	require.True(t, hasBlob(t, s, kept.SHA256))
	require.Equal(t, "kept", readAll(t, s, kept.ID))
	require.NoError(t, s.Check())
}

// TestBlobLeaseKeepsAnotherHostsPut drops the last reference to a blob
// that another host (a lease the store did not take) has just placed
// again: the blob stays until the lease is older than the grace period.
func TestBlobLeaseKeepsAnotherHostsPut(t *testing.T) {
	s := persisttest.Open(t)
	if s.BoltDB() != nil {
		t.Skip("leases are the PostgreSQL backend's")
	}
	u := newUser(t, s)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a"}, strings.NewReader("leased"), 0)
	require.NoError(t, err)
	require.NoError(t, s.AgeBlobs(0, true))
	require.NoError(t, s.DeleteFile(t.Context(), f.ID))
	require.True(t, hasBlob(t, s, f.SHA256), "another host's young lease keeps it")
	f, err = s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "a"}, strings.NewReader("leased"), 0)
	require.NoError(t, err)
	require.NoError(t, s.AgeBlobs(2*time.Hour, true))
	require.NoError(t, s.DeleteFile(t.Context(), f.ID))
	require.False(t, hasBlob(t, s, f.SHA256), "an old lease does not")
}

// TestPutFileSameBytesConcurrently puts the same bytes, of several
// chunks, at many paths at once: every put succeeds, the blob is stored
// once, and nothing staged is left.
func TestPutFileSameBytesConcurrently(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	content := bytes.Repeat([]byte("same bytes "), persist.PGChunkBytes/5)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: fmt.Sprintf("copy%d", i)}, bytes.NewReader(content), 0)
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	files, err := s.ListFiles(u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Len(t, files, 8)
	for _, f := range files {
		require.Equal(t, files[0].SHA256, f.SHA256)
		require.True(t, bytes.Equal(content, []byte(readAll(t, s, f.ID))))
	}
	noLeftovers(t, s)
	require.NoError(t, s.Check())
}

// TestReadOfARemovedBlobFails deletes a file of several chunks while it
// is read: on PostgreSQL the read fails instead of ending short; on
// bbolt the open file still reads whole.
func TestReadOfARemovedBlobFails(t *testing.T) {
	s := persisttest.Open(t)
	u := newUser(t, s)
	content := bytes.Repeat([]byte{7}, 2*persist.PGChunkBytes)
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"}, bytes.NewReader(content), 0)
	require.NoError(t, err)
	r, _, err := s.OpenFileContent(f.ID)
	require.NoError(t, err)
	defer r.Close()
	first := make([]byte, 10)
	_, err = io.ReadFull(r, first)
	require.NoError(t, err)
	require.NoError(t, s.DeleteFile(t.Context(), f.ID))
	rest, err := io.ReadAll(r)
	if s.BoltDB() != nil {
		require.NoError(t, err)
		require.Len(t, rest, len(content)-10)
		return
	}
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, "removed while it was read")
}
