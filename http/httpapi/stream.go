package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
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

// serveStream answers 200 text/event-stream and hands st to a stream
// writer. The writer captures only st, the connection's deadline setter and
// the server's base context's done channel — never ctx, which fasthttp
// recycles. It ends when the turn ends (`done` or `error`), when the client
// is gone or too slow (a flush fails under the rolling write deadline), when
// the session dropped the subscriber, or at shutdown.
func (s *Server) serveStream(ctx *fasthttp.RequestCtx, st *host.Stream) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream")
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-cache")
	h.Set("X-SSE-Version", "1")
	h.Set("X-Accel-Buffering", "no")
	done := s.baseCtx.Done()
	s.writeStream(ctx, "stream writer", st.Close, func(w *sse.Writer) {
		var last agent.EventKind
		final := false
		write := func(w *sse.Writer, ev *agent.Event) error {
			last = ev.Kind
			if ev.ID == 0 {
				// The session's last word to this stream alone (the
				// account was disabled, or it waited too long for a
				// turn): not one of the turn's numbered events.
				final = true
				return w.Unnumbered(ev.Kind.SSEName(), ev.Data)
			}
			return w.Event(ev.ID, ev.Kind.SSEName(), ev.Data)
		}
		// The first flush sends the headers at once, even when the turn is
		// slow to produce its first event.
		if err := w.Comment("connected"); err != nil {
			return
		}
		for i := range st.Replay {
			if err := write(w, &st.Replay[i]); err != nil {
				return
			}
		}
		if err := w.Flush(); err != nil {
			return
		}
		if last == agent.KindDone || last == agent.KindError {
			return
		}
		err := sse.Pump(done, w, st.C, write)
		var msg string
		switch {
		case err == sse.ErrShutdown:
			msg = msgShuttingDown
		case err != nil:
			return // the client is gone
		case final:
			return
		case last != agent.KindDone && last != agent.KindError:
			msg = msgStreamDropped
		default:
			return
		}
		data, _ := json.Marshal(struct {
			Error string `json:"error"`
		}{msg})
		if w.Unnumbered("error", data) == nil {
			_ = w.Flush()
		}
	})
}
