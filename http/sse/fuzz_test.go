package sse

import (
	"errors"
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
		v := header
		if v == "" {
			v = query
		}
		want, perr := strconv.ParseUint(v, 10, 64)
		switch {
		case v == "":
			if err != nil || n != 0 {
				t.Fatalf("no cursor gave %d, %v", n, err)
			}
		case perr != nil:
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("ParseCursor(%q) = %d, %v; want ErrBadCursor", v, n, err)
			}
		case err != nil || n != want:
			t.Fatalf("ParseCursor(%q) = %d, %v; want %d", v, n, err, want)
		}
	})
}
