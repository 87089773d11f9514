// Package sse writes Server-Sent Events to a fasthttp body stream or to a
// connection a stream took over: framing through compat/eventstream,
// coalesced flushes, a `: keepalive` comment on an idle stream, and a
// rolling write deadline so that a client that stops reading is cut
// instead of stalling its writer forever. PumpUntil is the loop of a
// stream with a goroutine of its own; Drive runs the same loop from wakes,
// so that a waiting stream holds no goroutine.
//
// A Writer belongs to one goroutine at a time (the pump's, or the driven
// stream's current writer); it is not safe for concurrent use. The package
// never sees a fasthttp.RequestCtx: callers hand it the buffered writer
// and the connection's SetWriteDeadline, or the connection itself. It imports compat/eventstream and the
// standard library only.
package sse
