// Package httpapi is the HTTP server of the native API: the fasthttp
// server, the one route table (routes.go), the middleware, the handlers by
// API family, and the one error mapper (errors.go, which renders the
// status and code of http/apierr's table, shared with the gRPC surface).
//
// Request path: the fasthttp server reads the request (its body capped per
// route: HeaderReceived raises the cap only for routes declared with their
// own, such as uploads) → request ID → metrics → panic recovery → body cap
// → CORS (Debug only) → router → auth (routes declared bearer or admin;
// admin routes also need the server admin role, checked in adapt; an
// authenticated request then counts against the caller's
// requests_per_minute quota) → handler → audit (adapt records every
// request that is not a GET in the hash-chained audit log, see audit.go).
// A handler is a func(*fasthttp.RequestCtx) error that decodes its input,
// makes one call and encodes the answer, or returns an error; adapt turns
// it into a fasthttp.RequestHandler and hands errors to writeError, which
// picks the status and machine code, writes the error body and logs the
// chain once. Errors fasthttp hits before any handler runs (a body over the
// cap, headers over the read buffer) go through the server's ErrorHandler
// into the same body shape.
//
// Concurrency: a Server is safe for concurrent use once New returns; its
// fields are not changed after New. Handlers run on fasthttp's connection
// goroutines and must not keep the RequestCtx or its byte slices past
// their return. BaseContext is cancelled when Shutdown begins, so that
// long-lived responses (streams) end and let the drain finish.
//
// httpapi reaches the runtime only through actors/host and actors/agent,
// and the store through persist; it must not import actors/session, turn,
// provider, tool, jobs or permission.
package httpapi
