package jobs

import (
	"fmt"
	"strings"
	"time"
	// Embedded zone data, so that IANA names resolve on hosts without
	// /usr/share/zoneinfo (minimal containers).
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/seshat-host/seshat/actors/agent"
)

// MinInterval is the shortest `@every` interval a schedule may have.
const MinInterval = time.Second

// DefaultTimezone is the zone of a job that names none.
const DefaultTimezone = "UTC"

// parser reads 5-field expressions and descriptors (@hourly, @daily,
// @weekly, @monthly, @yearly/@annually, @midnight, @every D).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed job schedule in its time zone. Its zero value never
// fires. A Schedule is immutable and safe for concurrent use.
type Schedule struct {
	spec  string
	loc   *time.Location
	sched cron.Schedule
}

// ParseSchedule parses spec, a 5-field cron expression ("*/5 * * * *"), a
// descriptor ("@hourly", "@daily", "@weekly", "@monthly", "@yearly",
// "@annually", "@midnight") or "@every DURATION" (at least MinInterval;
// fractions of a second are dropped), read in the IANA zone timezone (""
// means UTC). Wall-clock fields follow the zone's offset changes as
// robfig/cron does: a time that a spring-forward change skips does not
// fire that day, and one that a fall-back change repeats fires at both
// instants. `@every` intervals are elapsed time and ignore the zone.
//
// Errors wrap agent.ErrInvalid and name the problem. A TZ= or CRON_TZ=
// prefix is refused: the zone belongs in timezone.
func ParseSchedule(spec, timezone string) (Schedule, error) {
	loc, err := LoadTimezone(timezone)
	if err != nil {
		return Schedule{}, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Schedule{}, fmt.Errorf("%w: schedule is required", agent.ErrInvalid)
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return Schedule{}, fmt.Errorf("%w: schedule %q: give the zone in the timezone field, not as a TZ= or CRON_TZ= prefix", agent.ErrInvalid, spec)
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: schedule %q is not a 5-field cron expression, a descriptor or @every DURATION: %v", agent.ErrInvalid, spec, err)
	}
	switch s := sched.(type) {
	case *cron.SpecSchedule:
		s.Location = loc
	case cron.ConstantDelaySchedule:
		d, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
		if d < MinInterval {
			return Schedule{}, fmt.Errorf("%w: schedule %q: the interval must be at least %s", agent.ErrInvalid, spec, MinInterval)
		}
	}
	out := Schedule{spec: spec, loc: loc, sched: sched}
	// A spec such as "0 0 30 2 *" parses but never matches; cron gives up
	// after five years of searching.
	if out.Next(time.Now()).IsZero() {
		return Schedule{}, fmt.Errorf("%w: schedule %q never fires", agent.ErrInvalid, spec)
	}
	return out, nil
}

// LoadTimezone resolves an IANA zone name; "" is UTC. "Local" is refused:
// a job must not change meaning with the server's configuration. Errors
// wrap agent.ErrInvalid.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimezone
	}
	if name == "Local" {
		return nil, fmt.Errorf("%w: timezone %q is not an IANA zone name (such as Europe/Paris or UTC)", agent.ErrInvalid, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: timezone %q is not a known IANA zone name (such as Europe/Paris or UTC)", agent.ErrInvalid, name)
	}
	return loc, nil
}

// Next returns the first instant strictly after t at which the schedule
// fires, in UTC, or the zero time if it never does. It is pure: the same t
// always gives the same answer.
func (s Schedule) Next(t time.Time) time.Time {
	if s.sched == nil {
		return time.Time{}
	}
	n := s.sched.Next(t)
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// String returns the schedule as it was parsed (trimmed).
func (s Schedule) String() string { return s.spec }

// Location returns the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }
