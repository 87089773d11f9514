// Package sse writes Server-Sent Events to a fasthttp body stream: framing
// through compat/eventstream, coalesced flushes, a `: keepalive` comment on
// an idle stream, and a rolling write deadline so that a client that stops
// reading is cut instead of stalling its writer forever.
//
// A Writer belongs to the one goroutine that runs the stream writer
// callback; it is not safe for concurrent use. The package never sees a
// fasthttp.RequestCtx: callers hand it the buffered writer and the
// connection's SetWriteDeadline. It imports compat/eventstream and the
// standard library only.
package sse
