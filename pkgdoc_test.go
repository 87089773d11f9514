package seshat

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackageDocs requires exactly one package comment per package, in a
// non-test file: none leaves the package undocumented, and more than one
// gets merged by go doc into a muddle.
func TestPackageDocs(t *testing.T) {
	// Directory → files with a package comment, and whether it has any
	// non-test Go file at all.
	docs := map[string][]string{}
	hasGo := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		hasGo[dir] = true
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			docs[dir] = append(docs[dir], name)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, hasGo, "found packages")

	for dir := range hasGo {
		switch n := len(docs[dir]); {
		case n == 0:
			t.Errorf("%s: no package comment; add one (in doc.go for non-trivial packages)", dir)
		case n > 1:
			t.Errorf("%s: %d package comments (%s); keep exactly one", dir, n, strings.Join(docs[dir], ", "))
		}
	}
}
