package sse

import (
	"strconv"
	"testing"
)

// FuzzParseCursor checks that a cursor is either a clean decimal id or
// ErrBadCursor.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0", "17", "-1", "1e3", " 5", "18446744073709551616", ""} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		n, err := ParseCursor(header, query)
		if err != nil {
			return
		}
		v := header
		if v == "" {
			v = query
		}
		if v == "" {
			if n != 0 {
				t.Fatalf("empty cursor gave %d", n)
			}
			return
		}
		if strconv.FormatUint(n, 10) != v && "+"+strconv.FormatUint(n, 10) != v {
			if m, err := strconv.ParseUint(v, 10, 64); err != nil || m != n {
				t.Fatalf("ParseCursor(%q) = %d", v, n)
			}
		}
	})
}
