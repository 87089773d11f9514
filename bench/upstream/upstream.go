// Package upstream is the load bench's stand-in for the Anthropic
// Messages API: a fasthttp server that answers POST /v1/messages in the
// real wire format, streamed (server-sent events) or not, from answers
// built once at start-up, so that it costs as little as possible per call.
//
// The gateway scenario measures calls made to it directly and through the
// host (whose Anthropic provider points at it), and reads GET /stats to
// count the TCP connections each side opened.
//
// It imports only the standard library and fasthttp.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config shapes the answers.
type Config struct {
	// Deltas is the number of text deltas of a streamed answer. If zero,
	// 32.
	Deltas int
}

// Stats is the body of GET /stats.
type Stats struct {
	// Connections counts the TCP connections accepted since start.
	Connections int64 `json:"connections"`
	// Requests counts the /v1/messages calls answered.
	Requests int64 `json:"requests"`
}

// Server is the mock upstream.
type Server struct {
	srv         *fasthttp.Server
	plain       []byte
	stream      [][]byte
	conns       atomic.Int64
	requests    atomic.Int64
	deltasTotal int
}

// New returns a server for cfg; Serve starts it.
func New(cfg Config) *Server {
	if cfg.Deltas <= 0 {
		cfg.Deltas = 32
	}
	s := &Server{deltasTotal: cfg.Deltas}
	words := make([]string, cfg.Deltas)
	for i := range words {
		words[i] = fmt.Sprintf("tok%d ", i)
	}
	text := strings.Join(words, "")
	s.plain = mustJSON(map[string]any{
		"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
		"content":     []any{map[string]any{"type": "text", "text": text}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 10, "output_tokens": cfg.Deltas},
	})
	event := func(name string, v any) []byte {
		return []byte("event: " + name + "\ndata: " + string(mustJSON(v)) + "\n\n")
	}
	s.stream = append(s.stream, event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench", "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 10, "output_tokens": 1},
	}}))
	s.stream = append(s.stream, event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""}}))
	for _, w := range words {
		s.stream = append(s.stream, event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": w}}))
	}
	s.stream = append(s.stream,
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}),
		event("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": cfg.Deltas}}),
		event("message_stop", map[string]any{"type": "message_stop"}),
	)
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "upstream",
		NoDefaultServerHeader: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		CloseOnShutdown:       true,
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				s.conns.Add(1)
			}
		},
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var streamTrue = []byte(`"stream":true`)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/v1/messages":
	case "/health":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		return
	case "/stats":
		ctx.SetContentType("application/json")
		ctx.SetBody(mustJSON(s.Stats()))
		return
	default:
		ctx.Error(`{"type":"error","error":{"type":"not_found_error","message":"no such endpoint"}}`, fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsPost() {
		ctx.Error(`{"type":"error","error":{"type":"invalid_request_error","message":"POST only"}}`, fasthttp.StatusMethodNotAllowed)
		return
	}
	s.requests.Add(1)
	body := ctx.PostBody()
	// A compact test is enough: both the SDKs and the host write the
	// field without spaces.
	if !bytes.Contains(body, streamTrue) {
		ctx.SetContentType("application/json")
		ctx.SetBody(s.plain)
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	events := s.stream
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for _, ev := range events {
			if _, err := w.Write(ev); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	})
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.conns.Load(), Requests: s.requests.Load()}
}

// Deltas is the number of text deltas of a streamed answer.
func (s *Server) Deltas() int { return s.deltasTotal }

// Serve accepts connections on ln until Shutdown, and returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown closes the listener and waits, until ctx is done, for open
// connections to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.ShutdownWithContext(ctx)
}
