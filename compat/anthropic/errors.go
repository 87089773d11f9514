package anthropic

import "net/http"

// Error types of the error envelope.
const (
	ErrorInvalidRequest  = "invalid_request_error"
	ErrorAuthentication  = "authentication_error"
	ErrorBilling         = "billing_error"
	ErrorPermission      = "permission_error"
	ErrorNotFound        = "not_found_error"
	ErrorConflict        = "conflict_error"
	ErrorRequestTooLarge = "request_too_large"
	ErrorRateLimit       = "rate_limit_error"
	ErrorAPI             = "api_error"
	ErrorTimeout         = "timeout_error"
	ErrorOverloaded      = "overloaded_error"
)

// StatusOverloaded is the non-standard HTTP status Anthropic answers when
// it is overloaded.
const StatusOverloaded = 529

// ErrorResponse is the error envelope:
// {"type":"error","error":{"type":…,"message":…},"request_id":…}.
type ErrorResponse struct {
	// Type is always "error".
	Type  string      `json:"type"`
	Error ErrorDetail `json:"error"`
	// RequestID is left out when empty.
	RequestID string `json:"request_id,omitempty"`
}

// ErrorDetail is the error of an envelope or of an `error` stream event.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// NewError returns the envelope for an HTTP status and a message meant for
// the client, with the error type ErrorType gives for status.
func NewError(status int, msg string) ErrorResponse {
	return ErrorResponse{Type: "error", Error: ErrorDetail{Type: ErrorType(status), Message: msg}}
}

// ErrorType maps an HTTP status to its error type: the documented ones
// exactly, any other 4xx to invalid_request_error and anything else to
// api_error.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return ErrorInvalidRequest
	case http.StatusUnauthorized:
		return ErrorAuthentication
	case http.StatusPaymentRequired:
		return ErrorBilling
	case http.StatusForbidden:
		return ErrorPermission
	case http.StatusNotFound:
		return ErrorNotFound
	case http.StatusConflict:
		return ErrorConflict
	case http.StatusRequestEntityTooLarge:
		return ErrorRequestTooLarge
	case http.StatusTooManyRequests:
		return ErrorRateLimit
	case http.StatusGatewayTimeout:
		return ErrorTimeout
	case StatusOverloaded:
		return ErrorOverloaded
	}
	if status >= 400 && status < 500 {
		return ErrorInvalidRequest
	}
	return ErrorAPI
}

// ErrorStatus is the inverse of ErrorType: the HTTP status an error type
// stands for, 500 for an unknown type. It gives a status to errors that
// arrive inside a stream, after the 200 went out.
func ErrorStatus(errType string) int {
	switch errType {
	case ErrorInvalidRequest:
		return http.StatusBadRequest
	case ErrorAuthentication:
		return http.StatusUnauthorized
	case ErrorBilling:
		return http.StatusPaymentRequired
	case ErrorPermission:
		return http.StatusForbidden
	case ErrorNotFound:
		return http.StatusNotFound
	case ErrorConflict:
		return http.StatusConflict
	case ErrorRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrorRateLimit:
		return http.StatusTooManyRequests
	case ErrorTimeout:
		return http.StatusGatewayTimeout
	case ErrorOverloaded:
		return StatusOverloaded
	}
	return http.StatusInternalServerError
}
