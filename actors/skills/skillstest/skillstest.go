// Package skillstest builds what skills tests feed the server: archives
// of skill folders (well-formed and hostile) and bare git repositories
// written with go-git, served over file:// URLs. It is imported only from
// _test.go files.
package skillstest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
)

// LinkPrefix marks a file value that is a symbolic link to the rest of the
// value.
const LinkPrefix = "symlink:"

// Manifest returns a SKILL.md with name, description and body.
func Manifest(name, description, body string) string {
	return "---\nname: " + name + "\ndescription: " + description + "\n---\n" + body
}

func sortedPaths(files map[string]string) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// Zip returns a .zip of files (path → content; a LinkPrefix value makes a
// symbolic link).
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range sortedPaths(files) {
		h := &zip.FileHeader{Name: p, Method: zip.Deflate}
		content := files[p]
		if target, ok := strings.CutPrefix(content, LinkPrefix); ok {
			h.SetMode(fs.ModeSymlink | 0o777)
			content = target
		} else {
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// ZipBomb returns a .zip holding one file name of n zero bytes: a few
// kilobytes that inflate to n.
func ZipBomb(t testing.TB, name string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(chunk) {
		_, err = w.Write(chunk[:min(left, len(chunk))])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TarGz returns a .tar.gz of files (path → content; a LinkPrefix value
// makes a symbolic link).
func TarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range sortedPaths(files) {
		content := files[p]
		h := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if target, ok := strings.CutPrefix(content, LinkPrefix); ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, target, 0
			content = ""
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// Repo is a bare git repository in a temporary folder.
type Repo struct {
	Dir  string
	t    testing.TB
	repo *git.Repository
}

// NewRepo creates an empty bare repository.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, true)
	require.NoError(t, err)
	return &Repo{Dir: dir, t: t, repo: r}
}

// URL is the repository's file:// URL.
func (r *Repo) URL() string { return "file://" + r.Dir }

// Commit makes a commit on branch whose tree is exactly files (path →
// content; a LinkPrefix value makes a symbolic link), on top of the
// branch's head if it has one, and returns its hash.
func (r *Repo) Commit(branch string, files map[string]string) string {
	r.t.Helper()
	tree := r.tree(files, "")
	ref := plumbing.NewBranchReferenceName(branch)
	var parents []plumbing.Hash
	if head, err := r.repo.Reference(ref, false); err == nil {
		parents = []plumbing.Hash{head.Hash()}
	}
	sig := object.Signature{Name: "Test", Email: "test@example.com", When: time.Unix(1_700_000_000+int64(len(parents)), 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "skills\n", TreeHash: tree, ParentHashes: parents}
	h := r.store(c.Encode)
	require.NoError(r.t, r.repo.Storer.SetReference(plumbing.NewHashReference(ref, h)))
	require.NoError(r.t, r.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, ref)))
	return h.String()
}

func (r *Repo) store(encode func(plumbing.EncodedObject) error) plumbing.Hash {
	obj := r.repo.Storer.NewEncodedObject()
	require.NoError(r.t, encode(obj))
	h, err := r.repo.Storer.SetEncodedObject(obj)
	require.NoError(r.t, err)
	return h
}

// tree writes the tree of the files under dir and returns its hash.
func (r *Repo) tree(files map[string]string, dir string) plumbing.Hash {
	children := map[string]bool{}
	var entries []object.TreeEntry
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	for _, p := range sortedPaths(files) {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if first, _, nested := strings.Cut(rest, "/"); nested {
			if !children[first] {
				children[first] = true
				entries = append(entries, object.TreeEntry{Name: first, Mode: filemode.Dir, Hash: r.tree(files, path.Join(dir, first))})
			}
			continue
		}
		content, mode := files[p], filemode.Regular
		if target, ok := strings.CutPrefix(content, LinkPrefix); ok {
			content, mode = target, filemode.Symlink
		}
		h := r.store(func(o plumbing.EncodedObject) error {
			o.SetType(plumbing.BlobObject)
			w, err := o.Writer()
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte(content)); err != nil {
				return err
			}
			return w.Close()
		})
		entries = append(entries, object.TreeEntry{Name: rest, Mode: mode, Hash: h})
	}
	// Git orders a folder as if its name ended with "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	t := &object.Tree{Entries: entries}
	return r.store(t.Encode)
}
