package agents

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
)

// Limits of one profile's fields.
const (
	MaxNameChars         = 200
	MaxDescriptionChars  = 2000
	MaxSystemPromptBytes = 64 << 10
	MaxModelChars        = 200
	MaxListEntries       = 100
	MaxEntryChars        = 200
	MaxTurns             = 1000
)

var slugRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// ValidSlug reports whether s is 1–64 characters of a-z, 0-9 and -.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{agent.ErrInvalid}, args...)...)
}

func checkText(field, v string, maxChars int) error {
	if utf8.RuneCountInString(v) > maxChars {
		return invalid("%s is longer than %d characters", field, maxChars)
	}
	return nil
}

func checkList(field string, v []string) error {
	if len(v) > MaxListEntries {
		return invalid("%s has more than %d entries", field, MaxListEntries)
	}
	for _, e := range v {
		if strings.TrimSpace(e) == "" || utf8.RuneCountInString(e) > MaxEntryChars {
			return invalid("%s entries must be 1 to %d characters", field, MaxEntryChars)
		}
	}
	return nil
}
