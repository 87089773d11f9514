package sse

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConnWriterChunks writes a head, a few flushes and the end to a real
// loopback connection and reads them back with the standard library's
// HTTP/1.1 parser.
func TestConnWriterChunks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		head := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
		w := NewConnWriter(c, head, Config{})
		if err := w.Comment("connected"); err != nil {
			served <- err
			return
		}
		if err := w.Flush(); err != nil {
			served <- err
			return
		}
		// A flush with nothing written sends no empty chunk, which would
		// end the body.
		if err := w.Flush(); err != nil {
			served <- err
			return
		}
		for i := uint64(1); i <= 3; i++ {
			if err := w.Event(i, "text", []byte(`{"t":"x"}`)); err != nil {
				served <- err
				return
			}
		}
		if err := w.Flush(); err != nil {
			served <- err
			return
		}
		served <- w.End()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, <-served)
	require.Equal(t, ": connected\n\n"+
		"id: 1\nevent: text\ndata: {\"t\":\"x\"}\n\n"+
		"id: 2\nevent: text\ndata: {\"t\":\"x\"}\n\n"+
		"id: 3\nevent: text\ndata: {\"t\":\"x\"}\n\n", string(body))
}

// TestChunkedFraming checks the chunk framing itself, one chunk per flush.
func TestChunkedFraming(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		defer a.Close()
		w := NewConnWriter(a, nil, Config{})
		_ = w.Comment("x")
		_ = w.Flush()
		_ = w.End()
	}()
	raw, err := io.ReadAll(b)
	require.NoError(t, err)
	require.Equal(t, "5\r\n: x\n\n\r\n0\r\n\r\n", string(raw))
	body, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytesReader(raw))))
	require.NoError(t, err)
	require.Equal(t, ": x\n\n", string(body))
}

// BenchmarkConnWriterEvent measures one event framed and flushed as a
// chunk to a discarding connection.
func BenchmarkConnWriterEvent(b *testing.B) {
	w := NewConnWriter(discardConn{}, nil, Config{})
	data := []byte(`{"type":"text","text":"hello"}`)
	b.ReportAllocs()
	for i := range b.N {
		_ = w.Event(uint64(i), "text", data)
		_ = w.Flush()
	}
}
