package apierr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

// Machine codes of error responses. They are part of the API: clients
// branch on them, so they never change once released.
const (
	CodeInvalidJSON          = "invalid_json"           // 400: the body is not valid JSON
	CodeInvalidRequest       = "invalid_request"        // 400: a field is missing or invalid
	CodeInvalidField         = "invalid_field"          // 400: the body has a field the endpoint does not take; the message names it
	CodeInvalidCursor        = "invalid_cursor"         // 400: the pagination cursor is not one a listing returned
	CodeBadRequest           = "bad_request"            // 400: the request could not be parsed
	CodeUnauthorized         = "unauthorized"           // 401: missing or bad credentials
	CodeForbidden            = "forbidden"              // 403: authenticated but not allowed
	CodeSignupClosed         = "signup_closed"          // 403: the sign-up policy does not let this email register
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
	CodeTooManyJobs          = "too_many_jobs"          // 429
	CodeTooManyStreams       = "too_many_streams"       // 429
	CodeQuotaExceeded        = "quota_exceeded"         // 429: a quota limit refused the request; see quota and Retry-After
	CodeStreamDropped        = "stream_dropped"         // a stream fell behind its turn and was cut; re-attach after its last event id
	CodeInternal             = "internal"               // 500: nothing more is said
	CodeTurnFailed           = "turn_failed"            // 502: the turn failed after it started; the message says why
	CodeOverloaded           = "overloaded"             // 503
	CodeShuttingDown         = "shutting_down"          // 503
	CodeNotReady             = "not_ready"              // 503: GET /ready while the server cannot take work
	CodeWebSearchDisabled    = "web_search_disabled"    // 409: web search is asked for while no provider is set
	CodeSecretRequired       = "secret_required"        // 400: a credential's destination changes without the credential again
	CodeUpstreamError        = "upstream_error"         // 502: an outside service (MCP server, search provider, page) failed; its body is never echoed
)

// StatusClientClosed is the status of a request whose caller went away
// (its context was cancelled), as nginx logs it. It is logged, never sent.
const StatusClientClosed = 499

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

// Invalid is a 400 invalid_request with msg for the client.
func Invalid(msg string) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Msg: msg}
}

// Class is what an error is to a client.
type Class struct {
	// Status is the HTTP status; StatusClientClosed when the caller is
	// gone and nothing is to be answered.
	Status int
	// Code is the machine code; empty for StatusClientClosed.
	Code string
	// Msg is the client-safe message.
	Msg string
	// RetryAfter, if positive, is how many seconds the client should wait.
	RetryAfter int
	// Quota names the limit that refused a quota_exceeded request.
	Quota *apitype.QuotaExceeded
}

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
	{auth.ErrInvalidLogin, http.StatusUnauthorized, CodeUnauthorized, "invalid email or password"},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid credentials"},
	{auth.ErrSignupClosed, http.StatusForbidden, CodeSignupClosed, ""},
	{auth.ErrInvitationRequired, http.StatusForbidden, CodeSignupClosed, ""},
	{agent.ErrNotFound, http.StatusNotFound, CodeNotFound, "not found"},
	{agent.ErrWebSearchDisabled, http.StatusConflict, CodeWebSearchDisabled, "web search is disabled: an admin sets a provider with PUT /api/v1/web/search/settings"},
	{agent.ErrSecretRequired, http.StatusBadRequest, CodeSecretRequired, ""},
	{persist.ErrNotFound, http.StatusNotFound, CodeNotFound, "not found"},
	{persist.ErrBadCursor, http.StatusBadRequest, CodeInvalidCursor, "the cursor is not one this listing returned; list again without it"},
	{agent.ErrInvalid, http.StatusBadRequest, CodeInvalidRequest, ""},
	{persist.ErrInvalid, http.StatusBadRequest, CodeInvalidRequest, ""},
	{agent.ErrForbidden, http.StatusForbidden, CodeForbidden, ""},
	{agent.ErrBusy, http.StatusConflict, CodeSessionBusy, "the session is already running a turn"},
	{agent.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{persist.ErrConflict, http.StatusConflict, CodeConflict, "conflict"},
	{agent.ErrTooManyTurns, http.StatusTooManyRequests, CodeTooManyTurns, "too many running turns"},
	{agent.ErrTooManyStreams, http.StatusTooManyRequests, CodeTooManyStreams, "too many open streams"},
	{agent.ErrTooManyJobs, http.StatusTooManyRequests, CodeTooManyJobs, "too many scheduled jobs"},
	{persist.ErrTooLarge, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "file too large"},
	{agent.ErrOverloaded, http.StatusServiceUnavailable, CodeOverloaded, "the server is overloaded; retry later"},
	{agent.ErrTurnFailed, http.StatusBadGateway, CodeTurnFailed, ""},
	{agent.ErrClosed, http.StatusServiceUnavailable, CodeShuttingDown, "the server is shutting down"},
	{persist.ErrClosed, http.StatusServiceUnavailable, CodeShuttingDown, "the server is shutting down"},
}

// Classify returns what err is to a client.
func Classify(err error) Class {
	var he *Error
	if errors.As(err, &he) {
		return Class{Status: he.Status, Code: he.Code, Msg: he.Msg}
	}
	if q := quotaOf(err); q != nil {
		return Class{Status: http.StatusTooManyRequests, Code: CodeQuotaExceeded,
			Msg:        fmt.Sprintf("quota exceeded: %s of %s %s is %d (used %d)", q.Limit, q.Scope, q.ID, q.Max, q.Used),
			RetryAfter: q.RetryAfterSeconds, Quota: q}
	}
	var ue *agent.UpstreamError
	if errors.As(err, &ue) {
		if ue.Throttled() {
			return Class{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Msg: ue.Error(), RetryAfter: max(1, retrySeconds(ue.RetryAfter))}
		}
		return Class{Status: http.StatusBadGateway, Code: CodeUpstreamError, Msg: ue.Error()}
	}
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		return Class{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
			Msg: "too many " + rl.What + "; retry later", RetryAfter: max(1, int(math.Ceil(rl.RetryAfter.Seconds())))}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			msg := s.msg
			if msg == "" {
				msg = err.Error()
			}
			return Class{Status: s.status, Code: s.code, Msg: msg}
		}
	}
	if errors.Is(err, context.Canceled) {
		return Class{Status: StatusClientClosed}
	}
	return Class{Status: http.StatusInternalServerError, Code: CodeInternal, Msg: "internal error"}
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
