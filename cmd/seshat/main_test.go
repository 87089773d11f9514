package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind once
// its servers have shut down.
func TestMain(m *testing.M) {
	if os.Getenv(envMCPServer) == "stdio" {
		runStdioMCPServer()
		return
	}
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide clock for the Date header, started once
		// and never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// The worker pool's cleaner sleeps MaxIdleWorkerDuration (10s)
		// before it notices the server stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// protoactor's dead-letter log throttle: started by a message to a
		// stopped actor (a stream leaving a session that shut down), it
		// ends by itself within a second.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		// bleve's process-wide analysis queue, started when the package
		// is loaded.
		goleak.IgnoreAnyFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"),
	)
}
