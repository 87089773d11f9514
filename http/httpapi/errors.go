package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/compat/chatcompat"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/http/apitype"
)

// Machine codes of error responses: apierr's, the one list both API
// surfaces share.
const (
	CodeInvalidJSON          = apierr.CodeInvalidJSON
	CodeInvalidRequest       = apierr.CodeInvalidRequest
	CodeInvalidField         = apierr.CodeInvalidField
	CodeInvalidCursor        = apierr.CodeInvalidCursor
	CodeBadRequest           = apierr.CodeBadRequest
	CodeUnauthorized         = apierr.CodeUnauthorized
	CodeForbidden            = apierr.CodeForbidden
	CodeSignupClosed         = apierr.CodeSignupClosed
	CodeNotFound             = apierr.CodeNotFound
	CodeMethodNotAllowed     = apierr.CodeMethodNotAllowed
	CodeRequestTimeout       = apierr.CodeRequestTimeout
	CodeConflict             = apierr.CodeConflict
	CodeSessionBusy          = apierr.CodeSessionBusy
	CodeBodyTooLarge         = apierr.CodeBodyTooLarge
	CodeUnsupportedMediaType = apierr.CodeUnsupportedMediaType
	CodeHeadersTooLarge      = apierr.CodeHeadersTooLarge
	CodeRateLimited          = apierr.CodeRateLimited
	CodeTooManyTurns         = apierr.CodeTooManyTurns
	CodeTooManyStreams       = apierr.CodeTooManyStreams
	CodeQuotaExceeded        = apierr.CodeQuotaExceeded
	CodeInternal             = apierr.CodeInternal
	CodeTurnFailed           = apierr.CodeTurnFailed
	CodeOverloaded           = apierr.CodeOverloaded
	CodeShuttingDown         = apierr.CodeShuttingDown
	CodeNotReady             = apierr.CodeNotReady
)

// statusClientClosed is logged (never sent) when the request's context was
// cancelled, as nginx does.
const statusClientClosed = apierr.StatusClientClosed

// Error is an error with an explicit status, code and client message. Err,
// if set, is the cause: logged, never shown to the client.
type Error = apierr.Error

// classify returns the status, code and client message for err, and the
// Retry-After seconds if the client should wait: apierr.Classify, the
// table the gRPC surface maps through too.
func classify(err error) (status int, code, msg string, retryAfter int) {
	c := apierr.Classify(err)
	return c.Status, c.Code, c.Msg, c.RetryAfter
}

// writeError is the one place an error becomes a response. It logs the
// full chain once, with the request id: 4xx at debug, 5xx at error.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	c := apierr.Classify(err)
	status, code, msg, retryAfter := c.Status, c.Code, c.Msg, c.RetryAfter
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
	writeErrorBody(ctx, status, code, msg, rid, c.Quota)
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
	// openaiSurface renders the OpenAI envelope
	// {"error":{"message","type","param","code"}}, whose type follows from
	// the status.
	openaiSurface
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
	switch surfaceOf(ctx) {
	case anthropicSurface:
		body, _ = json.Marshal(anthropicError(status, msg, rid))
	case openaiSurface:
		body, _ = json.Marshal(chatcompat.NewError(status, msg, code))
	default:
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
	if s.cfg.AccessLog {
		s.logAccess(ctx.Request.Header.Method(), routeUnmatched, status, 0, rid, "")
	}
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
