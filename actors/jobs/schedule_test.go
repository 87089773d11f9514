package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/jobs"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fires returns the first n fire times after from.
func fires(s jobs.Schedule, from time.Time, n int) []time.Time {
	var out []time.Time
	for t := from; len(out) < n; {
		t = s.Next(t)
		out = append(out, t)
	}
	return out
}

func TestScheduleNext(t *testing.T) {
	for _, tc := range []struct {
		name, spec, tz, from string
		want                 []string
	}{
		{"every 5 minutes", "*/5 * * * *", "", "2026-01-05T10:02:30Z",
			[]string{"2026-01-05T10:05:00Z", "2026-01-05T10:10:00Z", "2026-01-05T10:15:00Z"}},
		{"strictly after", "0 * * * *", "", "2026-01-05T10:00:00Z",
			[]string{"2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z"}},
		{"hourly", "@hourly", "", "2026-01-05T10:59:59Z", []string{"2026-01-05T11:00:00Z"}},
		{"midnight in Paris", "@midnight", "Europe/Paris", "2026-01-05T10:00:00Z",
			[]string{"2026-01-05T23:00:00Z", "2026-01-06T23:00:00Z"}},
		{"weekly", "@weekly", "", "2026-01-05T10:00:00Z", []string{"2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z"}},
		{"monthly", "@monthly", "", "2026-01-05T10:00:00Z", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"yearly", "@yearly", "", "2026-01-05T10:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"annually", "@annually", "Asia/Tokyo", "2026-01-05T10:00:00Z", []string{"2026-12-31T15:00:00Z"}},
		{"every 90m", "@every 90m", "America/New_York", "2026-01-05T10:00:00.250Z",
			[]string{"2026-01-05T11:30:00Z", "2026-01-05T13:00:00Z"}},
		{"weekdays at 9 in New York", "0 9 * * mon-fri", "America/New_York", "2026-01-09T15:00:00Z",
			[]string{"2026-01-12T14:00:00Z", "2026-01-13T14:00:00Z"}},
		{"leap day", "0 12 29 2 *", "", "2026-01-01T00:00:00Z", []string{"2028-02-29T12:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jobs.ParseSchedule(tc.spec, tc.tz)
			require.NoError(t, err)
			var want []time.Time
			for _, w := range tc.want {
				want = append(want, utc(w))
			}
			from := utc(tc.from)
			got := fires(s, from, len(want))
			require.Equal(t, want, got)
			require.Equal(t, got, fires(s, from, len(want)), "Next is pure")
			require.Equal(t, time.UTC, got[0].Location())
		})
	}
}

// TestScheduleAcrossDST pins what robfig/cron does at offset changes: wall
// times keep their local meaning, a skipped local time does not fire that
// day, a repeated one fires at both instants, and @every counts elapsed
// time.
func TestScheduleAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		name, spec, tz, from string
		want                 []string
	}{
		// Berlin: CET (UTC+1) → CEST (UTC+2) on 2026-03-29 at 01:00 UTC.
		{"berlin spring", "0 9 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}},
		// ... and back on 2026-10-25 at 01:00 UTC.
		{"berlin autumn", "0 9 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z",
			[]string{"2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"}},
		// New York springs forward on 2026-03-08: 02:30 does not exist.
		{"skipped local time", "30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"}},
		// New York falls back on 2026-11-01: 01:30 happens twice.
		{"repeated local time", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
		{"hourly through the gap", "0 * * * *", "America/New_York", "2026-03-08T05:30:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"every is elapsed time", "@every 1h", "America/New_York", "2026-03-08T05:30:00Z",
			[]string{"2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z", "2026-03-08T08:30:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jobs.ParseSchedule(tc.spec, tc.tz)
			require.NoError(t, err)
			var want []time.Time
			for _, w := range tc.want {
				want = append(want, utc(w))
			}
			require.Equal(t, want, fires(s, utc(tc.from), len(want)))
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		spec, tz, want string
	}{
		{"", "", "schedule is required"},
		{"  ", "", "schedule is required"},
		{"* * * *", "", "expected exactly 5 fields, found 4"},
		{"0 0 * * * *", "", "expected exactly 5 fields, found 6"},
		{"60 * * * *", "", "end of range (60) above maximum (59)"},
		{"* 24 * * *", "", "end of range (24) above maximum (23)"},
		{"* * * * funday", "", `failed to parse int from funday`},
		{"@fortnightly", "", "unrecognized descriptor: @fortnightly"},
		{"@every 999ms", "", "the interval must be at least 1s"},
		{"@every -5s", "", "the interval must be at least 1s"},
		{"@every 0s", "", "the interval must be at least 1s"},
		{"@every", "", "unrecognized descriptor: @every"},
		{"0 0 31 4 *", "", "never fires"},
		{"TZ=UTC 0 9 * * *", "", "give the zone in the timezone field"},
		{"CRON_TZ=UTC", "", "give the zone in the timezone field"},
		{"@daily", "Europe/Atlantis", `timezone "Europe/Atlantis" is not a known IANA zone name`},
		{"@daily", "../../etc/passwd", "is not a known IANA zone name"},
		{"@daily", "Local", `timezone "Local" is not an IANA zone name`},
	} {
		t.Run(tc.spec+"|"+tc.tz, func(t *testing.T) {
			_, err := jobs.ParseSchedule(tc.spec, tc.tz)
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	s, err := jobs.ParseSchedule(" @every 1500ms ", "")
	require.NoError(t, err)
	require.Equal(t, "@every 1500ms", s.String())
	require.Equal(t, time.UTC, s.Location())
	require.Equal(t, utc("2026-01-01T00:00:01Z"), s.Next(utc("2026-01-01T00:00:00Z")), "fractions of a second are dropped")
	require.True(t, jobs.Schedule{}.Next(time.Now()).IsZero(), "the zero Schedule never fires")
}
