package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/seshat-host/seshat/bench/upstream"
)

// serveUpstream runs the mock Anthropic upstream of the gateway scenario
// until ctx is done.
func serveUpstream(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("seshat-bench serve-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	deltas := fs.Int("deltas", 32, "text deltas per streamed answer")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	raiseFileLimit()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := upstream.New(upstream.Config{Deltas: *deltas})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	log.Info("listening on "+ln.Addr().String(), "addr", ln.Addr().String())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Shutdown(shutdownCtx)
	<-served
	st := s.Stats()
	log.Info("stopped", "requests", st.Requests, "connections", st.Connections)
	return err
}
