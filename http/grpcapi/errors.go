package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/seshat-host/seshat/http/apierr"
)

// errorDomain is the ErrorInfo domain of every error the API raises.
const errorDomain = "seshat"

// headerRequestID names a call's request id in its response metadata, as
// REST's X-Request-ID does.
const headerRequestID = "X-Request-Id"

// codeOf maps the REST status of apierr's table to a gRPC code.
func codeOf(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusConflict:
		return connect.CodeFailedPrecondition
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusRequestTimeout:
		return connect.CodeDeadlineExceeded
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		// The turn's provider failed, or the server refuses work for now
		// or is shutting down: worth retrying.
		return connect.CodeUnavailable
	case apierr.StatusClientClosed:
		return connect.CodeCanceled
	}
	return connect.CodeInternal
}

// toConnect is the one place an error becomes a gRPC status: the code from
// apierr's table, the client message, and an ErrorInfo detail whose reason
// is REST's machine code. It logs the chain once, with the request id: 4xx
// at debug, 5xx at error. Errors that already are *connect.Error (raised
// by the protocol layer or on purpose, such as Unimplemented) pass through.
func (s *Server) toConnect(ctx context.Context, procedure string, err error) error {
	if err == nil {
		return nil
	}
	rid := requestIDFrom(ctx)
	var ce *connect.Error
	if errors.As(err, &ce) {
		ce.Meta().Set(headerRequestID, rid)
		s.logError(ctx, rid, procedure, http.StatusBadRequest, err)
		return ce
	}
	c := apierr.Classify(err)
	s.logError(ctx, rid, procedure, c.Status, err)
	if c.Status == apierr.StatusClientClosed {
		// The caller is gone; the status is for the logs only.
		return connect.NewError(connect.CodeCanceled, context.Canceled)
	}
	return newError(c, rid)
}

// newError builds the gRPC error of a classified error. A client that
// should wait finds the Retry-After (in metadata and in the ErrorInfo),
// and the quota that refused it.
func newError(c apierr.Class, rid string) *connect.Error {
	e := connect.NewError(codeOf(c.Status), errors.New(c.Msg))
	meta := map[string]string{}
	if c.RetryAfter > 0 {
		ra := strconv.Itoa(c.RetryAfter)
		meta["retry_after_seconds"] = ra
		e.Meta().Set("Retry-After", ra)
	}
	if q := c.Quota; q != nil {
		meta["quota_scope"] = q.Scope
		meta["quota_id"] = q.ID
		meta["quota_limit"] = q.Limit
		meta["quota_max"] = strconv.FormatInt(q.Max, 10)
		meta["quota_used"] = strconv.FormatInt(q.Used, 10)
	}
	return withInfo(e, c.Code, rid, meta)
}

// withInfo adds the ErrorInfo detail (reason = REST's machine code,
// metadata request_id and meta) and the request id metadata to e.
func withInfo(e *connect.Error, code, rid string, meta map[string]string) *connect.Error {
	e.Meta().Set(headerRequestID, rid)
	if meta == nil {
		meta = map[string]string{}
	}
	meta["request_id"] = rid
	if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: code, Domain: errorDomain, Metadata: meta}); err == nil {
		e.AddDetail(d)
	}
	return e
}

func (s *Server) logError(ctx context.Context, rid, procedure string, status int, err error) {
	level := slog.LevelDebug
	if status >= 500 && status != apierr.StatusClientClosed {
		level = slog.LevelError
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String(logKeyRequestID, rid),
		slog.Int("status", status),
		slog.String("procedure", procedure),
		slog.String("error", err.Error()),
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", string(pe.stack)))
	}
	s.log.LogAttrs(ctx, level, "call failed", attrs...)
}

// logKeyRequestID is the log attribute of a call's request id.
const logKeyRequestID = "request_id"

// panicError is a handler's panic, turned into an error carrying its
// stack for the log.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// recovered turns a handler's panic into a 500, sent through the mapper.
func (s *Server) recovered(ctx context.Context, spec connect.Spec, _ http.Header, v any) error {
	return s.toConnect(ctx, spec.Procedure, &panicError{value: v, stack: debug.Stack()})
}

// errorInterceptor sends every error a handler returns through toConnect
// and names the request id in every response.
type errorInterceptor struct{ s *Server }

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err != nil {
			return nil, i.s.toConnect(ctx, req.Spec().Procedure, err)
		}
		res.Header().Set(headerRequestID, requestIDFrom(ctx))
		return res, nil
	}
}

func (i errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		conn.ResponseHeader().Set(headerRequestID, requestIDFrom(ctx))
		return i.s.toConnect(ctx, conn.Spec().Procedure, next(ctx, conn))
	}
}

var _ connect.Interceptor = errorInterceptor{}
