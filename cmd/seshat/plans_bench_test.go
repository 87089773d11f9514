package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// BenchmarkPlanApproveToFirstEvent measures, on loopback, the time from
// sending POST /api/v1/plans/{id}/approve with execute to reading the
// execution turn's first event (its session event) on
// GET /api/v1/sessions/{id}/stream: the approval's store write, the turn's
// start, and the attach. It reports p50 and p99 in milliseconds. Proposing
// the plan and reading the execution to its end are outside the clock.
func BenchmarkPlanApproveToFirstEvent(b *testing.B) {
	s := startServer(b, "", nil)
	tok := s.register(b, "plans-bench@example.com", "password123").Token
	sess := created[apitype.Session](b, s.call(b, http.MethodPost, "/api/v1/sessions", tok, apitype.CreateSessionRequest{PermissionMode: "plan"}), 201)
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		res := s.query(b, tok, apitype.QueryRequest{SessionID: sess.ID, Prompt: "@say 1. do the thing"})
		require.NotEmpty(b, res.PlanID)
		b.StartTimer()
		start := time.Now()
		appr := created[apitype.ApprovePlanResponse](b, s.call(b, http.MethodPost, "/api/v1/plans/"+res.PlanID+"/approve", tok, apitype.ApprovePlanRequest{Execute: true}), 200)
		st := s.openStream(b, http.MethodGet, "/api/v1/sessions/"+sess.ID+"/stream", tok, nil, nil)
		first := decodeRuntime(b, st.MustNext())
		lat = append(lat, time.Since(start))
		b.StopTimer()
		require.Equal(b, *appr.TurnID, first.TurnID)
		st.Until(isEnd)
		st.Close()
		b.StartTimer()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}
