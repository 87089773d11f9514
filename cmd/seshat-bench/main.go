// Command seshat-bench is the load bench operators run against the Seshat
// host. With -spawn it starts the server binary itself (on a temporary
// data dir, pinned to its own core when taskset is available) and a
// baseline fasthttp server the same way; with -url and -key it targets a
// running host on this machine. It runs the scenarios of bench/scenario,
// shows a progress bar, prints a summary table, and writes report.json,
// report.txt and report.svg (charts) to -out.
//
//	seshat-bench -spawn                       # the short default suite
//	seshat-bench -spawn -scenarios streams -streams 10000 -ramp 20s -delay 1s
//	seshat-bench -url http://127.0.0.1:8090 -key sk-… -scenarios query
//
// "seshat-bench serve-baseline -addr ADDR" is the baseline server the
// bench spawns; it logs "listening on ADDR" as the host does.
// "seshat-bench serve-upstream -addr ADDR" is the mock Anthropic upstream
// of the gateway scenario.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "seshat-bench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "seshat-bench:", err)
		os.Exit(1)
	}
}

// errUsage marks a command-line error: main exits with status 2.
var errUsage = errors.New("usage")

// run dispatches to the baseline server or the bench.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve-baseline" {
		return serveBaseline(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "serve-upstream" {
		return serveUpstream(ctx, args[1:], stderr)
	}
	return bench(ctx, args, stdout, stderr)
}
