package main

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// BenchmarkStreamEvents measures events per second through one session to
// one SSE client on loopback: a turn of `@tokens N` with no delay, read to
// its done event.
func BenchmarkStreamEvents(b *testing.B) {
	s := startServer(b, "", nil)
	tok := s.register(b, "bench@example.com", "password123").Token
	const tokens = 20000
	b.ResetTimer()
	var events int
	start := time.Now()
	for range b.N {
		st := s.stream(b, tok, apitype.QueryRequest{Prompt: fmt.Sprintf("@tokens %d", tokens)})
		for {
			_, err := st.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(b, err)
			events++
		}
		st.Close()
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkQueryTurns measures non-streaming turns per second with
// mock:echo on loopback (auth, actor hop, durable snapshot per turn), from
// 64 concurrent clients each on its own session.
func BenchmarkQueryTurns(b *testing.B) {
	s := startServer(b, "", nil)
	tok := s.register(b, "turns@example.com", "password123").Token
	const clients = 64
	sessions := make([]string, clients)
	for i := range sessions {
		sessions[i] = s.query(b, tok, apitype.QueryRequest{Prompt: "warm up"}).SessionID
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := postJSON(s, tok, "/api/v1/query", apitype.QueryRequest{SessionID: sessions[c], Prompt: "hello there"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "turns/s")
}
