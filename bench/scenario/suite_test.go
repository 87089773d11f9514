package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/bench/report"
)

func TestParseNames(t *testing.T) {
	got, err := ParseNames("all")
	require.NoError(t, err)
	require.Equal(t, All, got)

	got, err = ParseNames("streams, query")
	require.NoError(t, err)
	require.Equal(t, []string{Baseline, Query, Streams}, got, "run order, with the baseline the ratios need")

	got, err = ParseNames("restore,idle")
	require.NoError(t, err)
	require.Equal(t, []string{Idle, Restore}, got)

	_, err = ParseNames("streams,nope")
	require.ErrorContains(t, err, `unknown scenario "nope"`)
	_, err = ParseNames(" , ")
	require.Error(t, err)
}

func lat(p99 time.Duration, n int64) []report.Latency {
	return []report.Latency{{Name: "ttfe", Summary: report.Summary{Count: n, P50: p99 / 2, P99: p99, Max: p99}}}
}

func TestTargets(t *testing.T) {
	verdicts := func(ts []report.Target) map[string]string {
		out := map[string]string{}
		for _, tg := range ts {
			v := "none"
			if tg.Met != nil {
				v = map[bool]string{true: "met", false: "not met"}[*tg.Met]
			}
			out[tg.Name] = v
		}
		return out
	}
	streams := func(held float64, rssPerStream float64, together float64, p99 time.Duration, errs map[string]int64) report.Result {
		return report.Result{Scenario: Streams, Status: report.StatusOK, Steps: []report.Step{
			{Name: "before the ramp"},
			{Name: "ramp to half", Level: held / 2},
			{Name: "ramp to all", Level: held},
			{Name: "ramp total", Count: int64(held), Errors: errs, Values: []report.Value{
				{Name: "events_lost", Value: 0}, {Name: "rss_per_stream", Value: rssPerStream},
				{Name: "slope_from", Value: held / 2}, {Name: "slope_to", Value: held},
			}},
			{Name: "together", Level: together, Latency: lat(p99, int64(together))},
		}}
	}
	closed := func(name string, rate float64) report.Result {
		return report.Result{Scenario: name, Status: report.StatusOK, Steps: []report.Step{
			{Name: "closed c=1", Rate: rate / 2}, {Name: "closed c=64", Rate: rate}, {Name: "open", Rate: 10 * rate},
		}}
	}
	restore := func(sessions int64, listen float64, p99 time.Duration) report.Result {
		return report.Result{Scenario: Restore, Status: report.StatusOK, Steps: []report.Step{
			{Name: "store", Count: sessions},
			{Name: "restart", Values: []report.Value{{Name: "time_to_listen", Value: listen}}},
			{Name: "cold GET session", Latency: []report.Latency{{Name: "request", Summary: report.Summary{Count: 10, P99: p99}}}},
			{Name: "cold query turn"},
		}}
	}

	gateway := func(connsPer1000, heapPerSession, lingering float64) report.Result {
		return report.Result{Scenario: Gateway, Status: report.StatusOK, Steps: []report.Step{
			{Name: "direct closed c=64", Level: 64},
			{Name: "host closed c=64", Level: 64, Count: 5000, Values: []report.Value{
				{Name: "upstream_conns_per_1000_calls", Value: connsPer1000}, {Name: "finished_sessions_in_memory", Value: lingering},
			}},
			{Name: "after the run", Values: []report.Value{{Name: "sessions_since_warm", Value: 12000}, {Name: "heap_per_finished_session", Value: heapPerSession}}},
		}}
	}

	// At full size, meeting every target.
	full := []report.Result{
		closed(Baseline, 10000), closed(Query, 6000), closed(Messages, 5500),
		streams(10000, 20, 1000, 40*time.Millisecond, nil), restore(100000, 300, 3*time.Millisecond),
		gateway(0.4, 120, 3),
	}
	got := verdicts(Targets(full, true))
	for name, v := range got {
		require.Equal(t, "met", v, name)
	}
	require.Len(t, got, 9)

	// Missing them.
	miss := []report.Result{
		closed(Baseline, 10000), closed(Query, 4000), closed(Messages, 4000),
		streams(10000, 100, 1000, 60*time.Millisecond, map[string]int64{"conn_reset": 3}), restore(100000, 1500, 8*time.Millisecond),
		gateway(64, 300, 700),
	}
	for name, v := range verdicts(Targets(miss, true)) {
		require.Equal(t, "not met", v, name)
	}

	// Too few sessions for the heap figure: no verdict, unless finished
	// sessions stay in memory.
	short := gateway(0, 300, 0)
	short.Steps[2].Values[0].Value = 2000
	ts := Targets([]report.Result{short}, true)
	require.Nil(t, ts[len(ts)-1].Met)
	short.Steps[1].Values[1].Value = 500
	ts = Targets([]report.Result{short}, true)
	require.False(t, *ts[len(ts)-1].Met)

	// At the default small sizes, only the ratio gets a verdict; the
	// messages rate needs a pinned server.
	small := []report.Result{
		closed(Baseline, 10000), closed(Query, 6000), closed(Messages, 5500),
		streams(200, 100, 200, 10*time.Millisecond, nil), restore(1000, 10, time.Millisecond),
	}
	n := 0
	for name, v := range verdicts(Targets(small, false)) {
		if v != "none" {
			n++
			require.Contains(t, name, "/api/v1/query")
		}
	}
	require.Equal(t, 1, n)

	// Nothing run: no verdicts, and each says so.
	for _, tg := range Targets(nil, true) {
		require.Nil(t, tg.Met)
		require.Equal(t, "not run", tg.Measured)
	}
	// An unavailable endpoint says so.
	ts = Targets([]report.Result{{Scenario: Messages, Status: report.StatusUnavailable}}, true)
	require.Equal(t, "unavailable", ts[4].Measured)
}

func TestCharts(t *testing.T) {
	results := []report.Result{
		{Scenario: Baseline, Steps: []report.Step{{Name: "closed c=1", Level: 1, Latency: []report.Latency{{Name: "request", Summary: report.Summary{Count: 1, P99: time.Millisecond}}}}}},
		{Scenario: Query, Steps: []report.Step{
			{Name: "closed c=1", Level: 1, Latency: []report.Latency{{Name: "request", Summary: report.Summary{Count: 1, P99: 2 * time.Millisecond}}}},
			{Name: "open 10/s", Latency: []report.Latency{{Name: "request", Summary: report.Summary{Count: 1}}}},
		}},
		{Scenario: Streams, Steps: []report.Step{
			{Name: "before the ramp", Values: []report.Value{{Name: "server_rss", Value: 10}}},
			{Name: "ramp to 100", Level: 100, Latency: lat(time.Millisecond, 100), Values: []report.Value{{Name: "server_rss", Value: 12}}},
			{Name: "ramp total 100", Latency: lat(time.Millisecond, 100)},
			{Name: "together 100", Level: 100, Latency: lat(time.Millisecond, 100)},
		}},
	}
	charts := Charts(results)
	byTitle := map[string]report.Chart{}
	for _, c := range charts {
		byTitle[c.Title] = c
	}
	q := byTitle["POST /api/v1/query: latency vs concurrency (closed loop)"]
	require.Len(t, q.Series, 4, "p50, p90, p99 and the baseline's p99")
	require.Equal(t, []report.Point{{X: 1, Y: 2}}, q.Series[2].Points, "only closed-loop steps")
	require.Equal(t, "baseline p99", q.Series[3].Name)
	mem := byTitle["Server memory vs held streams"]
	require.Equal(t, []report.Point{{X: 0, Y: 10}, {X: 100, Y: 12}}, mem.Series[0].Points)
	require.False(t, byTitle["Streams started together: time to first event"].Empty())
	ramp := byTitle["Streams ramp: time to first event per step"]
	require.Equal(t, []report.Point{{X: 100, Y: 1}}, ramp.Series[2].Points, "plateaus only, not the ramp's total")
	require.True(t, byTitle["POST /v1/messages: latency vs concurrency (closed loop)"].Empty())
}
