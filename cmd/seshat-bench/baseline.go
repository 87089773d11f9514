package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/seshat-host/seshat/bench/baseline"
)

// serveBaseline runs the baseline server until ctx is done.
func serveBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("seshat-bench serve-baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	raiseFileLimit()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := baseline.New(baseline.Config{})
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
	log.Info("stopped", "requests", s.Requests())
	return err
}
