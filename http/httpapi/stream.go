package httpapi

import (
	"bufio"
	"encoding/json"
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
	// The server's WriteTimeout is absolute; a stream lives on a rolling
	// deadline set before each flush instead.
	_ = ctx.SetWriteDeadline(time.Time{})
	setDeadline := ctx.Conn().SetWriteDeadline
	done := s.baseCtx.Done()
	log := s.log
	cfg := s.cfg.SSE
	ctx.SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer st.Close()
		defer func() {
			if r := recover(); r != nil {
				log.Error("stream writer panic", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		w := sse.NewWriter(bw, setDeadline, cfg)
		var last agent.EventKind
		write := func(w *sse.Writer, ev *agent.Event) error {
			last = ev.Kind
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
