package persist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Uploaded files' bytes are content-addressed blobs, named by their hex
// SHA-256 and shared by every file record with the same bytes; the blob
// reference counts are records (bucketBlobRefs). Where the bytes live is
// the engine's: bbolt keeps them as files in a directory (dirBlobs), the
// PostgreSQL engine as chunks in its database (pgBlobs, blobs_pg.go), so
// that hosts sharing a database share the bytes too.
//
// A put is two steps: stage streams the content to the backend, hashing
// and capping it on the way; place then makes the staged bytes the blob
// named by their SHA-256 (or drops them if that blob exists) before the
// file record that refers to it commits, so a record never names missing
// bytes. Between the two the store pins the SHA-256, so that this host's
// writer does not remove an existing blob the put is about to reference.
type blobBackend interface {
	// stage streams content to the backend, failing with ErrTooLarge past
	// maxBytes (if > 0), and returns the staged bytes. On error nothing is
	// left behind.
	stage(ctx context.Context, content io.Reader, maxBytes int64) (stagedBlob, error)
	// open returns a reader of the blob, or an error wrapping
	// fs.ErrNotExist if there is none. size is the blob's size from its
	// file record.
	open(sha string, size int64) (io.ReadCloser, error)
	// remove deletes the blobs, which the caller found unreferenced and
	// unpinned; it logs what fails.
	remove(shas []string)
	// sizes returns the size of each of shas the backend holds; missing
	// ones are not in the map.
	sizes(shas []string) (map[string]int64, error)
	// sweep removes what an interrupted put left behind: staged bytes, and
	// blobs placed whose record never committed. referenced reports
	// whether the records reference a blob. Open runs it before the
	// writer starts.
	sweep(referenced func(shas []string) (map[string]bool, error)) error
}

// stagedBlob is a put's content, streamed and hashed, not yet a blob.
type stagedBlob interface {
	sha() string
	size() int64
	// place makes the bytes the blob named by sha(), or drops them if that
	// blob exists already. The caller holds a pin on sha().
	place() error
	// discard drops the staged bytes; after place it does nothing.
	discard()
	// placed is called once the file record's write is decided: the
	// backend may release what guarded the blob meanwhile (see pgBlobs).
	placed()
}

// hashingReader wraps content for a put: it stops once ctx ends, caps it
// at maxBytes+1 (if maxBytes > 0) and hashes what it reads.
type hashingReader struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n        int64
	maxBytes int64
}

func newHashingReader(ctx context.Context, content io.Reader, maxBytes int64) *hashingReader {
	src := io.Reader(ctxReader{ctx: ctx, r: content})
	if maxBytes > 0 {
		src = io.LimitReader(src, maxBytes+1)
	}
	return &hashingReader{r: src, h: sha256.New(), maxBytes: maxBytes}
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		_, _ = r.h.Write(p[:n])
		r.n += int64(n)
		if r.maxBytes > 0 && r.n > r.maxBytes {
			return n, fmt.Errorf("persist: file larger than %d bytes: %w", r.maxBytes, ErrTooLarge)
		}
	}
	return n, err
}

func (r *hashingReader) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// dirBlobs keeps blobs as files, sharded by their first byte so that no
// directory holds more than 1/256 of them, with a tmp/ directory for puts
// under way. The data dir's lock says no one else writes there.
type dirBlobs struct {
	dir, tmpDir string
	noSync      bool
	log         *slog.Logger
}

func openDirBlobs(dir string, noSync bool, log *slog.Logger) (*dirBlobs, error) {
	tmpDir := filepath.Join(dir, blobTmpDirName)
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("persist: create data dir: %w", err)
	}
	return &dirBlobs{dir: dir, tmpDir: tmpDir, noSync: noSync, log: log}, nil
}

// path is where the blob with that hex SHA-256 lives.
func (d *dirBlobs) path(sha string) string {
	return filepath.Join(d.dir, sha[:2], sha)
}

// stage streams content into a temporary file in the blob dir, hashing it
// on the way, and syncs it.
func (d *dirBlobs) stage(ctx context.Context, content io.Reader, maxBytes int64) (_ stagedBlob, err error) {
	tmp, err := os.CreateTemp(d.tmpDir, "put-*")
	if err != nil {
		return nil, fmt.Errorf("persist: create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	src := newHashingReader(ctx, content, maxBytes)
	if _, err = io.Copy(tmp, src); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("persist: write file content: %w", err)
	}
	if !d.noSync {
		if err = tmp.Sync(); err != nil {
			return nil, fmt.Errorf("persist: sync file content: %w", err)
		}
	}
	if err = tmp.Close(); err != nil {
		return nil, fmt.Errorf("persist: close temp file: %w", err)
	}
	return &dirStaged{d: d, tmp: tmp.Name(), hash: src.sum(), n: src.n}, nil
}

type dirStaged struct {
	d    *dirBlobs
	tmp  string
	hash string
	n    int64
}

func (s *dirStaged) sha() string  { return s.hash }
func (s *dirStaged) size() int64  { return s.n }
func (s *dirStaged) placed()      {}
func (s *dirStaged) discard()     { _ = os.Remove(s.tmp) }
func (s *dirStaged) place() error { return s.d.place(s.tmp, s.hash) }

// place moves the temp file to the blob's place, or drops it if the blob
// already exists (same name, same bytes).
func (d *dirBlobs) place(tmp, sha string) error {
	dst := d.path(sha)
	if _, err := os.Stat(dst); err == nil {
		return os.Remove(tmp)
	}
	dir := filepath.Dir(dst)
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("persist: create blob dir: %w", err)
		}
		created = true
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("persist: place blob: %w", err)
	}
	if d.noSync {
		return nil
	}
	// The rename is durable only once its directory is synced, and a new
	// shard directory only once the blob dir is.
	if created {
		if err := syncDir(d.dir); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func (d *dirBlobs) open(sha string, _ int64) (io.ReadCloser, error) {
	return os.Open(d.path(sha))
}

func (d *dirBlobs) remove(shas []string) {
	for _, sha := range shas {
		if err := os.Remove(d.path(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("removing unreferenced blob failed", "sha256", sha, "err", err)
		}
	}
}

func (d *dirBlobs) sizes(shas []string) (map[string]int64, error) {
	out := make(map[string]int64, len(shas))
	for _, sha := range shas {
		if !validSHA(sha) {
			continue
		}
		fi, err := os.Stat(d.path(sha))
		switch {
		case err == nil:
			out[sha] = fi.Size()
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("persist: blob %s: %w", sha, err)
		}
	}
	return out, nil
}

// sweep removes every temp file and every blob no record references.
func (d *dirBlobs) sweep(referenced func([]string) (map[string]bool, error)) error {
	tmps, err := os.ReadDir(d.tmpDir)
	if err != nil {
		return fmt.Errorf("persist: read temp dir: %w", err)
	}
	for _, e := range tmps {
		_ = os.Remove(filepath.Join(d.tmpDir, e.Name()))
	}
	shards, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("persist: read blob dir: %w", err)
	}
	var found []string
	for _, shard := range shards {
		if !shard.IsDir() || len(shard.Name()) != 2 {
			continue
		}
		blobs, err := os.ReadDir(filepath.Join(d.dir, shard.Name()))
		if err != nil {
			return fmt.Errorf("persist: read blob dir: %w", err)
		}
		for _, b := range blobs {
			if validSHA(b.Name()) {
				found = append(found, b.Name())
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	refs, err := referenced(found)
	if err != nil {
		return err
	}
	removed := 0
	for _, sha := range found {
		if !refs[sha] {
			if err := os.Remove(d.path(sha)); err == nil {
				removed++
			}
		}
	}
	if removed > 0 {
		d.log.Info("removed unreferenced blobs", "count", removed)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("persist: open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("persist: sync dir: %w", err)
	}
	return nil
}
