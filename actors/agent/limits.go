package agent

import (
	"fmt"
	"unicode/utf8"
)

// Per-field caps of what users write: a value past one is refused with
// ErrInvalid naming the field, so that no single field can make every
// listing and every load of its record large.
const (
	// MaxNameChars caps titles and names, in characters.
	MaxNameChars = 200
	// MaxSystemPromptBytes caps a system prompt (64 KiB).
	MaxSystemPromptBytes = 64 << 10
	// MaxPromptBytes caps a prompt: a turn's or a scheduled job's (1 MiB).
	MaxPromptBytes = 1 << 20
)

// CheckChars refuses s when it is longer than max characters; the error
// wraps ErrInvalid and names field.
func CheckChars(field, s string, maxChars int) error {
	if len(s) <= maxChars { // fewer bytes means fewer characters
		return nil
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		return fmt.Errorf("%w: %s is %d characters, over the cap of %d", ErrInvalid, field, n, maxChars)
	}
	return nil
}

// CheckBytes refuses s when it is longer than max bytes; the error wraps
// ErrInvalid and names field.
func CheckBytes(field, s string, maxBytes int) error {
	if len(s) > maxBytes {
		return fmt.Errorf("%w: %s is %d bytes, over the cap of %d (%s)", ErrInvalid, field, len(s), maxBytes, sizeName(maxBytes))
	}
	return nil
}

// sizeName writes a cap in KiB or MiB when it is a whole number of them.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
