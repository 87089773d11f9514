package skills_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/skills"
	"github.com/seshat-host/seshat/actors/skills/skillstest"
)

var lim = skills.Limits{MaxBytes: 1 << 20, MaxFiles: 20}

func read(t *testing.T, data []byte, name string) (skills.Bundle, error) {
	t.Helper()
	return skills.ReadArchive(bytes.NewReader(data), int64(len(data)), name, lim)
}

func requireRule(t *testing.T, err error, rule string) {
	t.Helper()
	var fe *skills.FormatError
	require.True(t, errors.As(err, &fe), "want a FormatError, got %v", err)
	require.Equal(t, rule, fe.Rule, "%v", err)
}

func TestReadArchiveTakesOneSkillFolder(t *testing.T) {
	md := skillstest.Manifest("pdf", "Read PDFs.", "Use scripts/x.py.")
	files := map[string]string{"pdf/SKILL.md": md, "pdf/scripts/x.py": "print(1)", "pdf/empty.txt": "", "__MACOSX/pdf/._x": "junk"}
	for name, data := range map[string][]byte{"zip": skillstest.Zip(t, files), "tar.gz": skillstest.TarGz(t, files)} {
		t.Run(name, func(t *testing.T) {
			b, err := read(t, data, "upload."+name)
			require.NoError(t, err)
			require.Equal(t, "pdf", b.Folder)
			require.Equal(t, map[string][]byte{"SKILL.md": []byte(md), "scripts/x.py": []byte("print(1)"), "empty.txt": {}}, b.Files)
		})
	}
	b, err := read(t, skillstest.Zip(t, map[string]string{"SKILL.md": md}), "pdf.zip")
	require.NoError(t, err)
	require.Equal(t, "pdf", b.Folder, "a SKILL.md at the top takes the archive's name")

	_, err = read(t, skillstest.Zip(t, map[string]string{"a/SKILL.md": md, "b/x": "x"}), "x.zip")
	requireRule(t, err, skills.RuleLayout)
	_, err = read(t, skillstest.Zip(t, map[string]string{"a/x": "x"}), "x.zip")
	requireRule(t, err, skills.RuleLayout)
	_, err = read(t, []byte("not an archive"), "x.zip")
	requireRule(t, err, skills.RuleArchive)
}

func TestReadArchiveRefusesHostileEntries(t *testing.T) {
	md := skillstest.Manifest("s", "d", "")
	for _, tc := range []struct {
		name  string
		files map[string]string
		rule  string
	}{
		{"traversal", map[string]string{"s/SKILL.md": md, "s/../../etc/passwd": "x"}, skills.RulePath},
		{"absolute", map[string]string{"/etc/passwd": "x", "s/SKILL.md": md}, skills.RulePath},
		{"backslash", map[string]string{"s/SKILL.md": md, "s\\..\\x": "x"}, skills.RulePath},
		{"symlink", map[string]string{"s/SKILL.md": md, "s/link": skillstest.LinkPrefix + "/etc/passwd"}, skills.RuleLink},
		{"too many files", manyFiles(md, lim.MaxFiles), skills.RuleFileCount},
	} {
		for kind, data := range map[string][]byte{"zip": skillstest.Zip(t, tc.files), "tar.gz": skillstest.TarGz(t, tc.files)} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				_, err := read(t, data, "s."+kind)
				requireRule(t, err, tc.rule)
			})
		}
	}

	// A hard link in a tar.
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "s/SKILL.md", Mode: 0o644, Size: int64(len(md)), Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte(md))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "s/hard", Linkname: "/etc/shadow", Typeflag: tar.TypeLink}))
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	_, err := read(t, buf.Bytes(), "s.tar.gz")
	requireRule(t, err, skills.RuleLink)
}

func manyFiles(md string, n int) map[string]string {
	files := map[string]string{"s/SKILL.md": md}
	for i := range n {
		files[fmt.Sprintf("s/f%d", i)] = "x"
	}
	return files
}

// TestZipBombStopsAtTheLimit inflates archives that claim or hold far
// more than the limit and checks that reading them fails on the size
// rule without allocating anywhere near what they hold.
func TestZipBombStopsAtTheLimit(t *testing.T) {
	md := skillstest.Manifest("s", "d", "")
	const inflated = 48 << 20 // 48 MiB of zeros: 48 times the limit
	bomb := skillstest.ZipBomb(t, "s/zeros.bin", inflated)
	require.Less(t, len(bomb), 1<<20, "the bomb is small on the wire")

	// Headers that lie about the size: the entry claims 10 bytes.
	var lying bytes.Buffer
	zw := zip.NewWriter(&lying)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "s/SKILL.md", Method: zip.Store})
	require.NoError(t, err)
	_, _ = w.Write([]byte(md))
	raw := zipRawDeflate(t, inflated)
	rw, err := zw.CreateRaw(&zip.FileHeader{Name: "s/zeros.bin", Method: zip.Deflate, CompressedSize64: uint64(len(raw)), UncompressedSize64: 10})
	require.NoError(t, err)
	_, _ = rw.Write(raw)
	require.NoError(t, zw.Close())

	var tarBomb bytes.Buffer
	gz := gzip.NewWriter(&tarBomb)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "s/SKILL.md", Mode: 0o644, Size: int64(len(md)), Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte(md))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "s/zeros.bin", Mode: 0o644, Size: inflated, Typeflag: tar.TypeReg}))
	zero := make([]byte, 1<<20)
	for range inflated >> 20 {
		_, _ = tw.Write(zero)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())

	for name, data := range map[string][]byte{"zip": bomb, "zip with lying sizes": lying.Bytes(), "tar.gz": tarBomb.Bytes()} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := read(t, data, "s.zip")
			runtime.ReadMemStats(&after)
			if name == "zip with lying sizes" {
				// archive/zip stops at the declared size; either rule
				// refuses the entry.
				require.Error(t, err)
			} else {
				requireRule(t, err, skills.RuleSize)
			}
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(24<<20), "reading allocates about the limit, not the bomb")
		})
	}
}

// zipRawDeflate returns n zero bytes deflated.
func zipRawDeflate(t *testing.T, n int) []byte {
	t.Helper()
	full := skillstest.ZipBomb(t, "x", n)
	zr, err := zip.NewReader(bytes.NewReader(full), int64(len(full)))
	require.NoError(t, err)
	rc, err := zr.File[0].OpenRaw()
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = out.ReadFrom(rc)
	require.NoError(t, err)
	return out.Bytes()
}

// TestArchiveListingTooManyEntriesIsRefusedFirst checks that an archive
// listing far more entries than a skill may hold is refused from its
// listing (a zip's end record, a tar's headers) before the entries are
// read.
func TestArchiveListingTooManyEntriesIsRefusedFirst(t *testing.T) {
	files := manyFiles(skillstest.Manifest("s", "d", ""), 10*lim.MaxFiles)
	_, err := read(t, skillstest.Zip(t, files), "s.zip")
	requireRule(t, err, skills.RuleFileCount)
	require.Contains(t, err.Error(), fmt.Sprintf("the archive lists %d entries", len(files)))
	_, err = read(t, skillstest.TarGz(t, files), "s.tar.gz")
	requireRule(t, err, skills.RuleFileCount)
}
