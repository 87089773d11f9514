package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// verifyNoLeaks fails t if goroutines started during the test, other than
// fasthttp's process-wide ones, outlive it. Call it first in the test: its
// check then runs after every other cleanup (stores, servers).
func verifyNoLeaks(t testing.TB) {
	t.Helper()
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestServer builds a Server on a real store, logging at debug level
// into the returned buffer.
func newTestServer(t testing.TB, cfg Config) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	}
	store := persisttest.Open(t)
	authSvc, err := auth.New(auth.Config{Secret: bytes.Repeat([]byte("k"), 32), Store: store, BcryptCost: bcrypt.MinCost})
	require.NoError(t, err)
	s, err := New(cfg, Deps{Store: store, Auth: authSvc})
	require.NoError(t, err)
	return s, logs
}

// serveInMemory serves h on an in-memory listener and returns a client
// for it (any host name reaches it). The server is shut down at cleanup.
func serveInMemory(t testing.TB, h fasthttp.RequestHandler) *http.Client {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	client := inMemoryClient(ln)
	t.Cleanup(func() {
		client.CloseIdleConnections()
		require.NoError(t, srv.Shutdown())
		require.NoError(t, <-done)
	})
	return client
}

// inMemoryClient is a net/http client whose every connection goes to ln.
func inMemoryClient(ln *fasthttputil.InmemoryListener) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
	}}
}
