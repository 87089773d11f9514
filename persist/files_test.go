package persist_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestFileBlobRefcount(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	ctx := t.Context()
	u := newUser(t, s)
	ws := u.DefaultWorkspaceID
	blob := s.BlobPath(sha("shared bytes"))

	f1, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "one"}, strings.NewReader("shared bytes"), 0)
	require.NoError(t, err)
	f2, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("shared bytes"), 0)
	require.NoError(t, err)
	require.Equal(t, f1.SHA256, f2.SHA256)
	require.FileExists(t, blob)
	require.NoError(t, s.Check())

	require.NoError(t, s.DeleteFile(ctx, f1.ID))
	require.Equal(t, "shared bytes", readAll(t, s, f2.ID))
	require.FileExists(t, blob)
	require.NoError(t, s.Check())

	// Replacing content drops the reference to the old blob.
	_, err = s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("new bytes"), 0)
	require.NoError(t, err)
	require.NoFileExists(t, blob)
	require.NoError(t, s.Check())

	// Same content at the same path keeps the blob.
	f3, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "two"}, strings.NewReader("new bytes"), 0)
	require.NoError(t, err)
	require.FileExists(t, s.BlobPath(f3.SHA256))
	require.NoError(t, s.DeleteFile(ctx, f3.ID))
	require.NoFileExists(t, s.BlobPath(f3.SHA256))
	require.NoError(t, s.Check())

	// A reader opened before a delete still reads.
	f4, err := s.PutFile(ctx, persist.File{WorkspaceID: ws, Path: "three"}, strings.NewReader("kept open"), 0)
	require.NoError(t, err)
	r, _, err := s.OpenFileContent(f4.ID)
	require.NoError(t, err)
	require.NoError(t, s.DeleteFile(ctx, f4.ID))
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, "kept open", string(b))
}

func TestPutFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUser(t, s)
	_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"},
		strings.NewReader(strings.Repeat("x", 11)), 10)
	require.ErrorIs(t, err, persist.ErrTooLarge)
	tmp, err := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	require.NoError(t, err)
	require.Empty(t, tmp, "no leftover temp file")
	require.NoFileExists(t, s.BlobPath(sha(strings.Repeat("x", 11))))
	_, err = s.FileByPath(u.DefaultWorkspaceID, "big")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// Exactly at the limit is fine.
	f, err := s.PutFile(t.Context(), persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "big"},
		strings.NewReader(strings.Repeat("x", 10)), 10)
	require.NoError(t, err)
	require.Equal(t, int64(10), f.Size)
	require.NoError(t, s.Check())
}

func TestPutFileCancelled(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUser(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.PutFile(ctx, persist.File{WorkspaceID: u.DefaultWorkspaceID, Path: "c"}, strings.NewReader("data"), 0)
	require.ErrorIs(t, err, context.Canceled)
	tmp, err := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	require.NoError(t, err)
	require.Empty(t, tmp)
}

func TestPutFileFailedCommitLeavesNoBlob(t *testing.T) {
	s := persisttest.Open(t)
	_, err := s.PutFile(t.Context(), persist.File{WorkspaceID: "ws_missing", Path: "x"}, strings.NewReader("orphan"), 0)
	require.ErrorIs(t, err, persist.ErrNotFound)
	// The clean-up runs as a queued write; one more write waits for it.
	require.NoError(t, s.Update(t.Context(), func(*persist.Tx) error { return nil }))
	require.NoFileExists(t, s.BlobPath(sha("orphan")))
}
