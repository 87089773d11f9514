package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

const (
	headerRequestID          = "X-Request-ID"
	headerAnthropicRequestID = "Request-Id"
	headerAPIKey             = "X-Api-Key"
	logKeyRequestID          = "request_id"
	logKeyUserID             = "user_id"
	maxRequestIDLen          = 64
)

// requestIDKey and routeKey are the user-value keys of the request id and
// the matched route pattern; unexported types keep them private.
type (
	requestIDKey struct{}
	routeKey     struct{}
)

// requestID returns the request's id, set by withRequestID.
func requestID(ctx *fasthttp.RequestCtx) string {
	id, _ := ctx.UserValue(requestIDKey{}).(string)
	return id
}

// saneRequestID returns a client-supplied id if it is 1–64 characters of
// [A-Za-z0-9._-], which is safe in logs and headers, and "" otherwise.
func saneRequestID(b []byte) string {
	if len(b) == 0 || len(b) > maxRequestIDLen {
		return ""
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return ""
		}
	}
	return string(b)
}

func newRequestID() string { return agent.NewID(agent.PrefixRequest) }

// withRequestID gives every request an id: the client's X-Request-ID if it
// is sane, else a new "req_…" one. It is echoed in the response header and
// in every error body and log line of the request.
func (s *Server) withRequestID(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		id := saneRequestID(ctx.Request.Header.Peek(headerRequestID))
		if id == "" {
			id = newRequestID()
		}
		ctx.SetUserValue(requestIDKey{}, id)
		setRequestID(ctx, id)
		next(ctx)
	}
}

// setRequestID names the request's id in the response: in X-Request-ID,
// and, under the Anthropic-compatible prefix, also in request-id, the
// header Anthropic clients read.
func setRequestID(ctx *fasthttp.RequestCtx, id string) {
	ctx.Response.Header.Set(headerRequestID, id)
	if bytes.HasPrefix(ctx.Path(), []byte(anthropicPrefix)) {
		ctx.Response.Header.Set(headerAnthropicRequestID, id)
	}
}

// withMetrics counts every request by method, route pattern and status,
// and times it. For a streamed response the time is until the handler
// returned, which is when the stream began.
func (s *Server) withMetrics(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		next(ctx)
		route, _ := ctx.UserValue(routeKey{}).(string)
		if route == "" {
			route = routeUnmatched
		}
		s.metrics.observe(ctx.Method(), route, ctx.Response.StatusCode(), time.Since(start))
	}
}

// withAccessLog logs one line per request at info, once it is answered:
// method, route pattern (not the path, which may carry ids and is
// unbounded), status, duration, request id and, for an authenticated
// request, the user id. A streamed response is logged when its stream
// begins. Off unless Config.AccessLog.
func (s *Server) withAccessLog(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if !s.cfg.AccessLog {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		next(ctx)
		route, _ := ctx.UserValue(routeKey{}).(string)
		userID := ""
		if p, ok := auth.PrincipalFrom(ctx); ok {
			userID = p.UserID
		}
		s.logAccess(ctx.Method(), route, ctx.Response.StatusCode(), time.Since(start), requestID(ctx), userID)
	}
}

// logAccess writes one access log line.
func (s *Server) logAccess(method []byte, route string, status int, d time.Duration, rid, userID string) {
	if route == "" {
		route = routeUnmatched
	}
	m := methodLabel(method)
	if m == methodOther {
		m = string(method)
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", m),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String(logKeyRequestID, rid),
		slog.String(logKeyUserID, userID),
	)
}

// panicError carries a recovered panic and its stack to the error mapper.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// withRecover turns a panic below it into a 500 through the error mapper,
// which logs the stack. fasthttp itself recovers nothing, so without this
// a panic would end the process.
func (s *Server) withRecover(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if v := recover(); v != nil {
				s.writeError(ctx, &panicError{value: v, stack: debug.Stack()})
			}
		}()
		next(ctx)
	}
}

// routerPanic is the router's PanicHandler; it reports like withRecover.
func (s *Server) routerPanic(ctx *fasthttp.RequestCtx, v any) {
	s.writeError(ctx, &panicError{value: v, stack: debug.Stack()})
}

// withBodyCap refuses a body over the route's cap with 413. fasthttp
// already enforces the same cap while reading (see headerReceived); this
// check holds it for requests whose raw target differs from the routed
// path. It reads Content-Length rather than the body, so that a multipart
// body fasthttp parsed into temporary files is not loaded back.
func (s *Server) withBodyCap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		limit := s.bodyLimit(ctx.Method(), ctx.Path())
		n := ctx.Request.Header.ContentLength()
		if n < 0 {
			n = len(ctx.Request.Body())
		}
		if n > limit {
			s.writeError(ctx, &Error{
				Status: fasthttp.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
				Msg: fmt.Sprintf("request body too large (limit %d bytes)", limit),
			})
			return
		}
		next(ctx)
	}
}

// CORS settings for the Debug allowlist.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-ID, Last-Event-ID, X-Api-Key, Anthropic-Version, Anthropic-Beta, X-Seshat-Session-Id, X-Seshat-Provider-Setting-Id"
	corsExposeHeaders = "X-Request-ID, Request-Id, Retry-After, Content-Disposition, X-Seshat-Session-Id"
	corsMaxAge        = "600"
)

// withCORS, with Debug set, lets browser apps served from localhost call
// the API: it echoes an allowed Origin (never "*") and answers preflight
// requests itself. Without Debug it does nothing, so browsers keep the
// same-origin policy.
func (s *Server) withCORS(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if !s.cfg.Debug {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		origin := ctx.Request.Header.Peek("Origin")
		if len(origin) == 0 {
			next(ctx)
			return
		}
		ctx.Response.Header.Add(fasthttp.HeaderVary, "Origin")
		if !localOrigin(origin) {
			next(ctx)
			return
		}
		ctx.Response.Header.SetBytesV(fasthttp.HeaderAccessControlAllowOrigin, origin)
		ctx.Response.Header.Set(fasthttp.HeaderAccessControlExposeHeaders, corsExposeHeaders)
		if ctx.IsOptions() && len(ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestMethod)) > 0 {
			ctx.Response.Header.Set(fasthttp.HeaderAccessControlAllowMethods, corsAllowMethods)
			ctx.Response.Header.Set(fasthttp.HeaderAccessControlAllowHeaders, corsAllowHeaders)
			ctx.Response.Header.Set(fasthttp.HeaderAccessControlMaxAge, corsMaxAge)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return
		}
		next(ctx)
	}
}

// localOrigin reports whether origin is http or https on localhost,
// 127.0.0.1 or [::1], with an optional port and nothing else.
func localOrigin(origin []byte) bool {
	rest, ok := bytes.CutPrefix(origin, []byte("http://"))
	if !ok {
		if rest, ok = bytes.CutPrefix(origin, []byte("https://")); !ok {
			return false
		}
	}
	for _, host := range [][]byte{[]byte("localhost"), []byte("127.0.0.1"), []byte("[::1]")} {
		port, ok := bytes.CutPrefix(rest, host)
		if !ok {
			continue
		}
		if len(port) == 0 {
			return true
		}
		if port[0] != ':' || len(port) < 2 || len(port) > 6 {
			return false
		}
		n, err := strconv.Atoi(string(port[1:]))
		return err == nil && n > 0 && n <= 65535 && port[1] != '+' && port[1] != '-'
	}
	return false
}

// withAuth requires a verified bearer credential; the Principal is then on
// the request for the handler. The request then counts against the
// caller's requests_per_minute quota.
func (s *Server) withAuth(next handlerFunc) handlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		if err := s.deps.Auth.AuthenticateRequest(ctx); err != nil {
			return err
		}
		if err := s.admitRequest(ctx); err != nil {
			return err
		}
		return next(ctx)
	}
}

// RequestAdmitter counts a caller's requests against their quota.
// *quota.Ledger implements it.
type RequestAdmitter interface {
	AdmitRequest(userID string) error
}

// admitRequest counts an authenticated request against the caller's
// requests_per_minute (a map lookup when they have no such limit).
func (s *Server) admitRequest(ctx *fasthttp.RequestCtx) error {
	if s.deps.Quotas == nil {
		return nil
	}
	p, _ := auth.PrincipalFrom(ctx)
	return s.deps.Quotas.AdmitRequest(p.UserID)
}

// requireAdmin refuses callers who are not server admins: the check of
// the route table's admin access level.
func requireAdmin(next handlerFunc) handlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		if p, ok := auth.PrincipalFrom(ctx); !ok || p.Role != persist.RoleAdmin {
			return &Error{Status: fasthttp.StatusForbidden, Code: CodeForbidden, Msg: "this endpoint is for server admins"}
		}
		return next(ctx)
	}
}

// withAnthropicAuth is withAuth for the Anthropic-compatible routes, whose
// clients send their key either as x-api-key (v1 SDKs, Claude Code, curl)
// or as a bearer credential (v2 SDKs, gateways). A non-empty x-api-key
// wins, as upstream; some clients send an empty one next to a bearer. Both
// take an sk- key or a JWT.
func (s *Server) withAnthropicAuth(next handlerFunc) handlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		cred := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerAPIKey)))
		if cred == "" {
			cred, _ = auth.BearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
		}
		if cred == "" {
			return fmt.Errorf("%w: no x-api-key or bearer credential", auth.ErrUnauthenticated)
		}
		p, err := s.deps.Auth.Authenticate(cred)
		if err != nil {
			return err
		}
		auth.SetPrincipal(ctx, p)
		if err := s.admitRequest(ctx); err != nil {
			return err
		}
		return next(ctx)
	}
}
