package httpapi

import (
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apitype"
)

// GET /health. It says the process serves HTTP; it does not probe the
// store, so a load balancer's checks cost nothing.
func (s *Server) health(ctx *fasthttp.RequestCtx) error {
	return writeJSON(ctx, fasthttp.StatusOK, apitype.Health{Status: "ok"})
}
