package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

// Machine codes of error responses. They are part of the API: clients
// branch on them, so they never change once released.
const (
	CodeInvalidJSON          = "invalid_json"           // 400: the body is not valid JSON
	CodeInvalidRequest       = "invalid_request"        // 400: a field is missing or invalid
	CodeBadRequest           = "bad_request"            // 400: the request could not be parsed
	CodeUnauthorized         = "unauthorized"           // 401: missing or bad credentials
	CodeForbidden            = "forbidden"              // 403: authenticated but not allowed
	CodeNotFound             = "not_found"              // 404: unknown id, another tenant's id, unknown route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeRequestTimeout       = "request_timeout"        // 408: the request was not read in time
	CodeConflict             = "conflict"               // 409: the resource's state forbids the request
	CodeSessionBusy          = "session_busy"           // 409: the session already runs a turn
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeHeadersTooLarge      = "headers_too_large"      // 431
	CodeRateLimited          = "rate_limited"           // 429: too many attempts; see Retry-After
	CodeTooManyTurns         = "too_many_turns"         // 429
	CodeTooManyStreams       = "too_many_streams"       // 429
	CodeQuotaExceeded        = "quota_exceeded"         // 429: a quota limit refused the request; see quota and Retry-After
	CodeInternal             = "internal"               // 500: nothing more is said
	CodeTurnFailed           = "turn_failed"            // 502: the turn failed after it started; the message says why
	CodeOverloaded           = "overloaded"             // 503
	CodeShuttingDown         = "shutting_down"          // 503
)

// statusClientClosed is logged (never sent) when the request's context was
// cancelled, as nginx does.
const statusClientClosed = 499

// Error is an error with an explicit status, code and client message. Err,
// if set, is the cause: logged, never shown to the client.
type Error struct {
	Status int
	Code   string
	Msg    string
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// sentinels maps errors from below http/ to a status and code, in order:
// the first match wins. An empty msg shows the error's own text, which the
// lower layers write for the client (agent.ErrInvalid and ErrConflict are
// wrapped with such a message); the others have fixed messages because
// their text may carry ids or internals.
var sentinels = []struct {
	err    error
	status int
	code   string
	msg    string
}{
	{auth.ErrInvalidLogin, fasthttp.StatusUnauthorized, CodeUnauthorized, "invalid email or password"},
	{auth.ErrUnauthenticated, fasthttp.StatusUnauthorized, CodeUnauthorized, "missing or invalid credentials"},
	{agent.ErrNotFound, fasthttp.StatusNotFound, CodeNotFound, "not found"},
	{persist.ErrNotFound, fasthttp.StatusNotFound, CodeNotFound, "not found"},
	{agent.ErrInvalid, fasthttp.StatusBadRequest, CodeInvalidRequest, ""},
	{persist.ErrInvalid, fasthttp.StatusBadRequest, CodeInvalidRequest, ""},
	{agent.ErrForbidden, fasthttp.StatusForbidden, CodeForbidden, ""},
	{persist.ErrForbidden, fasthttp.StatusForbidden, CodeForbidden, "your role in the workspace does not allow this"},
	{agent.ErrBusy, fasthttp.StatusConflict, CodeSessionBusy, "the session is already running a turn"},
	{agent.ErrConflict, fasthttp.StatusConflict, CodeConflict, ""},
	{persist.ErrConflict, fasthttp.StatusConflict, CodeConflict, "conflict"},
	{agent.ErrTooManyTurns, fasthttp.StatusTooManyRequests, CodeTooManyTurns, "too many running turns"},
	{agent.ErrTooManyStreams, fasthttp.StatusTooManyRequests, CodeTooManyStreams, "too many open streams"},
	{persist.ErrTooLarge, fasthttp.StatusRequestEntityTooLarge, CodeBodyTooLarge, "file too large"},
	{agent.ErrOverloaded, fasthttp.StatusServiceUnavailable, CodeOverloaded, "the server is overloaded; retry later"},
	{agent.ErrTurnFailed, fasthttp.StatusBadGateway, CodeTurnFailed, ""},
	{agent.ErrClosed, fasthttp.StatusServiceUnavailable, CodeShuttingDown, "the server is shutting down"},
	{persist.ErrClosed, fasthttp.StatusServiceUnavailable, CodeShuttingDown, "the server is shutting down"},
}

// classify returns the status, code and client message for err, and the
// Retry-After seconds if the client should wait.
func classify(err error) (status int, code, msg string, retryAfter int) {
	var he *Error
	if errors.As(err, &he) {
		return he.Status, he.Code, he.Msg, 0
	}
	if q := quotaOf(err); q != nil {
		return fasthttp.StatusTooManyRequests, CodeQuotaExceeded,
			fmt.Sprintf("quota exceeded: %s of %s %s is %d (used %d)", q.Limit, q.Scope, q.ID, q.Max, q.Used), q.RetryAfterSeconds
	}
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		return fasthttp.StatusTooManyRequests, CodeRateLimited, "too many failed login attempts; retry later",
			max(1, int(math.Ceil(rl.RetryAfter.Seconds())))
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			msg := s.msg
			if msg == "" {
				msg = err.Error()
			}
			return s.status, s.code, msg, 0
		}
	}
	if errors.Is(err, context.Canceled) {
		return statusClientClosed, "", "", 0
	}
	return fasthttp.StatusInternalServerError, CodeInternal, "internal error", 0
}

// writeError is the one place an error becomes a response. It logs the
// full chain once, with the request id: 4xx at debug, 5xx at error.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	status, code, msg, retryAfter := classify(err)
	rid := requestID(ctx)
	s.logError(ctx, rid, status, err)
	if status == statusClientClosed {
		// The client is gone; there is no one to answer.
		ctx.SetStatusCode(status)
		ctx.Response.ResetBody()
		return
	}
	if retryAfter > 0 {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfter))
	}
	if status == fasthttp.StatusUnauthorized {
		// RFC 9110 asks a 401 to name the scheme it expects.
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="seshat"`)
	}
	writeErrorBody(ctx, status, code, msg, rid, quotaOf(err))
}

// quotaOf describes the quota error in err's chain, if any: the runtime's
// (tokens, turns, requests) or the store's (stored bytes).
func quotaOf(err error) *apitype.QuotaExceeded {
	var aq *agent.QuotaError
	if errors.As(err, &aq) {
		return &apitype.QuotaExceeded{Scope: aq.Scope, ID: aq.ID, Limit: aq.Limit, Max: aq.Max, Used: aq.Used,
			RetryAfterSeconds: retrySeconds(aq.RetryAfter)}
	}
	var pq *persist.QuotaError
	if errors.As(err, &pq) {
		return &apitype.QuotaExceeded{Scope: pq.Scope, ID: pq.ID, Limit: pq.Limit, Max: pq.Max, Used: pq.Used,
			RetryAfterSeconds: retrySeconds(pq.RetryAfter)}
	}
	return nil
}

func retrySeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

func (s *Server) logError(ctx *fasthttp.RequestCtx, rid string, status int, err error) {
	level := slog.LevelDebug
	if status >= 500 && status != statusClientClosed {
		level = slog.LevelError
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String(logKeyRequestID, rid),
		slog.Int("status", status),
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.String("error", err.Error()),
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", string(pe.stack)))
	}
	s.log.LogAttrs(context.Background(), level, "request failed", attrs...)
}

// surface is the API family a request belongs to. The status mapping is
// shared; the shape of the error body is the surface's.
type surface uint8

const (
	// nativeSurface renders API.md's {error, code, request_id}.
	nativeSurface surface = iota
	// anthropicSurface renders the Anthropic envelope
	// {"type":"error","error":{"type","message"},"request_id"}, whose type
	// follows from the status.
	anthropicSurface
)

// surfaceKey is the user-value key of the matched route's surface.
type surfaceKey struct{}

// anthropicPrefix is the path prefix of the Anthropic-compatible routes. A
// request under it that reached no route (unknown path, wrong method, a
// body refused before routing) still gets that surface's errors.
const anthropicPrefix = "/v1/"

// surfaceOf returns the surface of the route the request matched, or the
// one its path prefix implies.
func surfaceOf(ctx *fasthttp.RequestCtx) surface {
	if v, ok := ctx.UserValue(surfaceKey{}).(surface); ok {
		return v
	}
	if bytes.HasPrefix(ctx.Path(), []byte(anthropicPrefix)) {
		return anthropicSurface
	}
	return nativeSurface
}

// anthropicError is the Anthropic envelope for status and msg. A 503 (the
// host refuses work or is shutting down) is overloaded_error, the type
// Anthropic clients treat as "retry later".
func anthropicError(status int, msg, rid string) anthropic.ErrorResponse {
	e := anthropic.NewError(status, msg)
	if status == fasthttp.StatusServiceUnavailable {
		e.Error.Type = anthropic.ErrorOverloaded
	}
	e.RequestID = rid
	return e
}

// writeErrorBody writes the error body of the request's surface; quota,
// if set, names the limit that refused the request (native surface).
func writeErrorBody(ctx *fasthttp.RequestCtx, status int, code, msg, rid string, quota *apitype.QuotaExceeded) {
	var body []byte
	if surfaceOf(ctx) == anthropicSurface {
		body, _ = json.Marshal(anthropicError(status, msg, rid))
	} else {
		body, _ = json.Marshal(apitype.Error{Error: msg, Code: code, RequestID: rid, Quota: quota})
	}
	ctx.Response.ResetBody()
	ctx.SetContentType(contentTypeJSON)
	ctx.SetStatusCode(status)
	ctx.SetBody(append(body, '\n'))
}

// serveError is the fasthttp ErrorHandler: it answers requests that could
// not be read (so no middleware or handler ran) in the API's error shape.
// fasthttp closes the connection afterwards.
func (s *Server) serveError(ctx *fasthttp.RequestCtx, err error) {
	rid := saneRequestID(ctx.Request.Header.Peek(headerRequestID))
	if rid == "" {
		rid = newRequestID()
	}
	setRequestID(ctx, rid)
	status, code, msg := fasthttp.StatusBadRequest, CodeBadRequest, "malformed request"
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body too large"
		drainRefusedBody(ctx.Conn(), ctx.Request.Header.ContentLength())
	case errors.As(err, &small):
		status, code, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge, "request headers too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		status, code, msg = fasthttp.StatusRequestTimeout, CodeRequestTimeout, "request not received in time"
	}
	s.logError(ctx, rid, status, err)
	s.metrics.observe(ctx.Request.Header.Method(), routeUnmatched, status, 0)
	writeErrorBody(ctx, status, code, msg, rid, nil)
}

// Bounds of drainRefusedBody.
const (
	drainMaxBytes = 64 << 20
	drainMaxTime  = 10 * time.Second
	drainIdle     = 500 * time.Millisecond
)

// drainRefusedBody reads and discards the rest of a body refused for its
// size before the 413 is written. fasthttp closes the connection after an
// ErrorHandler; closing a socket with unread data makes the kernel send a
// reset, and a client still writing its body (Go's net/http, for one) then
// reports "connection reset" instead of the 413. Draining lets it finish
// writing and read the answer. Bodies over drainMaxBytes are not drained:
// such a client gets the reset. The drain stops at the declared length,
// when the client pauses for drainIdle, or after drainMaxTime.
func drainRefusedBody(conn net.Conn, declared int) {
	if conn == nil || declared > drainMaxBytes {
		return
	}
	remaining := int64(drainMaxBytes)
	if declared >= 0 {
		remaining = int64(declared)
	}
	deadline := time.Now().Add(drainMaxTime)
	buf := make([]byte, 32<<10)
	for remaining > 0 {
		_ = conn.SetReadDeadline(minTime(deadline, time.Now().Add(drainIdle)))
		n, err := conn.Read(buf[:min(int64(len(buf)), remaining)])
		remaining -= int64(n)
		if err != nil {
			return
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
