package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/openai"
)

// OpenAIConfig configures the OpenAI Chat Completions backend, which also
// serves the servers that speak its API (Ollama, vLLM, llama.cpp,
// LM Studio, gateways).
type OpenAIConfig struct {
	// BaseURL is the API's root, to which /chat/completions is appended:
	// https://api.openai.com/v1, or http://localhost:11434/v1 for Ollama.
	// If empty, https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer KEY". If empty, no
	// Authorization header is sent (Ollama and vLLM need none).
	APIKey string
	// HTTPClient makes the calls. If nil, a client with dial, TLS and
	// response-header timeouts and no overall timeout: a call's ctx bounds
	// it.
	HTTPClient *http.Client
	// MaxRetries is how many times a call is retried after a connection
	// error, 408, 409, 429 or 5xx before any of the answer is read. If
	// zero, 3; a negative value disables retries.
	MaxRetries int
	// Logger receives retry diagnostics at debug level. If nil, logs are
	// discarded.
	Logger *slog.Logger
}

const openaiDefaultBaseURL = "https://api.openai.com/v1"

// openaiProvider streams from a Chat Completions API. It keeps no
// per-call state, so one value serves every session at once.
type openaiProvider struct {
	url    string
	apiKey string
	// official is set for api.openai.com, which wants the output cap as
	// max_completion_tokens (its reasoning models reject max_tokens);
	// other servers know max_tokens.
	official bool
	client   *http.Client
	retry    retrier
}

// NewOpenAI returns a Provider for a Chat Completions API. Every call
// streams (stream: true with stream_options.include_usage): text and
// reasoning deltas are emitted as they arrive, tool calls, assembled from
// their fragments by index, once the choice finishes, and the returned
// response holds thinking, text and tool uses in that order with the
// mapped stop reason and the usage. Transient failures before the answer
// starts are retried (see OpenAIConfig.MaxRetries); error answers and
// error objects in the stream become *UpstreamError. Cancelling ctx
// closes the connection and returns ctx.Err() with what had arrived so
// far.
func NewOpenAI(cfg OpenAIConfig) Provider {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = openaiDefaultBaseURL
	}
	p := &openaiProvider{url: base + "/chat/completions", apiKey: cfg.APIKey, client: cfg.HTTPClient}
	if u, err := url.Parse(base); err == nil && u.Hostname() == "api.openai.com" {
		p.official = true
	}
	if p.client == nil {
		p.client = NewHTTPClient()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p.retry = newRetrier(OpenAIName, cfg.MaxRetries, logger.With("component", "provider", "provider", OpenAIName))
	return p
}

// body returns the JSON request for req.
func (p *openaiProvider) body(req *agent.ModelRequest) ([]byte, error) {
	wire := openai.ToChatRequest(*req, true)
	if p.official && wire.MaxTokens > 0 {
		wire.MaxCompletionTokens, wire.MaxTokens = wire.MaxTokens, 0
	}
	return json.Marshal(wire)
}

// Stream implements Provider.
func (p *openaiProvider) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	if err := ctx.Err(); err != nil {
		return agent.ModelResponse{}, err
	}
	body, err := p.body(req)
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("openai: encoding request: %w", err)
	}
	resp, err := p.retry.send(ctx, p.client, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("content-type", "application/json")
		r.Header.Set("accept", "text/event-stream")
		if p.apiKey != "" {
			r.Header.Set("authorization", "Bearer "+p.apiKey)
		}
		return r, nil
	}, openaiError)
	if err != nil {
		return agent.ModelResponse{}, err
	}
	read := openaiStream
	if isJSON(resp.Header.Get("content-type")) {
		read = openaiJSON
	}
	out, err := read(ctx, resp.Body, emit)
	closeBody(resp.Body, err == nil)
	return out, err
}

// openaiStream reads an SSE answer, emitting chunks as they complete.
func openaiStream(ctx context.Context, r io.Reader, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	dec := openai.NewStreamDecoder(r)
	acc := openai.NewAccumulator()
	for {
		c, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		// A server that ends the stream without [DONE] after the choice
		// finished has still answered in full.
		if errors.Is(err, io.ErrUnexpectedEOF) && acc.Finished() && ctx.Err() == nil {
			break
		}
		if err != nil {
			return openaiFailed(ctx, acc, err)
		}
		if err := openaiChunk(acc, &c, emit); err != nil {
			return agent.ModelResponse{}, err
		}
	}
	return openaiEnd(acc, emit)
}

// openaiChunk adds a chunk of an SSE answer to acc and emits what it
// completes. It, openaiFailed and openaiEnd keep their work out of
// openaiStream's frame, which a turn's goroutine keeps while it waits for
// the upstream.
func openaiChunk(acc *openai.Accumulator, c *openai.ChatChunk, emit func(agent.ModelChunk)) error {
	chunks, err := acc.Add(*c)
	emitChunks(chunks, emit)
	if err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	return nil
}

// openaiFailed returns what a broken SSE answer delivered, and why it
// broke.
func openaiFailed(ctx context.Context, acc *openai.Accumulator, err error) (agent.ModelResponse, error) {
	partial := acc.Response()
	partial.StopReason = ""
	var se *openai.StreamError
	if errors.As(err, &se) {
		return partial, fmt.Errorf("openai: %w", streamUpstreamError(se))
	}
	return partial, streamFailed(ctx, OpenAIName, err)
}

// openaiEnd emits the rest of an SSE answer read to its end and returns
// its response.
func openaiEnd(acc *openai.Accumulator, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	chunks, err := acc.Finish()
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("openai: %w", err)
	}
	emitChunks(chunks, emit)
	return acc.Response(), nil
}

func emitChunks(chunks []agent.ModelChunk, emit func(agent.ModelChunk)) {
	for _, c := range chunks {
		emit(c)
	}
}

// streamUpstreamError turns an error object received mid-stream into an
// UpstreamError; such errors are server-side failures unless their code
// says otherwise.
func streamUpstreamError(se *openai.StreamError) *UpstreamError {
	typ := se.Type
	if typ == "" {
		typ = se.CodeString()
	}
	return &UpstreamError{Status: http.StatusInternalServerError, Type: typ, Message: se.Message}
}

// openaiJSON reads a non-streaming answer (a server that ignored
// stream: true) and emits its blocks as chunks.
func openaiJSON(ctx context.Context, r io.Reader, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	var cr openai.ChatResponse
	if err := json.NewDecoder(r).Decode(&cr); err != nil {
		return agent.ModelResponse{}, streamFailed(ctx, OpenAIName, err)
	}
	out, err := openai.FromChatResponse(cr)
	if err != nil {
		return agent.ModelResponse{}, fmt.Errorf("openai: %w", err)
	}
	emitBlocks(out.Content, emit)
	return out, nil
}

// openaiError reads an error body: {"error":{"message","type","code"}} or
// {"error":"message"}.
func openaiError(status int, body []byte) *UpstreamError {
	var env openai.ErrorResponse
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		typ := env.Error.Type
		if typ == "" {
			typ = env.Error.CodeString()
		}
		return &UpstreamError{Status: status, Type: typ, Message: env.Error.Message}
	}
	return &UpstreamError{Status: status, Message: errorMessage(status, body)}
}

var _ Provider = (*openaiProvider)(nil)
