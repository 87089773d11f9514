package report

import (
	"encoding/json"
	"math"
	"slices"
	"sync"
	"time"
)

// Summary describes a set of latency samples. The zero Summary has
// Count 0 and describes no samples.
type Summary struct {
	Count int64
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize returns the summary of samples. It sorts samples in place.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, d := range samples {
		sum += float64(d)
	}
	return Summary{
		Count: int64(len(samples)),
		Min:   samples[0],
		Mean:  time.Duration(sum / float64(len(samples))),
		P50:   Percentile(samples, 50),
		P90:   Percentile(samples, 90),
		P99:   Percentile(samples, 99),
		Max:   samples[len(samples)-1],
	}
}

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted samples
// by the nearest-rank method: the sample of rank ceil(p/100·n), counting
// from 1. p ≤ 0 gives the minimum and p ≥ 100 the maximum; no samples
// give 0. sorted must be in ascending order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 || math.IsNaN(p) {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// A small tolerance keeps p·n that is an integer in exact arithmetic
	// (99·100/100) from rounding up past it in floating point.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// summaryWire is Summary's JSON form: milliseconds, which people read.
type summaryWire struct {
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func fromMS(v float64) time.Duration { return time.Duration(math.Round(v * 1e6)) }

// MarshalJSON writes the summary with its durations in milliseconds,
// rounded to the microsecond.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryWire{
		Count: s.Count, MinMS: ms(s.Min), MeanMS: ms(s.Mean),
		P50MS: ms(s.P50), P90MS: ms(s.P90), P99MS: ms(s.P99), MaxMS: ms(s.Max),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Summary) UnmarshalJSON(data []byte) error {
	var w summaryWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Summary{
		Count: w.Count, Min: fromMS(w.MinMS), Mean: fromMS(w.MeanMS),
		P50: fromMS(w.P50MS), P90: fromMS(w.P90MS), P99: fromMS(w.P99MS), Max: fromMS(w.MaxMS),
	}
	return nil
}

// Recorder collects latency samples from many goroutines. The zero
// Recorder is ready to use.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Add records one sample.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// AddAll records several samples under one lock, for goroutines that
// collect their own and hand them over at the end.
func (r *Recorder) AddAll(ds []time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, ds...)
	r.mu.Unlock()
}

// Len returns how many samples have been recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Summary summarizes the samples recorded so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	r.mu.Unlock()
	return Summarize(s)
}

// Rate returns n events over d as events per second, and 0 when d is not
// positive.
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Slope returns how much y grows per unit of x between two measured
// levels (x0, y0) and (x1, y1): the marginal cost of one more unit, which,
// unlike y1/x1, excludes the fixed cost present at any level. It returns
// false when the two levels have the same x.
func Slope(x0, y0, x1, y1 float64) (float64, bool) {
	if x1 == x0 {
		return 0, false
	}
	return (y1 - y0) / (x1 - x0), true
}
