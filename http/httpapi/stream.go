package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/sse"
)

func parseCursor(ctx *fasthttp.RequestCtx) (uint64, error) {
	n, err := sse.ParseCursor(string(ctx.Request.Header.Peek("Last-Event-ID")), string(ctx.QueryArgs().Peek("after")))
	if err != nil {
		return 0, invalid("Last-Event-ID (or after) must be a non-negative integer")
	}
	return n, nil
}

// Messages of the `error` event that ends a stream the turn did not end.
const (
	msgStreamDropped  = "stream dropped: the client fell behind; re-attach with Last-Event-ID"
	msgShuttingDown   = "server shutting down"
	msgStreamInternal = "internal error"
)

// writeStream hands the response body to body. For an HTTP/1.1 client the
// stream takes over the connection (fasthttp's Hijack): the headers and
// every flush go straight to the socket as chunks from one goroutine, with
// no pipe, no connection buffers held and no connection worker parked for
// the stream's life; the connection closes when body returns. Other
// clients get fasthttp's body stream writer. The write deadline rolls with
// each flush instead of the server's absolute WriteTimeout. release runs
// once the body is done.
// body captures no ctx: fasthttp recycles it.
func (s *Server) writeStream(ctx *fasthttp.RequestCtx, what string, release func(), body func(w *sse.Writer)) {
	_ = ctx.SetWriteDeadline(time.Time{})
	log, cfg := s.log, s.cfg.SSE
	run := func(w *sse.Writer) {
		defer release()
		defer func() {
			if r := recover(); r != nil {
				log.Error(what+" panic", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		body(w)
		_ = w.End()
	}
	if !ctx.Request.Header.IsHTTP11() || ctx.IsHead() {
		setDeadline := ctx.Conn().SetWriteDeadline
		ctx.SetBodyStreamWriter(func(bw *bufio.Writer) { run(sse.NewWriter(bw, setDeadline, cfg)) })
		return
	}
	ctx.SetConnectionClose()
	ctx.Response.Header.SetContentLength(-1) // chunked
	ctx.HijackSetNoResponse(true)
	s.streams.Add(1)
	ctx.Hijack(func(c net.Conn) {
		defer s.streams.Done()
		// The server keeps hijacked connections open (KeepHijackedConns).
		defer func() { _ = c.Close() }()
		// fasthttp releases ctx only after this handler returns; the
		// head is copied before anything blocks.
		head := ctx.Response.Header.AppendBytes(nil)
		run(sse.NewConnWriter(c, head, cfg))
	})
}

// waitStreams waits until the hijacked streams have ended, or ctx.
func (s *Server) waitStreams(ctx context.Context) error {
	ended := make(chan struct{})
	go func() {
		s.streams.Wait()
		close(ended)
	}()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// driveStream writes a stream of a session's events: start writes what
// comes first (and reports whether the stream already ended), write frames
// one event (and reports the end), idle is the surface's keepalive, finish
// writes the stream's last words for how it ended (nil: the channel closed
// or write reported the end; sse.ErrShutdown; a write error). On a
// connection the stream takes over (writeStream), the stream has no
// goroutine of its own while it waits (sse.Drive): the session wakes it
// for each event, a runtime timer for the keepalive, the server's base
// context for shutdown. Other clients, and streams relayed from another
// node (not Notifiable), get writeStream and sse.PumpUntil.
func (s *Server) driveStream(ctx *fasthttp.RequestCtx, what string, st *host.Stream,
	start func(*sse.Writer) (bool, error), write func(*sse.Writer, *agent.Event) (bool, error),
	idle sse.Idle, finish func(*sse.Writer, error)) {
	if !ctx.Request.Header.IsHTTP11() || ctx.IsHead() || !st.Notifiable() {
		done := s.baseCtx.Done()
		s.writeStream(ctx, what, st.Close, func(w *sse.Writer) {
			if ended, err := start(w); err != nil || ended {
				return
			}
			finish(w, sse.PumpUntil(done, w, st.C, write, idle))
		})
		return
	}
	_ = ctx.SetWriteDeadline(time.Time{})
	ctx.SetConnectionClose()
	ctx.Response.Header.SetContentLength(-1) // chunked
	ctx.HijackSetNoResponse(true)
	s.streams.Add(1)
	log, cfg, base := s.log, s.cfg.SSE, s.baseCtx
	ctx.Hijack(func(c net.Conn) {
		// The server keeps hijacked connections open (KeepHijackedConns):
		// the stream closes c when it ends. fasthttp releases ctx once this
		// handler returns; the head is copied first.
		head := ctx.Response.Header.AppendBytes(nil)
		w := sse.NewConnWriter(c, head, cfg)
		closed := false
		end := func(w *sse.Writer, err error) {
			if closed {
				return
			}
			closed = true
			defer s.streams.Done()
			defer func() { _ = c.Close() }()
			defer st.Close()
			defer func() {
				if r := recover(); r != nil {
					log.Error(what+" panic", "panic", r, "stack", string(debug.Stack()))
				}
			}()
			var pe *sse.PanicError
			if errors.As(err, &pe) {
				log.Error(what+" panic", "panic", pe.Value, "stack", string(pe.Stack))
				return
			}
			finish(w, err)
			_ = w.End()
		}
		var ended bool
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = &sse.PanicError{Value: r, Stack: debug.Stack()}
				}
			}()
			ended, err = start(w)
		}()
		if err != nil || ended {
			end(w, err)
			return
		}
		d := sse.Drive(base, w, st.C, write, idle, end)
		st.Notify(d.Wake)
		d.Wake()
	})
}

// nativeStream frames a native stream's events (see API.md, Streaming).
// Only one goroutine at a time uses it.
type nativeStream struct {
	replay []agent.Event
	last   agent.EventKind
	// final is set by the session's last word to this stream alone (the
	// account was disabled, or it waited too long for a turn): an event
	// without a number, not one of the turn's.
	final bool
}

// start writes the `connected` comment, which sends the headers at once
// even when the turn is slow to produce its first event, and the replay.
func (n *nativeStream) start(w *sse.Writer) (bool, error) {
	if err := w.Comment("connected"); err != nil {
		return false, err
	}
	ended := false
	for i := range n.replay {
		e, err := n.write(w, &n.replay[i])
		if err != nil {
			return false, err
		}
		ended = ended || e
	}
	n.replay = nil
	return ended, w.Flush()
}

func (n *nativeStream) write(w *sse.Writer, ev *agent.Event) (bool, error) {
	n.last = ev.Kind
	if ev.ID == 0 {
		n.final = true
		return true, w.Unnumbered(ev.Kind.SSEName(), ev.Data)
	}
	return ev.Kind == agent.KindDone || ev.Kind == agent.KindError, w.Event(ev.ID, ev.Kind.SSEName(), ev.Data)
}

// finish ends a stream the turn did not end with an `error` event: at
// shutdown, or when the session dropped the subscriber that fell behind.
func (n *nativeStream) finish(w *sse.Writer, err error) {
	var msg string
	switch {
	case err == sse.ErrShutdown:
		msg = msgShuttingDown
	case err != nil, n.final, n.last == agent.KindDone, n.last == agent.KindError:
		return // the client is gone, or the stream ended as it should
	default:
		msg = msgStreamDropped
	}
	data, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	if w.Unnumbered("error", data) == nil {
		_ = w.Flush()
	}
}

// setNativeSSEHead sets the status and headers every native event stream
// (a turn's, a corpus's) answers with.
func setNativeSSEHead(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream")
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-cache")
	h.Set("X-SSE-Version", "1")
	h.Set("X-Accel-Buffering", "no")
}

// serveStream answers 200 text/event-stream and streams st (driveStream).
// The stream captures only st, the server's logger, settings and base
// context — never ctx, which fasthttp recycles. It ends when the turn ends
// (`done` or `error`), when the client is gone or too slow (a flush fails
// under the rolling write deadline), when the session dropped the
// subscriber, or at shutdown.
func (s *Server) serveStream(ctx *fasthttp.RequestCtx, st *host.Stream) {
	setNativeSSEHead(ctx)
	n := &nativeStream{replay: st.Replay}
	s.driveStream(ctx, "stream writer", st, n.start, n.write, sse.KeepaliveIdle(s.cfg.SSE), n.finish)
}
