package report

import (
	"encoding/json"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ds(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1 // 1..100 ms
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample, p0", ds(7), 0, 7 * time.Millisecond},
		{"one sample, p50", ds(7), 50, 7 * time.Millisecond},
		{"one sample, p99", ds(7), 99, 7 * time.Millisecond},
		{"one sample, p100", ds(7), 100, 7 * time.Millisecond},
		{"two samples, p50 is the lower", ds(1, 2), 50, 1 * time.Millisecond},
		{"two samples, p51 is the upper", ds(1, 2), 51, 2 * time.Millisecond},
		{"all equal", ds(5, 5, 5, 5), 90, 5 * time.Millisecond},
		// Nearest rank on 1..100: the p-th percentile is exactly p.
		{"1..100 p50", ds(hundred...), 50, 50 * time.Millisecond},
		{"1..100 p90", ds(hundred...), 90, 90 * time.Millisecond},
		{"1..100 p99", ds(hundred...), 99, 99 * time.Millisecond},
		{"1..100 p99.9 rounds up to the max", ds(hundred...), 99.9, 100 * time.Millisecond},
		{"1..100 p1", ds(hundred...), 1, 1 * time.Millisecond},
		{"1..100 p0.5 is the min", ds(hundred...), 0.5, 1 * time.Millisecond},
		{"ten samples p99 is the max", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"ten samples p90", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"negative p is the min", ds(1, 2, 3), -5, 1 * time.Millisecond},
		{"p over 100 is the max", ds(1, 2, 3), 250, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Percentile(tc.samples, tc.p))
		})
	}
}

func TestSummarize(t *testing.T) {
	require.Equal(t, Summary{}, Summarize(nil))

	// Unsorted input; Summarize sorts it.
	s := Summarize(ds(30, 10, 20, 40))
	require.Equal(t, Summary{
		Count: 4,
		Min:   10 * time.Millisecond,
		Mean:  25 * time.Millisecond,
		P50:   20 * time.Millisecond,
		P90:   40 * time.Millisecond,
		P99:   40 * time.Millisecond,
		Max:   40 * time.Millisecond,
	}, s)

	// Percentiles are ordered and observed values, whatever the data.
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 10007)
	seen := map[time.Duration]bool{}
	for i := range samples {
		samples[i] = time.Duration(r.ExpFloat64() * float64(time.Millisecond))
		seen[samples[i]] = true
	}
	s = Summarize(samples)
	require.EqualValues(t, len(samples), s.Count)
	require.True(t, s.Min <= s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max, "%+v", s)
	for _, v := range []time.Duration{s.P50, s.P90, s.P99} {
		require.True(t, seen[v], "%v is a sample", v)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				if i%2 == 0 {
					r.Add(time.Duration(g*1000 + i))
				} else {
					r.AddAll([]time.Duration{time.Duration(g*1000 + i)})
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 8000, r.Len())
	s := r.Summary()
	require.EqualValues(t, 8000, s.Count)
	require.Equal(t, time.Duration(0), s.Min)
	require.Equal(t, time.Duration(7999), s.Max)
	require.Equal(t, 8000, r.Len(), "Summary leaves the samples in place")
}

func TestRateAndSlope(t *testing.T) {
	require.InDelta(t, 500.0, Rate(1000, 2*time.Second), 1e-9)
	require.Zero(t, Rate(1000, 0))
	require.Zero(t, Rate(1000, -time.Second))

	// 10 MiB fixed plus 20 KiB per stream: the slope finds the 20 KiB
	// that RSS/N would overstate.
	at := func(n float64) float64 { return 10<<20 + n*(20<<10) }
	slope, ok := Slope(1000, at(1000), 4000, at(4000))
	require.True(t, ok)
	require.InDelta(t, 20<<10, slope, 1e-6)
	require.Greater(t, at(1000)/1000, slope)
	_, ok = Slope(5, 1, 5, 2)
	require.False(t, ok)
}

func TestSummaryJSON(t *testing.T) {
	s := Summary{Count: 3, Min: 1500 * time.Microsecond, Mean: 2 * time.Millisecond, P50: 2 * time.Millisecond,
		P90: 2500 * time.Microsecond, P99: 2500 * time.Microsecond, Max: 2500 * time.Microsecond}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"count":3,"min_ms":1.5,"mean_ms":2,"p50_ms":2,"p90_ms":2.5,"p99_ms":2.5,"max_ms":2.5}`, string(b))
	var back Summary
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s, back)
}
