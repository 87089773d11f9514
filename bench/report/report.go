package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Status says how a scenario ended.
type Status string

// Scenario statuses.
const (
	// StatusOK: the scenario ran; its figures stand (errors, if any, are
	// among them).
	StatusOK Status = "ok"
	// StatusFailed: the scenario could not complete; Note says why.
	StatusFailed Status = "failed"
	// StatusUnavailable: the server does not offer what the scenario
	// measures (an endpoint answered 404); Note says what.
	StatusUnavailable Status = "unavailable"
	// StatusSkipped: the scenario was not run in this setup (for
	// example, it needs to restart the server and the bench did not
	// start it).
	StatusSkipped Status = "skipped"
)

// Report is one run of the bench.
type Report struct {
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Seconds is how long the run took.
	Seconds float64 `json:"seconds"`
	// Command is the bench's command line, so the run can be repeated.
	Command string `json:"command"`
	// Setup describes the machine and how the load was applied
	// (pinning, limits, kernel settings), as name → value.
	Setup map[string]string `json:"setup"`
	// Results holds one entry per scenario, in the order run.
	Results []Result `json:"results"`
	// Targets compares figures of the run with the project's targets.
	Targets []Target `json:"targets,omitempty"`
}

// Result is what one scenario measured.
type Result struct {
	Scenario string `json:"scenario"`
	Status   Status `json:"status"`
	// Note explains a status other than ok, or qualifies the figures.
	Note string `json:"note,omitempty"`
	// Params are the scenario's settings, as name → value.
	Params map[string]string `json:"params,omitempty"`
	// Steps are the measured levels or modes, in order.
	Steps []Step `json:"steps"`
}

// Step is one measured level or mode of a scenario: a concurrency, a
// number of held streams, an open-loop rate.
type Step struct {
	// Name says what was measured, e.g. "closed c=64".
	Name string `json:"name"`
	// Level is the x coordinate of the step in charts: the concurrency,
	// or the streams held. Zero for steps that have none.
	Level float64 `json:"level,omitempty"`
	// Count is the number of operations measured (requests, streams).
	Count int64 `json:"count"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds,omitempty"`
	// Rate is Count per second over the window, when throughput is the
	// point of the step.
	Rate float64 `json:"rate_per_s,omitempty"`
	// Ratio is Rate divided by the baseline's rate measured in the same
	// run under the same load shape; zero when there is none.
	Ratio float64 `json:"baseline_ratio,omitempty"`
	// Latency holds the step's latency distributions in order, e.g.
	// "request", or "ttfb" and "ttfe".
	Latency []Latency `json:"latency,omitempty"`
	// Values are the step's other figures in order.
	Values []Value `json:"values,omitempty"`
	// Errors counts failed operations by class; a step without errors
	// has none.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// Latency is a named latency distribution.
type Latency struct {
	Name string `json:"name"`
	Summary
}

// MarshalJSON writes the name beside the summary's fields.
func (l Latency) MarshalJSON() ([]byte, error) {
	sum, err := json.Marshal(l.Summary)
	if err != nil {
		return nil, err
	}
	name, err := json.Marshal(l.Name)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"name":`), name...)
	out = append(out, ',')
	return append(out, sum[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *Latency) UnmarshalJSON(data []byte) error {
	var n struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return err
	}
	l.Name = n.Name
	return json.Unmarshal(data, &l.Summary)
}

// Value is a named figure with its unit.
type Value struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Target is one of the project's performance targets and what the run
// measured for it.
type Target struct {
	// Name states the target, e.g. "p99 time to first event, 1,000
	// streams started together ≤ 50 ms".
	Name string `json:"name"`
	// Measured is the figure the run produced, or why there is none.
	Measured string `json:"measured"`
	// Met is nil when the run did not measure the target at its size.
	Met *bool `json:"met"`
}

// ErrorCount returns the step's total error count.
func (s Step) ErrorCount() int64 {
	var n int64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

// Lat returns the step's latency distribution of that name.
func (s Step) Lat(name string) (Summary, bool) {
	for _, l := range s.Latency {
		if l.Name == name {
			return l.Summary, true
		}
	}
	return Summary{}, false
}

// Val returns the step's figure of that name.
func (s Step) Val(name string) (float64, bool) {
	for _, v := range s.Values {
		if v.Name == name {
			return v.Value, true
		}
	}
	return 0, false
}

// Find returns the result of a scenario.
func (r *Report) Find(scenario string) (Result, bool) {
	for _, res := range r.Results {
		if res.Scenario == scenario {
			return res, true
		}
	}
	return Result{}, false
}

// Step returns the step of that name.
func (r Result) Step(name string) (Step, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as text: the setup, then per scenario its
// status, a table with a row per step and latency distribution, and the
// step's other figures, then the targets.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("seshat load bench, %s, %.1fs\n", r.Started.Format(time.RFC3339), r.Seconds)
	for _, k := range slices.Sorted(maps.Keys(r.Setup)) {
		p("  %s:\t%s\n", k, r.Setup[k])
	}
	for _, res := range r.Results {
		p("\n== %s: %s", res.Scenario, res.Status)
		if res.Note != "" {
			p(" (%s)", res.Note)
		}
		p("\n")
		if len(res.Params) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(res.Params)) {
				kv = append(kv, k+"="+res.Params[k])
			}
			p("  %s\n", strings.Join(kv, " "))
		}
		if len(res.Steps) == 0 {
			continue
		}
		p("  step\tn\trate/s\t×base\tlatency\tp50\tp90\tp99\tmax\terrors\n")
		for _, s := range res.Steps {
			rate, ratio := "-", "-"
			if s.Rate > 0 {
				rate = formatFloat(s.Rate)
			}
			if s.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", s.Ratio)
			}
			errs := formatErrors(s.Errors)
			if len(s.Latency) == 0 {
				p("  %s\t%d\t%s\t%s\t-\t\t\t\t\t%s\n", s.Name, s.Count, rate, ratio, errs)
			}
			for i, l := range s.Latency {
				if i > 0 {
					p("  \t\t\t\t%s\t%s\t%s\t%s\t%s\t\n", l.Name, FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P99), FormatDuration(l.Max))
					continue
				}
				p("  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Count, rate, ratio, l.Name,
					FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P99), FormatDuration(l.Max), errs)
			}
		}
		// The other figures, after a blank line so that their columns
		// are aligned apart from the table's.
		first := true
		for _, s := range res.Steps {
			for i, v := range s.Values {
				if first {
					p("\n")
					first = false
				}
				name := s.Name
				if i > 0 {
					name = ""
				}
				p("  %s\t%s\t%s %s\n", name, v.Name, formatFloat(v.Value), v.Unit)
			}
		}
	}
	if len(r.Targets) > 0 {
		p("\n== targets\n")
		for _, t := range r.Targets {
			verdict := "no verdict"
			if t.Met != nil && *t.Met {
				verdict = "met"
			} else if t.Met != nil {
				verdict = "NOT MET"
			}
			p("  %s\t%s\t%s\n", t.Name, t.Measured, verdict)
		}
	}
	return tw.Flush()
}

// FormatDuration writes d with three significant digits in a unit people
// read at a glance: µs, ms or s.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return formatFloat(float64(d)/1e3) + "µs"
	case d < time.Second:
		return formatFloat(float64(d)/1e6) + "ms"
	}
	return formatFloat(d.Seconds()) + "s"
}

// formatFloat writes v with three significant digits, and with no
// exponent and thousands separators for large values.
func formatFloat(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// FormatCount writes n with thousands separators: 10,000.
func FormatCount(n int64) string {
	return groupThousands(strconv.FormatInt(n, 10))
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func formatErrors(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}
