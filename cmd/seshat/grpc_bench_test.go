package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// BenchmarkUnaryGetSession compares one call, GetSession of a session
// with two messages, over REST (HTTP/1.1 keep-alive) and over gRPC
// (grpc-go, h2c), one client at a time on loopback.
func BenchmarkUnaryGetSession(b *testing.B) {
	g := startGRPCServer(b, nil)
	tok := g.register(b, "unary@example.com", "password123").Token
	sid := g.query(b, tok, apitype.QueryRequest{Prompt: "hello"}).SessionID
	b.Run("rest", func(b *testing.B) {
		for range b.N {
			if r := g.get(b, "/api/v1/sessions/"+sid, tok); r.Status != http.StatusOK {
				b.Fatal(r.Status)
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		ctx := b.Context()
		for range b.N {
			var out seshatv1.GetSessionResponse
			require.NoError(b, g.invoke(ctx, tok, "/seshat.v1.SessionService/GetSession", &seshatv1.GetSessionRequest{Id: sid}, &out))
		}
	})
}

// BenchmarkStreamGRPC is BenchmarkStreamEvents over gRPC: a turn of
// `@tokens N` read to its done event, reporting events/s and the time to
// the first event. N stays under the subscriber buffer (1024): an unpaced
// burst larger than that outruns a gRPC client (one HTTP/2 frame and flush
// per message) and the session drops it, where SSE still keeps up.
func BenchmarkStreamGRPC(b *testing.B) {
	g := startGRPCServer(b, nil)
	tok := g.register(b, "gstream@example.com", "password123").Token
	const tokens = 1000
	var events int
	var first time.Duration
	start := time.Now()
	for range b.N {
		t0 := time.Now()
		cs := g.openStream(b, b.Context(), tok, "/seshat.v1.QueryService/QueryStream",
			&seshatv1.QueryStreamRequest{Prompt: fmt.Sprintf("@tokens %d", tokens)})
		for n := 0; ; n++ {
			_, err := recvEvent(cs)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(b, err)
			if n == 0 {
				first += time.Since(t0)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-to-first-event")
}

// BenchmarkFirstEventSSE is the time to the first event of a streamed
// query over SSE, for comparison with BenchmarkStreamGRPC's.
func BenchmarkFirstEventSSE(b *testing.B) {
	s := startServer(b, "", nil)
	tok := s.register(b, "sfirst@example.com", "password123").Token
	var first time.Duration
	for range b.N {
		t0 := time.Now()
		st := s.stream(b, tok, apitype.QueryRequest{Prompt: "@tokens 1"})
		_, err := st.Next()
		require.NoError(b, err)
		first += time.Since(t0)
		st.Rest()
		st.Close()
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-to-first-event")
}

// BenchmarkGRPCStreamMemory opens 200 Attach streams (under the 250 an HTTP/2 connection may carry at once) to idle sessions
// and reports the heap and goroutines they hold, server and client
// together (both run in this process).
func BenchmarkGRPCStreamMemory(b *testing.B) {
	g := startGRPCServer(b, nil)
	tok := g.register(b, "gmem@example.com", "password123").Token
	const streams = 200
	sessions := make([]string, 50)
	for i := range sessions {
		var out seshatv1.CreateSessionResponse
		require.NoError(b, g.invoke(b.Context(), tok, "/seshat.v1.SessionService/CreateSession", &seshatv1.CreateSessionRequest{}, &out))
		sessions[i] = out.GetSession().GetId()
	}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(b.Context())
		for i := range streams {
			g.openStream(b, ctx, tok, "/seshat.v1.QueryService/Attach", &seshatv1.AttachRequest{Id: sessions[i%len(sessions)]})
		}
		require.Eventually(b, func() bool { return g.metric(b, "seshat_streams_open") >= streams }, 30*time.Second, 10*time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/streams, "heap-B/stream")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/streams, "goroutines/stream")
		cancel()
		require.Eventually(b, func() bool { return g.metric(b, "seshat_streams_open") == 0 }, 30*time.Second, 10*time.Millisecond)
	}
}
