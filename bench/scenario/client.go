package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seshat-host/seshat/http/apitype"
)

// Client opens load connections to one server. It speaks just enough
// HTTP/1.1 (keep-alive, Content-Length and chunked bodies) to issue
// prebuilt requests with a few microseconds of client CPU each, so that
// on a shared or pinned core the bench measures the server and not
// itself. Control calls (setup, metrics) use net/http instead.
//
// A Client is safe for concurrent use; a Conn belongs to one goroutine.
type Client struct {
	addr    string
	dialers []*net.Dialer
	next    atomic.Uint64
}

// dialTimeout bounds one TCP connect.
const dialTimeout = 10 * time.Second

// NewClient returns a client of the server at addr (host:port). For a
// server on 127.0.0.1 with sources > 0, connections rotate over the
// source addresses 127.0.0.2 … 127.0.0.(sources+1), each with its own
// ephemeral port range, so that tens of thousands of connections stay
// under the per-address port limit.
func NewClient(addr string, sources int) (*Client, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	c := &Client{addr: addr}
	if sources <= 0 || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		c.dialers = []*net.Dialer{{Timeout: dialTimeout}}
		return c, nil
	}
	if sources > 250 {
		sources = 250
	}
	for i := range sources {
		src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
		c.dialers = append(c.dialers, &net.Dialer{
			Timeout:   dialTimeout,
			LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)),
		})
	}
	return c, nil
}

// Dial opens a connection from the next source address.
func (c *Client) Dial(ctx context.Context) (*Conn, error) {
	d := c.dialers[int(c.next.Add(1)%uint64(len(c.dialers)))]
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

// Request is an HTTP request to prebuild with Build.
type Request struct {
	Method string
	Path   string
	// Header holds extra header lines as name, value pairs.
	Header [][2]string
	// Body, if not nil, is sent as JSON.
	Body []byte
}

// Build returns the wire form of r for this client's server.
func (c *Client) Build(r Request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: seshat-bench\r\n", r.Method, r.Path, c.addr)
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.Body != nil || r.Method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// JSON marshals v for a request body; the bench's own types always
// marshal.
func JSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Conn is one keep-alive connection. It is not safe for concurrent use.
type Conn struct {
	nc     net.Conn
	br     *bufio.Reader
	body   []byte
	closed bool
}

// Response is an answer read by Conn.Do. Body is valid until the next
// call on the Conn.
type Response struct {
	Status int
	Body   []byte
	// Close is set when the server will close the connection.
	Close bool
}

// Do writes a prebuilt request and reads the whole response. After an
// error or a response with Close set, the Conn is closed.
func (c *Conn) Do(req []byte, deadline time.Time) (Response, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return Response{}, c.fail(err)
	}
	if _, err := c.nc.Write(req); err != nil {
		return Response{}, c.fail(err)
	}
	resp, err := c.readResponse()
	if err != nil {
		return Response{}, c.fail(err)
	}
	if resp.Close {
		_ = c.Close()
	}
	return resp, nil
}

// Write writes raw bytes, for streams whose response is read with
// ReadStream.
func (c *Conn) Write(req []byte, deadline time.Time) error {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return c.fail(err)
	}
	if _, err := c.nc.Write(req); err != nil {
		return c.fail(err)
	}
	return nil
}

// ReadStream waits for the first byte of the response to a request
// written with Write, then reads its head. It returns the response, whose
// Body reads the rest (de-chunked) from the connection, and when the first
// byte arrived.
func (c *Conn) ReadStream() (*http.Response, time.Time, error) {
	if _, err := c.br.Peek(1); err != nil {
		return nil, time.Time{}, c.fail(err)
	}
	first := time.Now()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, first, c.fail(err)
	}
	return resp, first, nil
}

// SetDeadline sets the connection's read and write deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Closed reports whether the connection is closed.
func (c *Conn) Closed() bool { return c.closed }

// Close closes the connection; later calls do nothing.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.nc.Close()
}

func (c *Conn) fail(err error) error {
	_ = c.Close()
	return err
}

// errMalformed marks a response the client cannot parse.
var errMalformed = errors.New("malformed response")

// readResponse parses a status line, the headers it needs and the body.
func (c *Conn) readResponse() (Response, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return Response{}, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return Response{}, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return Response{}, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	resp := Response{Status: status, Close: line[7] == '0'}
	length, chunked := -1, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return Response{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return Response{}, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return Response{}, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				resp.Close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				resp.Close = false
			}
		}
	}
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status/100 == 1:
		c.body = c.body[:0]
	case chunked:
		b, err := io.ReadAll(httputil.NewChunkedReader(c.br))
		if err != nil {
			return Response{}, err
		}
		// The chunked reader stops after the last chunk's size line; the
		// trailer section ends with an empty line.
		for {
			line, err := c.br.ReadSlice('\n')
			if err != nil {
				return Response{}, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
		c.body = append(c.body[:0], b...)
	case length >= 0:
		if cap(c.body) < length {
			c.body = make([]byte, length)
		}
		c.body = c.body[:length]
		if _, err := io.ReadFull(c.br, c.body); err != nil {
			return Response{}, err
		}
	default:
		b, err := io.ReadAll(c.br)
		if err != nil {
			return Response{}, err
		}
		c.body = append(c.body[:0], b...)
		resp.Close = true
	}
	resp.Body = c.body
	return resp, nil
}

// StatusError is a response with an unexpected status.
type StatusError struct {
	Status int
	// Code is the machine code of the error body (native `code`, or the
	// Anthropic envelope's error type), when it has one.
	Code string
	// Msg is the error body's message, if any.
	Msg string
}

func (e *StatusError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// statusError reads the error body of an unexpected status: the native
// {error, code} or the Anthropic {type: error, error: {type, message}}.
func statusError(status int, body []byte) *StatusError {
	e := &StatusError{Status: status}
	var native apitype.Error
	if json.Unmarshal(body, &native) == nil && native.Code != "" {
		e.Code, e.Msg = native.Code, native.Error
		return e
	}
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Type != "" {
		e.Code, e.Msg = env.Error.Type, env.Error.Message
	}
	return e
}

// errBadAnswer marks a 200 whose body is not the answer expected.
var errBadAnswer = errors.New("unexpected answer")

// Classify returns an error's class for the report: a few stable words
// that say what went wrong without the details that make every error
// unique.
func Classify(err error) string {
	var se *StatusError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		if se.Code != "" {
			return fmt.Sprintf("http_%d_%s", se.Status, se.Code)
		}
		return fmt.Sprintf("http_%d", se.Status)
	case errors.Is(err, errBadAnswer):
		return "bad_answer"
	case errors.Is(err, errMalformed):
		return "malformed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "conn_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no_ephemeral_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "fd_limit"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "io"
}
