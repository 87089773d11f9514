package persist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPathBytes is the longest workspace-relative file path.
const MaxPathBytes = 1024

// PathError is CleanPath's refusal of a path: Why says what is wrong
// with it, for a person or a model to read. It wraps ErrInvalid.
type PathError struct {
	// Path is the path refused; empty when it was too long to repeat.
	Path string
	Why  string
}

func (e *PathError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("persist: path %s: %v", e.Why, ErrInvalid)
	}
	return fmt.Sprintf("persist: path %q: %s: %v", e.Path, e.Why, ErrInvalid)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *PathError) Unwrap() error { return ErrInvalid }

// CleanPath validates a workspace-relative file path and returns its
// path.Clean form. It rejects, wrapping ErrInvalid: an empty path, one
// longer than MaxPathBytes, invalid UTF-8, a NUL byte, a backslash (so that
// no path means one thing here and another on Windows), an absolute path,
// any ".." element (even one that Clean could resolve, like "a/../b"), a
// path that names the workspace root itself, an empty or blank element
// ("a//b", "a/ /b", a trailing "/"), and any control, format or
// separator character: a newline would let a file name forge lines in a
// listing shown to a model or a terminal, and bidi overrides and
// zero-width characters make one name look like another.
func CleanPath(p string) (string, error) {
	bad := func(why string) (string, error) {
		return "", &PathError{Path: p, Why: why}
	}
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxPathBytes:
		return "", &PathError{Why: fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains a NUL byte")
	case strings.IndexByte(p, '\\') >= 0:
		return bad("contains a backslash")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	}
	for _, r := range p {
		if invisibleRune(r) {
			return bad(fmt.Sprintf("contains the control or invisible character %U", r))
		}
	}
	elems := strings.Split(p, "/")
	for i, elem := range elems {
		switch {
		case elem == "..":
			return bad(`contains a ".." element`)
		case elem == "" && i == len(elems)-1:
			return bad("ends with a slash")
		case strings.TrimFunc(elem, unicode.IsSpace) == "":
			return bad("has an empty or blank name")
		}
	}
	clean := path.Clean(p)
	if clean == "." {
		return bad("names no file")
	}
	return clean, nil
}

// invisibleRune reports whether r has no business in a file name: C0 and
// C1 controls, format characters (zero-width spaces and joiners, bidi
// embeddings, overrides and isolates, the byte order mark, soft hyphens),
// line and paragraph separators, private-use and surrogate code points,
// and the Hangul fillers, letters that render as nothing.
func invisibleRune(r rune) bool {
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0':
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp)
}

// validSHA reports whether sha is a lower-case hex SHA-256, the only names
// blobs have.
func validSHA(sha string) bool {
	if len(sha) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(sha); i++ {
		c := sha[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PutFile stores content as the file f.Path of workspace f.WorkspaceID and
// returns the stored record. Size and SHA256 are computed while streaming;
// content beyond maxBytes (if maxBytes > 0) fails with ErrTooLarge and
// leaves nothing behind. If the path exists, its record is replaced but
// keeps its ID and CreatedAt. A new file gets f.ID, or a minted one if
// empty; an empty ContentType becomes application/octet-stream. The
// workspace must exist (ErrNotFound).
//
// The bytes go to a content-addressed blob (see blobBackend), stored
// before the metadata commit refers to it, so a crash never leaves a
// record without its bytes.
func (s *Store) PutFile(ctx context.Context, f File, content io.Reader, maxBytes int64) (File, error) {
	clean, err := CleanPath(f.Path)
	if err != nil {
		return File{}, err
	}
	f.Path = clean
	if err := checkID("workspace id", f.WorkspaceID); err != nil {
		return File{}, err
	}
	if f.ID == "" {
		f.ID = newID(idPrefixFile)
	}
	if err := checkID("file id", f.ID); err != nil {
		return File{}, err
	}
	if f.ContentType == "" {
		f.ContentType = "application/octet-stream"
	}
	if err := s.checkOpen(); err != nil {
		return File{}, err
	}

	staged, err := s.blobs.stage(ctx, content, maxBytes)
	if err != nil {
		return File{}, err
	}
	sha := staged.sha()
	f.SHA256, f.Size = sha, staged.size()
	// On failure the pin goes before the clean-up is queued, or the
	// clean-up would find the blob pinned and keep it.
	s.pin(sha)
	if err := staged.place(); err != nil {
		staged.discard()
		s.unpin(sha)
		s.collectBlob(sha)
		return File{}, err
	}

	var stored File
	// The blob is pinned until this write is decided. Waiting for it past
	// the caller's cancellation keeps the pin in place for as long as the
	// write may still commit.
	err = s.Update(context.WithoutCancel(ctx), func(tx *Tx) error {
		var err error
		stored, err = tx.putFile(f)
		return err
	})
	staged.placed()
	s.unpin(sha)
	if err != nil {
		s.collectBlob(sha)
		return File{}, err
	}
	return stored, nil
}

// checkOpen fails with ErrClosed after Close, so that uploads to a closed
// store stop before streaming their content.
func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("persist: %w", ErrClosed)
	}
	return nil
}

// ctxReader stops a copy once ctx ends, so that a cancelled upload does not
// keep reading a large body.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// pin marks sha as about to be referenced: the writer does not remove a
// pinned blob even if its reference count is zero.
func (s *Store) pin(sha string) {
	s.pinMu.Lock()
	s.pins[sha]++
	s.pinMu.Unlock()
}

func (s *Store) unpin(sha string) {
	s.pinMu.Lock()
	if s.pins[sha]--; s.pins[sha] <= 0 {
		delete(s.pins, sha)
	}
	s.pinMu.Unlock()
}

// collectBlob queues a check that removes the blob if nothing references
// it, after a put placed it but failed to commit its record.
func (s *Store) collectBlob(sha string) {
	s.UpdateAsync(func(tx *Tx) error {
		tx.blobs = append(tx.blobs, sha)
		return nil
	}, nil)
}

// refBlob changes the reference count of sha by delta. Dropping to zero
// deletes the count and makes the blob a candidate for removal.
func (tx *Tx) refBlob(sha string, delta int64) error {
	refs := tx.bucket(bucketBlobRefs)
	n := int64(readU64(refs.Get([]byte(sha)))) + delta
	switch {
	case n < 0:
		return fmt.Errorf("persist: blob %s reference count would go negative", sha)
	case n == 0:
		tx.blobs = append(tx.blobs, sha)
		return refs.Delete([]byte(sha))
	}
	return refs.Put([]byte(sha), u64(uint64(n)))
}

// unreferencedBlobs returns the removal candidates that no file references
// once this transaction commits. It runs last in the transaction, after
// every batched write, so a blob one write dropped and another took up is
// kept.
func (tx *Tx) unreferencedBlobs() ([]string, error) {
	if len(tx.blobs) == 0 {
		return nil, nil
	}
	slices.Sort(tx.blobs)
	refs := tx.bucket(bucketBlobRefs)
	var out []string
	for _, sha := range slices.Compact(tx.blobs) {
		if refs.Get([]byte(sha)) == nil && validSHA(sha) {
			out = append(out, sha)
		}
	}
	return out, nil
}

// removeBlobs deletes blobs after the commit that dropped their last
// reference. It runs on the writer goroutine, so no commit of this store
// can add a reference in between; a put that placed the blob again
// meanwhile holds a pin, and pinMu makes the check and the removal atomic
// against it.
func (s *Store) removeBlobs(shas []string) {
	if len(shas) == 0 {
		return
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	unpinned := shas[:0:0]
	for _, sha := range shas {
		if s.pins[sha] == 0 {
			unpinned = append(unpinned, sha)
		}
	}
	s.blobs.remove(unpinned)
}

// sweepBlobs removes what an interrupted write left behind (see
// blobBackend.sweep). Open runs it before the writer starts.
func (s *Store) sweepBlobs() error {
	return s.blobs.sweep(func(shas []string) (map[string]bool, error) {
		refs := make(map[string]bool, len(shas))
		err := s.eng.View(func(ktx kvTx) error {
			b := ktx.Bucket(bucketBlobRefs)
			for _, sha := range shas {
				refs[sha] = b.Get([]byte(sha)) != nil
			}
			return nil
		})
		return refs, err
	})
}

// putFile stores f's record (content already placed) and adjusts blob
// reference counts.
func (tx *Tx) putFile(f File) (File, error) {
	if tx.bucket(bucketWorkspaces).Get([]byte(f.WorkspaceID)) == nil {
		return File{}, fmt.Errorf("persist: workspace %s: %w", f.WorkspaceID, ErrNotFound)
	}
	files := tx.bucket(bucketFiles)
	byPath := tx.bucket(bucketFilesByPath)
	pk := key(f.WorkspaceID, f.Path)
	t := now()
	f.UpdatedAt = t
	if id := byPath.Get(pk); id != nil {
		var old File
		ok, err := getJSON(files, id, &old)
		if err != nil {
			return File{}, err
		}
		if !ok {
			return File{}, fmt.Errorf("persist: file index names missing file %s", id)
		}
		f.ID, f.CreatedAt = old.ID, old.CreatedAt
		if err := tx.refBlob(old.SHA256, -1); err != nil {
			return File{}, err
		}
		if err := tx.countStored(old.WorkspaceID, old.CreatedBy, -old.Size); err != nil {
			return File{}, err
		}
	} else {
		if files.Get([]byte(f.ID)) != nil {
			return File{}, fmt.Errorf("persist: file %s exists at another path: %w", f.ID, ErrConflict)
		}
		f.CreatedAt = t
		if err := byPath.Put(pk, []byte(f.ID)); err != nil {
			return File{}, err
		}
	}
	// Stored bytes are counted, and their quotas checked, in the same
	// transaction as the record, so concurrent uploads cannot overshoot.
	if err := tx.countStored(f.WorkspaceID, f.CreatedBy, f.Size); err != nil {
		return File{}, err
	}
	if err := tx.refBlob(f.SHA256, +1); err != nil {
		return File{}, err
	}
	if err := putJSON(files, []byte(f.ID), f); err != nil {
		return File{}, err
	}
	return f, nil
}

// File returns the file record with that id, or ErrNotFound.
func (s *Store) File(id string) (File, error) {
	return view(s, (*Tx).file, id)
}

func (tx *Tx) file(id string) (File, error) {
	return record[File](tx, bucketFiles, "file", id)
}

// FileByPath returns the file at path in the workspace, or ErrNotFound. The
// path is cleaned first (ErrInvalid if CleanPath rejects it).
func (s *Store) FileByPath(workspaceID, p string) (File, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return File{}, err
	}
	var f File
	err = s.View(func(tx *Tx) error {
		id := tx.bucket(bucketFilesByPath).Get(key(workspaceID, clean))
		if id == nil {
			return fmt.Errorf("persist: file %s in workspace %s: %w", clean, workspaceID, ErrNotFound)
		}
		var err error
		f, err = tx.file(string(id))
		return err
	})
	return f, err
}

// ListFiles returns the workspace's files sorted by path (byte order).
func (s *Store) ListFiles(workspaceID string) ([]File, error) {
	list := []File{}
	err := s.View(func(tx *Tx) error {
		prefix := prefixKey(workspaceID)
		c := tx.bucket(bucketFilesByPath).Cursor()
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			f, err := tx.file(string(id))
			if err != nil {
				return err
			}
			list = append(list, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// OpenFileContent returns a reader of the file's bytes and its record. The
// caller must close the reader. On bbolt the reader keeps working even if
// the file is deleted or replaced meanwhile; on PostgreSQL it streams the
// blob chunk by chunk, and a blob removed under it fails the read.
func (s *Store) OpenFileContent(id string) (io.ReadCloser, File, error) {
	// A concurrent replace or delete can remove the blob between reading
	// the record and opening it; a fresh record names the current blob.
	for range 3 {
		f, err := s.File(id)
		if err != nil {
			return nil, File{}, err
		}
		r, err := s.blobs.open(f.SHA256, f.Size)
		if err == nil {
			return r, f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, File{}, fmt.Errorf("persist: open content of %s: %w", id, err)
		}
	}
	return nil, File{}, fmt.Errorf("persist: content of file %s: %w", id, ErrNotFound)
}

// DeleteFile removes the file record; its blob goes once no file refers to
// it. A missing id is ErrNotFound.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.DeleteFile(id) })
}

// DeleteFile is Store.DeleteFile inside tx.
func (tx *Tx) DeleteFile(id string) error {
	f, err := tx.file(id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketFiles).Delete([]byte(f.ID)); err != nil {
		return err
	}
	if err := tx.bucket(bucketFilesByPath).Delete(key(f.WorkspaceID, f.Path)); err != nil {
		return err
	}
	if err := tx.countStored(f.WorkspaceID, f.CreatedBy, -f.Size); err != nil {
		return err
	}
	return tx.refBlob(f.SHA256, -1)
}
