// Package baseline is the reference server of the load bench: a bare
// fasthttp handler that answers every request with a tiny JSON body,
// served with the listener settings the host's HTTP server uses. The bench
// measures it in the same run, on the same pinned core and with the same
// client, as the host, so that each throughput figure can be read as a
// fraction of what fasthttp alone does on this machine.
//
// It does no authentication, no routing, no JSON decoding and no storage:
// everything the host does on top is what the ratio measures.
//
// A Server's methods are safe for concurrent use. It imports only the
// standard library and fasthttp.
package baseline

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config mirrors the settings of the host's HTTP server (httpapi.Config
// and the fasthttp.Server it builds), so that the baseline differs from
// the host only in its handler.
type Config struct {
	// ReadTimeout bounds reading one request. If zero, 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. If zero, 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection's wait for its next
	// request. If zero, 120s.
	IdleTimeout time.Duration
	// ReadBufferSize is the per-connection read buffer. If zero, 16 KiB.
	ReadBufferSize int
	// MaxBodyBytes caps request bodies. If zero, 4 MiB.
	MaxBodyBytes int
}

// body is the answer to every request.
var body = []byte(`{"ok":true}`)

// Server is the baseline HTTP server.
type Server struct {
	srv      *fasthttp.Server
	requests atomic.Int64
}

// New returns a server with cfg's zero fields defaulted. It starts
// nothing: Serve does.
func New(cfg Config) *Server {
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 15 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = 16 << 10
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	s := &Server{}
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "baseline",
		NoDefaultServerHeader: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        cfg.ReadBufferSize,
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		CloseOnShutdown:       true,
	}
	return s
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// Requests returns how many requests the server has answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Serve accepts connections on ln until Shutdown, and returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown closes the listener and waits, until ctx is done, for open
// connections to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.ShutdownWithContext(ctx)
}
