package httpapi_test

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkHeldStreamMemory holds streams of running mock turns (POST
// /api/v1/query/stream, a new session each, waiting a minute for the
// model's first token) and
// reports what each adds to the process, from the runtime's own figures
// after a collection: live heap, goroutine stacks and goroutines per held
// stream. The client side of each stream is a bare TCP connection (a
// socket and its poller entry, under 1 KiB), counted with the server's.
//
//	go test -run '^$' -bench HeldStreamMemory -benchtime 1x ./http/httpapi
func BenchmarkHeldStreamMemory(b *testing.B) {
	const n = 1000
	open := streamOpener(b, `{"prompt":"@tokens 2\n@delay 60s"}`)
	measure := func() (heap, stack uint64, goroutines int) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine()
	}
	for range b.N {
		// A first batch warms the pools and the runtime's stack sizing.
		warm := openAll(n/10, open)
		h0, s0, g0 := measure()
		conns := openAll(n, open)
		h1, s1, g1 := measure()
		b.ReportMetric(float64(h1-h0)/n/1024, "heap-KiB/stream")
		b.ReportMetric(float64(s1-s0)/n/1024, "stack-KiB/stream")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/stream")
		for _, c := range append(warm, conns...) {
			_ = c.Close()
		}
	}
}

// openAll opens n streams, 32 at a time.
func openAll(n int, open func() net.Conn) []net.Conn {
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = open()
		}()
	}
	wg.Wait()
	return conns
}

// streamOpener starts a host and returns a function that opens one
// stream of a new session (POST /api/v1/query/stream with body) on a
// bare TCP connection and reads it up to the turn's first event.
func streamOpener(b testing.TB, body string) func() net.Conn {
	st := newStack(b, nil, nil)
	u, err := url.Parse(st.URL)
	require.NoError(b, err)
	req := []byte(fmt.Sprintf("POST /api/v1/query/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, st.Key, len(body), body))
	return func() net.Conn {
		buf := make([]byte, 4<<10)
		c, err := net.Dial("tcp", u.Host)
		require.NoError(b, err)
		_, err = c.Write(req)
		require.NoError(b, err)
		// Read up to the turn's first event, the `session` one.
		var got []byte
		require.NoError(b, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		for !bytes.Contains(got, []byte("id: 1\n")) {
			k, err := c.Read(buf)
			require.NoError(b, err, "stream start: %q", got)
			got = append(got, buf[:k]...)
		}
		require.True(b, strings.HasPrefix(string(got), "HTTP/1.1 200"), "%q", got)
		// A short turn's later events may have come in the same reads.
		_, after, _ := bytes.Cut(got, []byte("id: 1\n"))
		return &startedConn{Conn: c, pending: after}
	}
}

// startedConn is a stream's connection whose reads start with what the
// opener read past the first event's id.
type startedConn struct {
	net.Conn
	pending []byte
}

func (c *startedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// BenchmarkStreamStart opens streams one after another, each a new
// session whose turn (a mock answer of two tokens) starts, and reads each
// to its first event: the allocations of a stream start, client's
// included, and its latency (which includes the durable create).
//
//	go test -run '^$' -bench StreamStart -benchmem ./http/httpapi
func BenchmarkStreamStart(b *testing.B) {
	open := streamOpener(b, `{"prompt":"@tokens 2"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = open().Close()
	}
}
