package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawServer answers each request read on a connection with the next
// canned response, and records the remote address of each connection.
type rawServer struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	remotes []string
	reqs    []string
}

// resp is a canned response with a Content-Length body.
func resp(status, body string) string {
	return fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\ncontent-length: %d\r\n\r\n%s", status, len(body), body)
}

func startRawServer(t testing.TB, responses ...string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.remotes = append(s.remotes, c.RemoteAddr().String())
			s.mu.Unlock()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					break
				}
				b, _ := io.ReadAll(req.Body)
				s.mu.Lock()
				s.reqs = append(s.reqs, req.Method+" "+req.URL.Path+" "+req.Header.Get("Authorization")+" "+string(b))
				resp := ""
				if next < len(responses) {
					resp = responses[next]
					next++
				}
				s.mu.Unlock()
				if _, err := io.WriteString(c, resp); err != nil || strings.Contains(resp, "Connection: close") || resp == "" {
					break
				}
			}
			c.Close()
		}
	}()
	return s
}

func TestConnDo(t *testing.T) {
	s := startRawServer(t,
		resp("200 OK", `{"ok":true}`),
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		resp("404 Not Found", `{"error":"no such endpoint","code":"not_found"}`),
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
	)
	cl, err := NewClient(s.ln.Addr().String(), 0)
	require.NoError(t, err)
	c, err := cl.Dial(t.Context())
	require.NoError(t, err)
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	req := cl.Build(Request{Method: http.MethodPost, Path: "/api/v1/query", Header: [][2]string{bearer("sk-x")}, Body: []byte(`{"a":1}`)})

	r, err := c.Do(req, deadline)
	require.NoError(t, err)
	require.Equal(t, 200, r.Status)
	require.Equal(t, `{"ok":true}`, string(r.Body))
	require.False(t, r.Close)

	r, err = c.Do(req, deadline)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(r.Body), "chunked body, trailer consumed")

	r, err = c.Do(req, deadline)
	require.NoError(t, err)
	require.Equal(t, 204, r.Status)
	require.Empty(t, r.Body)

	r, err = c.Do(req, deadline)
	require.NoError(t, err)
	require.Equal(t, 404, r.Status)
	se := statusError(r.Status, r.Body)
	require.Equal(t, "not_found", se.Code)
	require.Equal(t, "http_404_not_found", Classify(se))

	r, err = c.Do(req, deadline)
	require.NoError(t, err)
	require.Equal(t, "until the end", string(r.Body))
	require.True(t, r.Close)
	require.True(t, c.Closed(), "Connection: close closes the client side")

	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.remotes, 1, "one keep-alive connection for all five")
	require.Equal(t, `POST /api/v1/query Bearer sk-x {"a":1}`, s.reqs[0])
}

func TestConnDoMalformed(t *testing.T) {
	s := startRawServer(t, "SSH-2.0-OpenSSH\r\n\r\n")
	cl, err := NewClient(s.ln.Addr().String(), 0)
	require.NoError(t, err)
	c, err := cl.Dial(t.Context())
	require.NoError(t, err)
	_, err = c.Do(cl.Build(Request{Method: http.MethodGet, Path: "/"}), time.Now().Add(5*time.Second))
	require.ErrorIs(t, err, errMalformed)
	require.Equal(t, "malformed", Classify(err))
	require.True(t, c.Closed())
}

func TestBuild(t *testing.T) {
	cl, err := NewClient("127.0.0.1:8090", 0)
	require.NoError(t, err)
	require.Equal(t,
		"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8090\r\nUser-Agent: seshat-bench\r\nLast-Event-ID: 3\r\n\r\n",
		string(cl.Build(Request{Method: http.MethodGet, Path: "/x", Header: [][2]string{{"Last-Event-ID", "3"}}})))
	require.Equal(t,
		"POST /q HTTP/1.1\r\nHost: 127.0.0.1:8090\r\nUser-Agent: seshat-bench\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		string(cl.Build(Request{Method: http.MethodPost, Path: "/q", Body: []byte("{}")})))
}

func TestSourceAddresses(t *testing.T) {
	s := startRawServer(t)
	cl, err := NewClient(s.ln.Addr().String(), 3)
	require.NoError(t, err)
	for range 6 {
		c, err := cl.Dial(t.Context())
		require.NoError(t, err)
		c.Close()
	}
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.remotes) == 6
	}, 5*time.Second, 10*time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]int{}
	for _, r := range s.remotes {
		host, _, err := net.SplitHostPort(r)
		require.NoError(t, err)
		seen[host]++
	}
	require.Equal(t, map[string]int{"127.0.0.2": 2, "127.0.0.3": 2, "127.0.0.4": 2}, seen)
}

func TestStatusError(t *testing.T) {
	e := statusError(429, []byte(`{"error":"at most 256 running turns per user","code":"too_many_turns","request_id":"req_1"}`))
	require.Equal(t, &StatusError{Status: 429, Code: "too_many_turns", Msg: "at most 256 running turns per user"}, e)
	e = statusError(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`))
	require.Equal(t, &StatusError{Status: 529, Code: "overloaded_error", Msg: "busy"}, e)
	e = statusError(502, []byte(`<html>bad gateway</html>`))
	require.Equal(t, &StatusError{Status: 502}, e)
	require.Equal(t, "HTTP 502", e.Error())
	require.Equal(t, "http_502", Classify(e))
}

func TestClassify(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cl, err := NewClient(addr, 0)
	require.NoError(t, err)
	_, refused := cl.Dial(t.Context())

	for err, want := range map[error]string{
		nil:                      "",
		refused:                  "conn_refused",
		os.ErrDeadlineExceeded:   "timeout",
		context.DeadlineExceeded: "timeout",
		context.Canceled:         "canceled",
		io.ErrUnexpectedEOF:      "eof",
		&net.OpError{Op: "read", Err: syscall.ECONNRESET}:      "conn_reset",
		&net.OpError{Op: "dial", Err: syscall.EADDRNOTAVAIL}:   "no_ephemeral_port",
		&net.OpError{Op: "dial", Err: syscall.EMFILE}:          "fd_limit",
		errors.Join(errBadAnswer, errors.New("stop_reason x")): "bad_answer",
		errors.New("something else"):                           "io",
	} {
		require.Equal(t, want, Classify(err), "%v", err)
	}
}
