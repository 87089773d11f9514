package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestClientThatStopsReadingIsCut opens a stream on a raw socket, reads the
// response head, then never reads again. The server fills the socket
// buffers, the rolling write deadline cuts the connection, the turn still
// completes, and the stream gauge returns to zero.
func TestClientThatStopsReadingIsCut(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_SSE_WRITE_TIMEOUT": "300ms"})
	tok := s.register(t, "slow@example.com", "password123").Token

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// A small receive buffer fills sooner.
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	body := `{"prompt":"@tokens 100000"}`
	_, err = fmt.Fprintf(conn, "POST /api/v1/query/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tok, len(body), body)
	require.NoError(t, err)
	br := bufio.NewReaderSize(conn, 512)
	status, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "200")
	var sessionID string
	for sessionID == "" {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if v, ok := strings.CutPrefix(line, "X-Seshat-Session-Id: "); ok {
			sessionID = strings.TrimSpace(v)
		}
	}
	// Stop reading. The server must cut us and free the stream.
	require.Eventually(t, func() bool { return s.metric(t, "seshat_streams_open") == 0 }, 30*time.Second, 50*time.Millisecond)

	// The turn went on without its client.
	require.Eventually(t, func() bool {
		var sess apitype.Session
		resp := s.get(t, "/api/v1/sessions/"+sessionID, tok)
		if resp.Status != http.StatusOK {
			return false
		}
		resp.JSON(t, &sess)
		return sess.Status == "idle" && sess.MessageCount == 2
	}, 30*time.Second, 50*time.Millisecond)
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+sessionID, tok).JSON(t, &sess)
	require.Len(t, strings.Fields(sess.Messages[1].Content[0].Text), 100000)
}
