package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/anthropic"
)

// AnthropicConfig configures the Anthropic Messages API backend.
type AnthropicConfig struct {
	// BaseURL is the API's root, without /v1 (a trailing /v1 is dropped).
	// If empty, https://api.anthropic.com.
	BaseURL string
	// APIKey is sent as x-api-key. If empty, no key is sent (for gateways
	// that authenticate otherwise).
	APIKey string
	// Version is sent as anthropic-version. If empty, "2023-06-01".
	Version string
	// HTTPClient makes the calls. If nil, a client with dial, TLS and
	// response-header timeouts and no overall timeout: a call's ctx bounds
	// it.
	HTTPClient *http.Client
	// MaxRetries is how many times a call is retried after a connection
	// error, 408, 409, 429 or 5xx (529 included) before any of the answer
	// is read. If zero, 3; a negative value disables retries.
	MaxRetries int
	// DefaultMaxTokens caps the output of calls that set no MaxTokens of
	// their own (the API requires a cap). If zero, 4096.
	DefaultMaxTokens int
	// Logger receives retry diagnostics at debug level. If nil, logs are
	// discarded.
	Logger *slog.Logger
}

// Defaults of AnthropicConfig.
const (
	anthropicDefaultBaseURL   = "https://api.anthropic.com"
	anthropicDefaultVersion   = "2023-06-01"
	anthropicDefaultMaxTokens = 4096
)

// anthropicProvider streams from the Messages API. It keeps no per-call
// state, so one value serves every session at once.
type anthropicProvider struct {
	url              string
	apiKey           string
	version          string
	defaultMaxTokens int
	client           *http.Client
	retry            retrier
}

// NewAnthropic returns a Provider for the Anthropic Messages API. Every
// call streams (stream: true): text and thinking deltas are emitted as they
// arrive, a tool use once its block is complete (at content_block_stop,
// its input assembled from the input_json_delta pieces), and the returned
// response holds the blocks in order, thinking with its signature, so that
// it can be replayed to the API. Transient failures before the answer
// starts are retried (see AnthropicConfig.MaxRetries); error answers and
// error events become *UpstreamError. Cancelling ctx closes the connection
// and returns ctx.Err() with what had arrived so far.
func NewAnthropic(cfg AnthropicConfig) Provider {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = anthropicDefaultBaseURL
	}
	base = strings.TrimSuffix(base, "/v1")
	p := &anthropicProvider{
		url:              base + "/v1/messages",
		apiKey:           cfg.APIKey,
		version:          cfg.Version,
		defaultMaxTokens: cfg.DefaultMaxTokens,
		client:           cfg.HTTPClient,
	}
	if p.version == "" {
		p.version = anthropicDefaultVersion
	}
	if p.defaultMaxTokens <= 0 {
		p.defaultMaxTokens = anthropicDefaultMaxTokens
	}
	if p.client == nil {
		p.client = NewHTTPClient()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p.retry = newRetrier(AnthropicName, cfg.MaxRetries, logger.With("component", "provider", "provider", AnthropicName))
	return p
}

// body returns the JSON request for req.
func (p *anthropicProvider) body(req *agent.ModelRequest) ([]byte, error) {
	wire := anthropic.ToMessagesRequest(*req, true)
	if wire.MaxTokens <= 0 {
		wire.MaxTokens = p.defaultMaxTokens
	}
	return json.Marshal(wire)
}

// Stream implements Provider.
func (p *anthropicProvider) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	if err := ctx.Err(); err != nil {
		return agent.ModelResponse{}, err
	}
	body, err := p.body(req)
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("anthropic: encoding request: %w", err)
	}
	resp, err := p.retry.send(ctx, p.client, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("content-type", "application/json")
		r.Header.Set("accept", "text/event-stream")
		r.Header.Set("anthropic-version", p.version)
		if p.apiKey != "" {
			r.Header.Set("x-api-key", p.apiKey)
		}
		return r, nil
	}, anthropicError)
	if err != nil {
		return agent.ModelResponse{}, err
	}
	read := anthropicStream
	if isJSON(resp.Header.Get("content-type")) {
		read = anthropicJSON
	}
	out, err := read(ctx, resp.Body, emit)
	closeBody(resp.Body, err == nil)
	return out, err
}

// anthropicStream reads an SSE answer, emitting chunks as they complete.
// A turn's goroutine waits for the upstream in dec.Next with this frame
// below it, so the work on each event is in anthropicEvent and the rest in
// anthropicFailed and anthropicEnd.
func anthropicStream(ctx context.Context, r io.Reader, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	dec := anthropic.NewStreamDecoder(r)
	done := map[int]bool{} // tool_use blocks emitted, by index
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return anthropicEnd(dec)
		}
		if err != nil {
			return anthropicFailed(ctx, dec, done, err)
		}
		anthropicEvent(dec, &ev, done, emit)
	}
}

// anthropicEvent emits what an event of an SSE answer completes.
func anthropicEvent(dec *anthropic.StreamDecoder, ev *anthropic.StreamEvent, done map[int]bool, emit func(agent.ModelChunk)) {
	switch ev.Type {
	case anthropic.EventContentBlockDelta:
		switch d := ev.Delta; d.Type {
		case anthropic.DeltaText:
			if d.Text != "" {
				emit(agent.ModelChunk{Type: agent.ChunkText, Text: d.Text})
			}
		case anthropic.DeltaThinking:
			if d.Thinking != "" {
				emit(agent.ModelChunk{Type: agent.ChunkThinking, Text: d.Thinking})
			}
		}
	case anthropic.EventContentBlockStop:
		if b := dec.Block(ev.Index); b.Type == anthropic.BlockToolUse {
			done[ev.Index] = true
			emit(agent.ModelChunk{Type: agent.ChunkToolUse, Block: toolUseBlock(b)})
		}
	}
}

// anthropicEnd returns the response of an SSE answer read to its end.
//
//go:noinline
func anthropicEnd(dec *anthropic.StreamDecoder) (agent.ModelResponse, error) {
	out, err := anthropic.FromResponse(dec.Message())
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("anthropic: %w", err)
	}
	return out, nil
}

// anthropicFailed returns what a broken SSE answer delivered, and why it
// broke.
func anthropicFailed(ctx context.Context, dec *anthropic.StreamDecoder, done map[int]bool, err error) (agent.ModelResponse, error) {
	partial := anthropicPartial(dec, done)
	var se *anthropic.StreamError
	if errors.As(err, &se) {
		return partial, fmt.Errorf("anthropic: %w", &UpstreamError{Status: anthropic.ErrorStatus(se.Type), Type: se.Type, Message: se.Message})
	}
	return partial, streamFailed(ctx, AnthropicName, err)
}

// anthropicPartial returns what a broken stream delivered: its blocks
// except tool uses that never completed, with no stop reason.
func anthropicPartial(dec *anthropic.StreamDecoder, done map[int]bool) agent.ModelResponse {
	msg := dec.Message()
	out := agent.ModelResponse{Usage: anthropic.FromUsage(msg.Usage)}
	for i, b := range msg.Content {
		switch b.Type {
		case anthropic.BlockToolUse:
			if done[i] {
				out.Content = append(out.Content, toolUseBlock(b))
			}
		case anthropic.BlockText:
			if b.Text != "" {
				out.Content = append(out.Content, agent.TextBlock(b.Text))
			}
		case anthropic.BlockThinking:
			out.Content = append(out.Content, agent.Block{Type: agent.BlockThinking, Text: b.Thinking, Signature: b.Signature})
		}
	}
	return out
}

func toolUseBlock(b anthropic.ContentBlock) agent.Block {
	return agent.Block{Type: agent.BlockToolUse, ID: b.ID, Name: b.Name, Input: b.Input}
}

// anthropicJSON reads a non-streaming answer (an upstream that ignored
// stream: true) and emits its blocks as chunks.
func anthropicJSON(ctx context.Context, r io.Reader, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	var msg anthropic.MessagesResponse
	if err := json.NewDecoder(r).Decode(&msg); err != nil {
		return agent.ModelResponse{}, streamFailed(ctx, AnthropicName, err)
	}
	out, err := anthropic.FromResponse(msg)
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("anthropic: %w", err)
	}
	emitBlocks(out.Content, emit)
	return out, nil
}

// emitBlocks emits complete blocks as the chunks a stream would have
// produced.
func emitBlocks(blocks []agent.Block, emit func(agent.ModelChunk)) {
	for _, b := range blocks {
		switch b.Type {
		case agent.BlockText:
			if b.Text != "" {
				emit(agent.ModelChunk{Type: agent.ChunkText, Text: b.Text})
			}
		case agent.BlockThinking:
			if b.Text != "" {
				emit(agent.ModelChunk{Type: agent.ChunkThinking, Text: b.Text})
			}
		case agent.BlockToolUse:
			emit(agent.ModelChunk{Type: agent.ChunkToolUse, Block: b})
		}
	}
}

// anthropicError reads the API's error envelope.
func anthropicError(status int, body []byte) *UpstreamError {
	var env anthropic.ErrorResponse
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		typ := env.Error.Type
		if typ == "" {
			typ = anthropic.ErrorType(status)
		}
		return &UpstreamError{Status: status, Type: typ, Message: env.Error.Message}
	}
	return &UpstreamError{Status: status, Type: anthropic.ErrorType(status), Message: errorMessage(status, body)}
}

// isJSON reports whether a content type is application/json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

var _ Provider = (*anthropicProvider)(nil)
