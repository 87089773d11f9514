package sse

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// drivenPair starts a driven stream of ch on one end of a loopback
// connection and returns a reader of the chunked body on the other end
// and the channel end reports on.
func drivenPair(t *testing.T, ctx context.Context, ch chan int, every time.Duration) (*bufio.Reader, *Driven[int], chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	server, err := ln.Accept()
	require.NoError(t, err)
	ended := make(chan error, 1)
	w := NewConnWriter(server, nil, Config{MaxCoalesce: 4})
	write := func(w *Writer, v int) (bool, error) {
		return v < 0, w.Event(uint64(v), "", []byte(strconv.Itoa(v)))
	}
	idle := Idle{Every: every, Write: func(w *Writer) error { return w.Comment("idle") }}
	d := Drive(ctx, w, ch, write, idle, func(w *Writer, err error) {
		_ = w.End()
		_ = server.Close()
		ended <- err
	})
	return bufio.NewReader(httputil.NewChunkedReader(client)), d, ended
}

// readEvent reads one SSE block.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

// TestDrivenStreamWritesEachWake sends values with a wake after each (more
// than one flush's worth at once too) and checks they all arrive in order,
// that the stream holds no goroutine between wakes, and that closing the
// channel ends it with nil.
func TestDrivenStreamWritesEachWake(t *testing.T) {
	defer goleak.VerifyNone(t)
	ch := make(chan int, 16)
	r, d, ended := drivenPair(t, context.Background(), ch, time.Hour)
	d.Wake()
	for i := 1; i <= 10; i++ {
		ch <- i
		d.Wake()
	}
	for i := 1; i <= 10; i++ {
		require.Equal(t, "id: "+strconv.Itoa(i)+"\ndata: "+strconv.Itoa(i)+"\n", readEvent(t, r))
	}
	// Idle between wakes: no goroutine of the stream's is left.
	require.Eventually(t, func() bool { return !d.running.Load() }, 5*time.Second, time.Millisecond)
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	require.NotContains(t, stacks, "sse.(*Driven[...]).run")
	close(ch)
	d.Wake()
	require.NoError(t, <-ended)
	_, err := r.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

// TestDrivenStreamEndsOnValue checks that write reporting the end ends the
// stream after flushing, and later wakes do nothing.
func TestDrivenStreamEndsOnValue(t *testing.T) {
	defer goleak.VerifyNone(t)
	ch := make(chan int, 4)
	r, d, ended := drivenPair(t, context.Background(), ch, time.Hour)
	ch <- 1
	ch <- -1
	ch <- 2
	d.Wake()
	require.NoError(t, <-ended)
	require.Equal(t, "id: 1\ndata: 1\n", readEvent(t, r))
	require.Equal(t, "id: 18446744073709551615\ndata: -1\n", readEvent(t, r))
	d.Wake()
	_, err := r.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

// TestDrivenStreamIdleAndShutdown checks the idle write after silence and
// the end with ErrShutdown when the context ends.
func TestDrivenStreamIdleAndShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan int, 4)
	r, d, ended := drivenPair(t, ctx, ch, 20*time.Millisecond)
	d.Wake()
	require.Equal(t, ": idle\n", readEvent(t, r))
	require.Equal(t, ": idle\n", readEvent(t, r))
	cancel()
	require.ErrorIs(t, <-ended, ErrShutdown)
}

// TestDrivenStreamClientGone checks that a write to a closed client ends
// the stream with the write's error.
func TestDrivenStreamClientGone(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe()
	_ = b.Close()
	ended := make(chan error, 1)
	w := NewConnWriter(a, nil, Config{})
	ch := make(chan int, 1)
	d := Drive(context.Background(), w, ch, func(w *Writer, v int) (bool, error) {
		return false, w.Event(uint64(v), "", nil)
	}, Idle{Every: time.Hour, Write: func(*Writer) error { return nil }}, func(_ *Writer, err error) {
		_ = a.Close()
		ended <- err
	})
	ch <- 1
	d.Wake()
	err := <-ended
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrShutdown))
}
