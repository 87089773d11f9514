package skills

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/persist"
)

// Limits bound what one skill may hold. Every byte is counted as it is
// decompressed, never from an archive's headers, so a zip bomb stops at
// MaxBytes.
type Limits struct {
	// MaxBytes caps the skill's files together, uncompressed.
	MaxBytes int64
	// MaxFiles caps its files.
	MaxFiles int
}

// Path limits of a skill's files.
const (
	maxPathLen   = 512
	maxPathDepth = 16
)

// Bundle is the files of one skill folder, by path relative to it.
type Bundle struct {
	Folder string
	Files  map[string][]byte
}

// ReadArchive reads a .zip or .tar.gz (told apart by their first bytes)
// holding one skill folder: either one top-level folder with a SKILL.md,
// or a SKILL.md at the top, whose folder name is then the archive's file
// name without its extension. Every entry is checked before anything is
// kept: a path that is absolute or climbs out with "..", a link (symbolic
// or hard), a device or pipe, a duplicate, more than lim.MaxFiles files or
// more than lim.MaxBytes bytes is a FormatError.
func ReadArchive(r io.ReaderAt, size int64, filename string, lim Limits) (Bundle, error) {
	var head [4]byte
	if _, err := r.ReadAt(head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return Bundle{}, broken(RuleArchive, "the archive cannot be read")
	}
	var (
		files map[string][]byte
		err   error
	)
	switch {
	case bytes.HasPrefix(head[:], []byte("PK\x03\x04")) || bytes.HasPrefix(head[:], []byte("PK\x05\x06")):
		files, err = readZip(r, size, lim)
	case bytes.HasPrefix(head[:], []byte{0x1f, 0x8b}):
		files, err = readTarGz(io.NewSectionReader(r, 0, size), lim)
	default:
		return Bundle{}, broken(RuleArchive, "the file is neither a .zip nor a .tar.gz archive")
	}
	if err != nil {
		return Bundle{}, err
	}
	return layout(files, filename)
}

// collector keeps the files of an archive within the limits.
type collector struct {
	lim   Limits
	total int64
	files map[string][]byte
}

func newCollector(lim Limits) *collector {
	return &collector{lim: lim, files: map[string][]byte{}}
}

// add reads one file's content, at most what is left of the byte budget.
func (c *collector) add(name string, r io.Reader) error {
	if _, dup := c.files[name]; dup {
		return broken(RuleArchive, "the archive holds %q twice", name)
	}
	if len(c.files) >= c.lim.MaxFiles {
		return broken(RuleFileCount, "a skill may hold at most %d files", c.lim.MaxFiles)
	}
	left := c.lim.MaxBytes - c.total
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, left+1))
	if n > left || errors.Is(err, errStreamTooLong) {
		return c.tooLarge()
	}
	if err != nil {
		return broken(RuleArchive, "%q cannot be read from the archive: %s", name, plainError(err))
	}
	c.total += n
	c.files[name] = buf.Bytes()
	return nil
}

func (c *collector) tooLarge() error {
	return broken(RuleSize, "a skill may hold at most %d bytes, uncompressed", c.lim.MaxBytes)
}

func plainError(err error) string {
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return "checksum mismatch"
	case errors.Is(err, zip.ErrAlgorithm):
		return "unsupported compression method"
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF):
		return "corrupt or truncated data"
	}
	return "corrupt data"
}

// cleanName checks an archive entry's name and returns it as a clean
// slash-separated relative path, and whether it names a folder.
func cleanName(name string) (string, bool, error) {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\") {
		return "", false, broken(RulePath, "the entry name %q is not a valid path", name)
	}
	dir := strings.HasSuffix(name, "/")
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':') {
		return "", false, broken(RulePath, "the entry %q has an absolute path", name)
	}
	if name == "" || name == "." {
		return "", true, nil
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		switch p {
		case "..":
			return "", false, broken(RulePath, "the entry %q climbs out of the skill folder", name)
		case "", ".":
			return "", false, broken(RulePath, "the entry name %q is not a clean path", name)
		}
	}
	if len(name) > maxPathLen || len(parts) > maxPathDepth {
		return "", false, broken(RulePath, "the entry %q is longer than %d bytes or deeper than %d folders", name, maxPathLen, maxPathDepth)
	}
	return name, dir, nil
}

// ignored are entries archivers add that are not part of a skill.
func ignored(name string) bool {
	return name == "__MACOSX" || strings.HasPrefix(name, "__MACOSX/") || path.Base(name) == ".DS_Store"
}

// maxEntries bounds the entries (files and folders) an archive may list,
// checked before any is read.
func (l Limits) maxEntries() int { return 2*l.MaxFiles + 64 }

func readZip(r io.ReaderAt, size int64, lim Limits) (map[string][]byte, error) {
	if n, ok := zipEntryCount(r, size); ok && n > lim.maxEntries() {
		return nil, broken(RuleFileCount, "the archive lists %d entries; a skill may hold at most %d files", n, lim.MaxFiles)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, broken(RuleArchive, "the .zip archive is not valid: %s", strings.TrimPrefix(err.Error(), "zip: "))
	}
	if len(zr.File) > lim.maxEntries() {
		return nil, broken(RuleFileCount, "the archive lists %d entries; a skill may hold at most %d files", len(zr.File), lim.MaxFiles)
	}
	// Check every entry before reading any.
	type entry struct {
		name string
		f    *zip.File
	}
	var entries []entry
	var declared uint64
	for _, f := range zr.File {
		name, dir, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return nil, broken(RuleLink, "the entry %q is a symbolic link; links are not allowed", f.Name)
		case mode.IsDir() || dir:
			continue
		case !mode.IsRegular():
			return nil, broken(RuleLink, "the entry %q is not a regular file", f.Name)
		case f.Flags&0x1 != 0:
			return nil, broken(RuleArchive, "the entry %q is encrypted", f.Name)
		}
		if name == "" || ignored(name) {
			continue
		}
		declared += f.UncompressedSize64
		if declared > uint64(lim.MaxBytes) {
			return nil, broken(RuleSize, "a skill may hold at most %d bytes, uncompressed", lim.MaxBytes)
		}
		entries = append(entries, entry{name, f})
	}
	c := newCollector(lim)
	for _, e := range entries {
		rc, err := e.f.Open()
		if err != nil {
			return nil, broken(RuleArchive, "%q cannot be read from the archive: %s", e.name, plainError(err))
		}
		err = c.add(e.name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return c.files, nil
}

// zipEntryCount reads the entry count of a zip's end-of-central-directory
// record, so that an archive listing millions of entries is refused before
// archive/zip builds them all. It reports false when the record is not
// found or is a zip64 one (archive/zip then decides).
func zipEntryCount(r io.ReaderAt, size int64) (int, bool) {
	const eocdLen = 22
	tail := min(size, eocdLen+65535)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < eocdLen {
		return 0, false
	}
	n := binary.LittleEndian.Uint16(buf[i+10:])
	if n == 0xffff {
		return 0, false
	}
	return int(n), true
}

// countingReader fails once more than max bytes were read through it.
type countingReader struct {
	r    io.Reader
	left int64
}

var errStreamTooLong = errors.New("stream too long")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errStreamTooLong
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func readTarGz(r io.Reader, lim Limits) (map[string][]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, broken(RuleArchive, "the .tar.gz archive is not valid gzip")
	}
	defer zr.Close()
	// Headers and padding take room besides the files' bytes; the whole
	// stream is bounded too, so that a bomb of empty entries ends.
	stream := &countingReader{r: zr, left: lim.MaxBytes + int64(lim.maxEntries())*(2<<10) + (4 << 20)}
	tr := tar.NewReader(stream)
	c := newCollector(lim)
	for entries := 0; ; entries++ {
		if entries > lim.maxEntries() {
			return nil, broken(RuleFileCount, "the archive lists more than %d entries; a skill may hold at most %d files", lim.maxEntries(), lim.MaxFiles)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errStreamTooLong) {
			return nil, c.tooLarge()
		}
		if err != nil {
			return nil, broken(RuleArchive, "the .tar.gz archive is not valid: %s", strings.TrimPrefix(err.Error(), "archive/tar: "))
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeSymlink, tar.TypeLink:
			return nil, broken(RuleLink, "the entry %q is a link; links are not allowed", h.Name)
		}
		name, dir, err := cleanName(h.Name)
		if err != nil {
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archivers still write TypeRegA
		default:
			return nil, broken(RuleLink, "the entry %q is not a regular file", h.Name)
		}
		if dir || name == "" || ignored(name) {
			continue
		}
		if h.Size > lim.MaxBytes-c.total {
			return nil, c.tooLarge()
		}
		if err := c.add(name, tr); err != nil {
			return nil, err
		}
	}
	return c.files, nil
}

// layout finds the skill folder of an archive's files.
func layout(files map[string][]byte, filename string) (Bundle, error) {
	if _, ok := files[persist.SkillManifest]; ok {
		folder := archiveBase(filename)
		if folder == "" {
			return Bundle{}, broken(RuleLayout, "the archive holds SKILL.md at its top; name the archive after the skill (NAME.zip) or put the files in a folder NAME/")
		}
		return Bundle{Folder: folder, Files: files}, nil
	}
	var top string
	for p := range files {
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(p, "/") || (top != "" && first != top) {
			return Bundle{}, broken(RuleLayout, "the archive must hold one skill folder with a SKILL.md (found %q)", p)
		}
		top = first
	}
	if top == "" {
		return Bundle{}, broken(RuleLayout, "the archive holds no files")
	}
	out := Bundle{Folder: top, Files: make(map[string][]byte, len(files))}
	for p, b := range files {
		out.Files[strings.TrimPrefix(p, top+"/")] = b
	}
	if _, ok := out.Files[persist.SkillManifest]; !ok {
		return Bundle{}, broken(RuleLayout, "the folder %q has no %s", top, persist.SkillManifest)
	}
	return out, nil
}

// archiveBase is an archive's file name without folder and extension.
func archiveBase(filename string) string {
	base := path.Base(strings.ReplaceAll(filename, "\\", "/"))
	for _, ext := range []string{".tar.gz", ".tgz", ".zip"} {
		if strings.HasSuffix(strings.ToLower(base), ext) {
			return base[:len(base)-len(ext)]
		}
	}
	if base == "." || base == "/" {
		return ""
	}
	return base
}
