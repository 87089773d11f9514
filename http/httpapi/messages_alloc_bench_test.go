package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawClient sends prepared HTTP/1.1 requests on one kept-alive connection
// and reads their responses with almost no allocation of its own, so that
// a benchmark's allocs/op are the server's.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	body []byte
}

func dialRaw(tb testing.TB, url string) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(tb, err)
	tb.Cleanup(func() { conn.Close() })
	return &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// do writes req and reads one response with a Content-Length, returning
// its status and body (valid until the next call).
func (c *rawClient) do(req []byte) (int, []byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return 0, nil, err
	}
	status, length := 0, -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		switch {
		case status == 0:
			// HTTP/1.1 200 OK
			if len(line) < 12 {
				return 0, nil, fmt.Errorf("bad status line %q", line)
			}
			status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		case len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, nil, err
			}
			length = n
		}
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("status %d: response without Content-Length", status)
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		return 0, nil, err
	}
	return status, c.body, nil
}

// messagesRequest is a raw non-streaming /v1/messages request of model,
// authenticated with key.
func messagesRequest(url, key, model string) []byte {
	body := `{"model":"` + model + `","max_tokens":64,"messages":[{"role":"user","content":"Plan a trip to Paris"}]}`
	return fmt.Appendf(nil, "POST /v1/messages HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"x-api-key: %s\r\nanthropic-version: 2023-06-01\r\nContent-Length: %d\r\n\r\n%s",
		strings.TrimPrefix(url, "http://"), key, len(body), body)
}

// BenchmarkMessagesCall is one non-streaming /v1/messages call of the mock
// provider through the whole host (HTTP server, middleware, auth, session,
// turn, store), one at a time on one kept-alive connection. Its allocs/op
// and B/op are the server's per call: the client allocates nothing per
// request.
func BenchmarkMessagesCall(b *testing.B) {
	st := newStack(b, nil, nil)
	benchmarkCalls(b, st, "mock:echo", "echo: Plan a trip to Paris")
}

// BenchmarkMessagesCallUpstream is BenchmarkMessagesCall through the
// Anthropic provider to an httptest upstream replaying a recorded stream
// (whose own allocations, the same in every build, count too).
func BenchmarkMessagesCallUpstream(b *testing.B) {
	up := newUpstream(b, false)
	st := newStack(b, up, nil)
	benchmarkCalls(b, st, "anthropic:claude-haiku-4-5", "a trip to Paris.")
}

func benchmarkCalls(b *testing.B, st *stack, model, want string) {
	c := dialRaw(b, st.URL)
	req := messagesRequest(st.URL, st.Key, model)
	call := func() {
		status, body, err := c.do(req)
		if err != nil {
			b.Fatal(err)
		}
		if status != 200 || !bytes.Contains(body, []byte(want)) {
			b.Fatalf("status %d: %s", status, body)
		}
	}
	// The first calls warm the pools, the caches and the store's pages.
	for range 50 {
		call()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}
