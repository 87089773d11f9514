package jobs

import (
	"testing"
	"time"
)

// FuzzParseSchedule checks that no schedule text panics the parser and
// that an accepted schedule always moves forward in time.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "@hourly", "@every 1s", "@every 0s", "0 2 * * 1-5", "61 * * * *", "@every -1h", "CRON_TZ=UTC * * * * *", "* * * *"} {
		f.Add(s, "UTC")
	}
	f.Add("30 2 * * *", "Europe/Berlin")
	f.Add("* * * * *", "Not/AZone")
	base := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := ParseSchedule(spec, tz)
		if err != nil {
			return
		}
		if next := s.Next(base); !next.IsZero() && !next.After(base) {
			t.Fatalf("%q in %q: Next(%v) = %v", spec, tz, base, next)
		}
	})
}
