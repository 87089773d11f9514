package sse

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/seshat-host/seshat/compat/eventstream"
)

// Config tunes a stream.
type Config struct {
	// Keepalive is how long a stream may stay silent before a
	// `: keepalive` comment is written. If zero, 15s.
	Keepalive time.Duration
	// WriteTimeout bounds each flush: a client that does not take the
	// bytes within it is cut. If zero, 30s.
	WriteTimeout time.Duration
	// MaxCoalesce caps how many queued events are written before one
	// flush. If zero, 64.
	MaxCoalesce int
}

func (c Config) withDefaults() Config {
	if c.Keepalive <= 0 {
		c.Keepalive = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxCoalesce <= 0 {
		c.MaxCoalesce = 64
	}
	return c
}

// ErrShutdown is returned by Pump when the server's base context ends.
var ErrShutdown = errors.New("sse: server shutting down")

// sink is where a Writer's frames go: a bufio.Writer, or a chunked
// connection writer.
type sink interface {
	Write(p []byte) (int, error)
	Flush() error
}

// Writer frames events onto one stream.
type Writer struct {
	bw          sink
	setDeadline func(time.Time) error
	cfg         Config
	buf         []byte
}

// NewWriter returns a Writer on bw. setDeadline, if not nil, sets the
// connection's write deadline; it is called before every flush.
func NewWriter(bw *bufio.Writer, setDeadline func(time.Time) error, cfg Config) *Writer {
	return &Writer{bw: bw, setDeadline: setDeadline, cfg: cfg.withDefaults()}
}

// NewConnWriter returns a Writer that owns conn: the response head is sent
// with the first flush, and each flush is one HTTP/1.1 chunk written to
// conn in one call. Frames wait in a pooled buffer that goes back to the
// pool after every flush, so a silent stream holds no buffer. End writes
// the last chunk.
func NewConnWriter(conn net.Conn, head []byte, cfg Config) *Writer {
	return &Writer{bw: &chunked{conn: conn, head: head}, setDeadline: conn.SetWriteDeadline, cfg: cfg.withDefaults()}
}

// End writes the end of the body on a Writer from NewConnWriter (a
// no-op on others). The Writer must not be used after it.
func (w *Writer) End() error {
	c, ok := w.bw.(*chunked)
	if !ok {
		return nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if w.setDeadline != nil {
		if err := w.setDeadline(time.Now().Add(w.cfg.WriteTimeout)); err != nil {
			return err
		}
	}
	_, err := c.conn.Write([]byte("0\r\n\r\n"))
	return err
}

// chunkReserve is the room kept before a chunk's data for its size line:
// up to 16 hex digits and CRLF.
const chunkReserve = 18

// maxPooledChunk caps the buffers put back in the pool, so that one large
// burst does not keep a large buffer alive.
const maxPooledChunk = 64 << 10

var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2<<10)
	return &b
}}

// chunked frames what is written into HTTP/1.1 chunks.
type chunked struct {
	conn net.Conn
	head []byte // the response head, written before the first chunk
	buf  *[]byte
}

func (c *chunked) Write(p []byte) (int, error) {
	if c.buf == nil {
		c.buf = chunkPool.Get().(*[]byte)
		*c.buf = append((*c.buf)[:0], make([]byte, chunkReserve)...)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

func (c *chunked) Flush() error {
	var out []byte
	if c.buf != nil && len(*c.buf) > chunkReserve {
		// An empty chunk would end the body.
		b := *c.buf
		n := len(b) - chunkReserve
		var size [chunkReserve]byte
		line := append(strconv.AppendUint(size[:0], uint64(n), 16), '\r', '\n')
		start := chunkReserve - len(line)
		copy(b[start:], line)
		b = append(b, '\r', '\n')
		*c.buf = b
		out = b[start:]
	}
	if c.head != nil {
		out = append(c.head, out...)
		c.head = nil
	}
	var err error
	if len(out) > 0 {
		_, err = c.conn.Write(out)
	}
	if c.buf != nil {
		if cap(*c.buf) <= maxPooledChunk {
			chunkPool.Put(c.buf)
		}
		c.buf = nil
	}
	return err
}

// Event buffers one numbered event. name is "" for the default event.
func (w *Writer) Event(id uint64, name string, data []byte) error {
	w.buf = eventstream.AppendNumbered(w.buf[:0], id, name, data)
	_, err := w.bw.Write(w.buf)
	return err
}

// Unnumbered buffers one event without an id line.
func (w *Writer) Unnumbered(name string, data []byte) error {
	w.buf = eventstream.AppendEvent(w.buf[:0], "", name, data)
	_, err := w.bw.Write(w.buf)
	return err
}

// Comment buffers a comment line.
func (w *Writer) Comment(text string) error {
	w.buf = eventstream.AppendComment(w.buf[:0], text)
	_, err := w.bw.Write(w.buf)
	return err
}

// Flush sends what is buffered under a fresh write deadline. An error
// means the client is gone or too slow.
func (w *Writer) Flush() error {
	if w.setDeadline != nil {
		if err := w.setDeadline(time.Now().Add(w.cfg.WriteTimeout)); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// Pump writes the values of ch to w until ch is closed (it returns nil),
// done is closed (ErrShutdown), or a write fails (that error). write frames
// one value; Pump coalesces the values already queued into one flush and
// writes `: keepalive` after Keepalive of silence.
func Pump[T any](done <-chan struct{}, w *Writer, ch <-chan T, write func(*Writer, T) error) error {
	return PumpUntil(done, w, ch, func(w *Writer, v T) (bool, error) { return false, write(w, v) }, KeepaliveIdle(w.cfg))
}

// KeepaliveIdle is the native streams' idle write: a `: keepalive`
// comment after cfg's Keepalive of silence.
func KeepaliveIdle(cfg Config) Idle {
	return Idle{Every: cfg.withDefaults().Keepalive, Write: func(w *Writer) error { return w.Comment("keepalive") }}
}

// Idle is what a stream writes after Every of silence: a surface's own
// keepalive (a comment on the native streams, an `event: ping` on the
// Anthropic ones).
type Idle struct {
	Every time.Duration
	Write func(*Writer) error
}

// PumpUntil is Pump with the end of the stream in the values (write
// reports it: the pump flushes and returns nil) and the surface's idle
// writer. It is the one loop of every stream: coalescing what is queued
// into one flush (at most MaxCoalesce values), the idle writes, and the
// end at shutdown (ErrShutdown).
func PumpUntil[T any](done <-chan struct{}, w *Writer, ch <-chan T, write func(*Writer, T) (end bool, err error), idle Idle) error {
	timer := time.NewTimer(idle.Every)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return nil
			}
			end, err := write(w, v)
			if err != nil {
				return err
			}
			closed := false
		drain:
			for i := 1; i < w.cfg.MaxCoalesce && !end; i++ {
				select {
				case v, ok := <-ch:
					if !ok {
						closed = true
						break drain
					}
					if end, err = write(w, v); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if closed || end {
				return nil
			}
		case <-timer.C:
			if err := idle.Write(w); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
		case <-done:
			return ErrShutdown
		}
		timer.Reset(idle.Every)
	}
}

// ErrBadCursor is returned by ParseCursor for a value that is not a
// non-negative integer.
var ErrBadCursor = errors.New("sse: Last-Event-ID must be a non-negative integer")

// ParseCursor returns the event id to resume after: the Last-Event-ID
// header if present, else the `after` query value, else 0.
func ParseCursor(header, query string) (uint64, error) {
	v := header
	if v == "" {
		v = query
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, ErrBadCursor
	}
	return n, nil
}
