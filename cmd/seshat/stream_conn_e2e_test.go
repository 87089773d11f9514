package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
)

// TestStreamFramingByProtocol opens a stream over raw TCP as an HTTP/1.1
// client (the stream owns its connection: chunked, Connection: close) and
// as an HTTP/1.0 client (fasthttp's body stream writer), and reads every event up to done on both.
func TestStreamFramingByProtocol(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "frame@example.com", "password123").Token
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(proto, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
			body := `{"prompt":"@tokens 3"}`
			_, err = fmt.Fprintf(c, "POST /api/v1/query/stream %s\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				proto, addr, tok, len(body), body)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			require.NotEmpty(t, resp.Header.Get("X-Request-ID"))
			if proto == "HTTP/1.1" {
				require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
				require.True(t, resp.Close, "the stream's connection closes after it")
			}
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err, "the body ends cleanly")
			dec := eventstream.NewDecoder(bytes.NewReader(raw), 0)
			var names []string
			for {
				ev, err := dec.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				names = append(names, ev.Name)
			}
			require.NotEmpty(t, names)
			require.Equal(t, "done", names[len(names)-1])
		})
	}
}
