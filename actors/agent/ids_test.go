package agent

import (
	"strings"
	"testing"
)

func TestNewIDShape(t *testing.T) {
	long := strings.Repeat("p", 40)
	for _, prefix := range []string{PrefixRequest, PrefixSession, "", long} {
		id := NewID(prefix)
		if len(id) != len(prefix)+1+26 || !strings.HasPrefix(id, prefix+"_") || (prefix != "" && !ValidID(prefix, id)) {
			t.Fatalf("NewID(%q) = %q", prefix, id)
		}
		if NewID(prefix) == id {
			t.Fatalf("NewID(%q) repeats", prefix)
		}
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { _ = NewID(PrefixTurn) }); n != 1 {
		t.Fatalf("NewID allocates %v times, want 1", n)
	}
}
