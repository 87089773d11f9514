package persist_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/seshat-host/seshat/persist"
)

// FuzzCleanPath checks that whatever CleanPath accepts is a clean,
// relative path that cannot leave its workspace, and that cleaning is
// idempotent.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b.txt", "../x", "a/../../b", "/etc/passwd", "a\\b", "a\x00b", "./a//b/", "..", "a/..", "é/ü.txt", "a\nb", "a\u202eb", " /a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := persist.CleanPath(p)
		if err != nil {
			return
		}
		if c == "" || strings.HasPrefix(c, "/") || strings.ContainsAny(c, "\x00\\") || len(c) > persist.MaxPathBytes {
			t.Fatalf("CleanPath(%q) = %q", p, c)
		}
		for _, r := range c {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("CleanPath(%q) = %q keeps the control or format character %U", p, c, r)
			}
		}
		for _, el := range strings.Split(c, "/") {
			if el == ".." || el == "." || strings.TrimSpace(el) == "" {
				t.Fatalf("CleanPath(%q) = %q has element %q", p, c, el)
			}
		}
		again, err := persist.CleanPath(c)
		if err != nil || again != c {
			t.Fatalf("CleanPath not idempotent: %q -> %q -> %q, %v", p, c, again, err)
		}
	})
}
