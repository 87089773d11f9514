package httpapi

import (
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// GET /health. It says the process serves HTTP; it does not probe the
// store, so a load balancer's checks cost nothing.
func (s *Server) health(ctx *fasthttp.RequestCtx) error {
	return writeJSON(ctx, fasthttp.StatusOK, apitype.Health{Status: "ok"})
}

// GET /ready: 200 while the store answers a read and the server takes
// work; 503 while it shuts down, runs without its runtime, or its store
// fails. The read is an empty transaction, as cheap as the store allows.
func (s *Server) ready(ctx *fasthttp.RequestCtx) error {
	notReady := func(msg string, err error) error {
		return &Error{Status: fasthttp.StatusServiceUnavailable, Code: CodeNotReady, Msg: msg, Err: err}
	}
	switch {
	case s.shutdown.Load():
		return notReady("the server is shutting down", nil)
	case s.deps.Runtime == nil:
		return notReady("the agent runtime is not running", nil)
	}
	if err := s.deps.Store.View(func(*persist.Tx) error { return nil }); err != nil {
		return notReady("the store does not answer", err)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.Health{Status: "ready"})
}
