package sse

import (
	"bytes"
	"io"
	"net"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// discardConn is a net.Conn that takes every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
