package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleReport() *Report {
	met := true
	return &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Seconds: 42.5,
		Command: "seshat-bench -spawn",
		Setup:   map[string]string{"cpus": "2", "pinned": "server on cpu 0, bench on cpu 1"},
		Results: []Result{
			{
				Scenario: "query", Status: StatusOK,
				Params: map[string]string{"duration": "2s"},
				Steps: []Step{{
					Name: "closed c=16", Level: 16, Count: 8000, Seconds: 2, Rate: 4000, Ratio: 0.25,
					Latency: []Latency{{Name: "request", Summary: Summary{Count: 8000, P50: 3 * time.Millisecond, P90: 5 * time.Millisecond, P99: 9 * time.Millisecond, Max: 20 * time.Millisecond}}},
					Values:  []Value{{Name: "server_cpu_per_turn", Value: 210, Unit: "µs"}},
					Errors:  map[string]int64{"http_409": 2, "read": 1},
				}},
			},
			{Scenario: "messages", Status: StatusUnavailable, Note: "POST /v1/messages answered 404"},
		},
		Targets: []Target{
			{Name: "query ≥ 50% of baseline", Measured: "25%", Met: new(bool)},
			{Name: "p99 ttfe ≤ 50 ms", Measured: "9 ms", Met: &met},
			{Name: "10,000 streams", Measured: "200 streams run"},
		},
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))

	// The shape machines read: snake_case names, milliseconds.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	step := raw["results"].([]any)[0].(map[string]any)["steps"].([]any)[0].(map[string]any)
	require.Equal(t, 4000.0, step["rate_per_s"])
	require.Equal(t, 0.25, step["baseline_ratio"])
	lat := step["latency"].([]any)[0].(map[string]any)
	require.Equal(t, "request", lat["name"])
	require.Equal(t, 9.0, lat["p99_ms"])
	require.Equal(t, 8000.0, lat["count"])
	require.Equal(t, map[string]any{"http_409": 2.0, "read": 1.0}, step["errors"])
	require.Nil(t, raw["targets"].([]any)[2].(map[string]any)["met"], "unmeasured targets are null")

	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, *r, back)

	st, ok := back.Results[0].Step("closed c=16")
	require.True(t, ok)
	require.EqualValues(t, 3, st.ErrorCount())
	v, ok := st.Val("server_cpu_per_turn")
	require.True(t, ok)
	require.Equal(t, 210.0, v)
	_, ok = back.Find("restore")
	require.False(t, ok)
}

func TestReportTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, sampleReport().WriteTable(&buf))
	out := buf.String()
	for _, want := range []string{
		"== query: ok",
		"duration=2s",
		"closed c=16",
		"4,000",                      // rate with thousands separators
		"0.25",                       // ratio to the baseline
		"3.00ms", "9.00ms", "20.0ms", // p50, p99, max
		"http_409=2 read=1",
		"server_cpu_per_turn", "210 µs",
		"== messages: unavailable (POST /v1/messages answered 404)",
		"== targets",
		"NOT MET", "met", "no verdict",
		"pinned:", "server on cpu 0",
	} {
		require.Contains(t, out, want)
	}
	// The step's row holds its latency columns in order; its other
	// figures follow the table, one a line.
	require.Regexp(t, `(?m)^  closed c=16\s+8000\s+4,000\s+0\.25\s+request\s+3\.00ms\s+5\.00ms\s+9\.00ms\s+20\.0ms\s+http_409=2 read=1$`, out)
	require.Regexp(t, `(?m)^  closed c=16\s+server_cpu_per_turn\s+210 µs$`, out)
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0",
		850 * time.Nanosecond:   "0.85µs",
		37 * time.Microsecond:   "37.0µs",
		1500 * time.Microsecond: "1.50ms",
		250 * time.Millisecond:  "250ms",
		1250 * time.Millisecond: "1.25s",
		90 * time.Second:        "90.0s",
	} {
		require.Equal(t, want, FormatDuration(d), "%v", d)
	}
}

func TestWriteSVG(t *testing.T) {
	steps := []Step{
		{Level: 1, Latency: []Latency{{Name: "request", Summary: Summary{Count: 1, P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond}}}, Values: []Value{{Name: "rss", Value: 1 << 20}}},
		{Level: 64, Latency: []Latency{{Name: "request", Summary: Summary{Count: 1, P50: 4 * time.Millisecond, P90: 8 * time.Millisecond, P99: 16 * time.Millisecond}}}, Values: []Value{{Name: "rss", Value: 3 << 20}}},
		{Level: 128}, // no samples: left out
	}
	lc := LatencyChart("Query <latency> & concurrency", "concurrency", steps, "request")
	lc.LogX = true
	require.Len(t, lc.Series, 3)
	require.Equal(t, []Point{{1, 3}, {64, 16}}, lc.Series[2].Points)
	rss := Chart{Title: "RSS", XLabel: "streams", YLabel: "MiB", Series: []Series{ValueSeries("rss", steps, "rss", 1.0/(1<<20))}}
	require.Equal(t, []Point{{1, 1}, {64, 3}}, rss.Series[0].Points)

	var buf bytes.Buffer
	require.NoError(t, WriteSVG(&buf, []Chart{lc, rss, {Title: "empty"}}))
	out := buf.String()
	require.True(t, strings.HasPrefix(out, `<svg xmlns="http://www.w3.org/2000/svg"`))
	require.Contains(t, out, "Query &lt;latency&gt; &amp; concurrency", "text is escaped")
	require.Equal(t, 4, strings.Count(out, "<polyline"), "three percentiles and one RSS line")
	require.NotContains(t, out, "empty", "charts without points are not drawn")
	// Well-formed XML.
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		_, err := dec.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
	}

	buf.Reset()
	require.NoError(t, WriteSVG(&buf, nil))
	require.Contains(t, buf.String(), "no data to chart")
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -45000: "-45,000"} {
		require.Equal(t, want, FormatCount(n))
	}
}

func TestTickLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 16: "16", 2500: "2,500", 0.5: "0.5", 0.25: "0.25", 12.5: "12.5", 0.001: "0.001"} {
		require.Equal(t, want, tickLabel(v), "%v", v)
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0: 1, 0.03: 0.05, 1: 1, 1.2: 2, 3: 5, 7: 10, 42: 50, 180: 200} {
		require.InDelta(t, want, niceStep(raw), 1e-12, "%v", raw)
	}
}
