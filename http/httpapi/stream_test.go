package httpapi_test

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHeldStreamHasNoGoroutine holds a native stream of a turn that
// waits half a minute for its first token and checks that no goroutine of
// the stream's is left while it waits (neither a pump nor a driven writer
// nor fasthttp's hijack handler); the server's shutdown at cleanup must
// still end it. A short stream is then read to its `done` event and the
// end of the body, after which the server closes the connection.
func TestHeldStreamHasNoGoroutine(t *testing.T) {
	open := streamOpener(t, `{"prompt":"@tokens 2\n@delay 30s"}`)
	held := open()
	defer held.Close()
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "sse.PumpUntil") && !strings.Contains(stacks, "sse.(*Driven[...]).run") &&
			!strings.Contains(stacks, "fasthttp.hijackConnHandler")
	}, 10*time.Second, time.Millisecond)

	c := streamOpener(t, `{"prompt":"@tokens 3"}`)()
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	rest, err := io.ReadAll(c)
	require.NoError(t, err)
	body := string(rest)
	require.Contains(t, body, "event: done\n")
	require.Contains(t, body, `"content":"tok0 tok1 tok2"`)
	require.True(t, strings.HasSuffix(body, "\r\n0\r\n\r\n"), "%q", body)
}
