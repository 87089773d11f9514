// Package apierr is the one table from an error to what an API answers:
// an HTTP status, a stable machine code and a client-safe message. The
// REST mapper (http/httpapi's errors.go) renders the answer as
// {error, code, request_id}; the gRPC mapper (http/grpcapi) turns the same
// status into a gRPC code with the machine code in an ErrorInfo detail.
// Both surfaces classify through Classify, so a new failure kind is one
// sentinel below http/ and one row here.
//
// The order is fixed: an explicit *Error, then the quota and rate-limit
// errors (which carry a Retry-After), then the sentinel table, then
// context.Canceled (StatusClientClosed: the caller is gone), then 500
// internal with no details.
//
// apierr holds no state and is safe for concurrent use. It imports
// actors/agent, persist, http/auth and http/apitype for the errors and
// wire types it maps, and must not import httpapi, grpcapi or anything
// else under actors/.
package apierr
