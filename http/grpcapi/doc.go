// Package grpcapi serves the gRPC API (protobuf package seshat.v1, in
// proto/) with Connect: one net/http handler answers gRPC, gRPC-Web and
// Connect (binary and JSON, over HTTP/1.1 and HTTP/2 without TLS), on a
// listener of its own, since the REST server's fasthttp has no HTTP/2.
// Server reflection (grpc.reflection.v1 and v1alpha) and the gRPC health
// service are served beside the API and need no credential.
//
// The handlers are wire translation only: each RPC decodes its message,
// makes the one call the REST handler of the same endpoint makes, through
// a small interface declared beside it (Sessions, Turns, Permissions,
// Jobs, Files; *host.Host and *files.Service satisfy them), and encodes
// the answer. One file per service; a service whose family backend is not
// wired (a nil field of Deps, or a family not built yet) answers
// Unimplemented, so wiring it is one interface and one field.
//
// Request path: Connect's request gate authenticates the call from its
// `authorization: Bearer …` metadata with the REST server's principal
// resolver (http/auth), counts it against the caller's request quota, and
// gives it a request id; the handler runs, and the audit hook records a
// call that changes something in the audit log (audit.go); the error
// interceptor maps a returned error through http/apierr's table (the
// REST mapper's) to a gRPC code, with the REST machine code in an
// ErrorInfo detail
// (reason = code, domain "seshat", metadata request_id and, where they
// apply, retry_after_seconds and the quota's fields), and logs the chain
// once: 4xx at debug, 5xx at error. Messages are capped at
// Config.MaxMessageBytes, the REST body cap; the JSON codec uses the proto
// field names (snake_case, as REST) and refuses unknown fields.
//
// Streams (QueryStream, Attach) send the turn's numbered events as SSE
// does. A stream ends with the turn's done or error event; when the
// client cancels (only its subscription ends: the turn goes on, Attach
// resumes after the last id seen); when the session dropped it for falling
// behind (Aborted, stream_dropped); when one write waits longer than
// Config.StreamWriteTimeout for a client that does not read; or at
// Shutdown (Unavailable, shutting_down). Idle connections are pinged every
// Config.Keepalive, so a vanished client is noticed.
//
// Concurrency: a Server is safe for concurrent use once New returns; its
// fields do not change after New. Shutdown cancels the base context that
// streams and waiting queries watch, then drains the listener.
//
// grpcapi reaches the runtime only through the interfaces it declares
// (actors/host, actors/agent and the family packages' types); it must not
// import actors/session, turn, provider, tool, jobs or permission,
// protoactor-go, or http/httpapi.
package grpcapi
