package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Back-off of retryListener: it starts small so that a burst of refused
// accepts costs a client little, and stops at a second so that a server
// out of descriptors does not spin.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// retryListener keeps accepting through errors that pass: running out of
// file descriptors (EMFILE, ENFILE), of kernel buffers (ENOBUFS, ENOMEM)
// or a connection reset before it was accepted (ECONNABORTED). fasthttp
// treats every accept error but a timeout as the end of Serve, so without
// it a flood of idle connections past the descriptor limit would stop the
// server. It waits with a doubling back-off, as net/http's Server does,
// until an accept succeeds or the listener is closed. Meanwhile the
// kernel's backlog holds new connections, and Concurrency sheds them once
// descriptors are back.
type retryListener struct {
	net.Listener
	log *slog.Logger
	// closed is closed by Close, to end a back-off at once.
	closed    chan struct{}
	closeOnce sync.Once
	// lastLog is when a failed accept was last logged, in Unix
	// nanoseconds.
	lastLog atomic.Int64
}

func newRetryListener(ln net.Listener, log *slog.Logger) *retryListener {
	return &retryListener{Listener: ln, log: log, closed: make(chan struct{})}
}

// Accept returns the next connection, or the listener's error once it is
// closed or fails for good.
func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !temporaryAcceptError(err) {
			return c, err
		}
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		if now, last := time.Now().UnixNano(), l.lastLog.Load(); now-last > int64(time.Minute) && l.lastLog.CompareAndSwap(last, now) {
			// Once a minute at most: a flood must not also flood the log.
			l.log.LogAttrs(context.Background(), slog.LevelWarn, "accept failed; retrying",
				slog.String("error", err.Error()), slog.Duration("retry_in", delay))
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// Close closes the listener and ends a pending back-off.
func (l *retryListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// temporaryAcceptError reports whether an accept error passes by itself:
// resources that come back when connections close, or one connection
// that went away before it was taken.
func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
