package chatcompat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/compat/openai"
)

// Request is a checked Chat Completions request turned into the runtime's
// terms.
type Request struct {
	// Model is the request's model name, echoed in the answer.
	Model string
	// Turn holds the system prompt, messages, client tools, tool choice,
	// output cap and response format.
	Turn agent.ModelRequest
	// Stream and IncludeUsage are the request's stream settings.
	Stream       bool
	IncludeUsage bool
}

// FromRequest checks r and turns it into a Request. It refuses, with an
// error wrapping agent.ErrInvalid that names the field: no model, n other
// than 1, a response_format that is not an object with a known type, and
// whatever openai.FromChatRequest refuses.
func FromRequest(r openai.ChatRequest) (Request, error) {
	if r.Model == "" {
		return Request{}, invalid("model: required")
	}
	if r.N != nil && *r.N != 1 {
		return Request{}, invalid("n: only 1 is supported, got %d", *r.N)
	}
	if r.MaxTokens < 0 || r.MaxCompletionTokens < 0 {
		return Request{}, invalid("max_tokens: must not be negative")
	}
	rf, err := responseFormat(r.ResponseFormat)
	if err != nil {
		return Request{}, err
	}
	r.ResponseFormat = rf
	mr, err := openai.FromChatRequest(r)
	if err != nil {
		return Request{}, err
	}
	out := Request{Model: r.Model, Turn: mr, Stream: r.Stream}
	if r.StreamOptions != nil {
		out.IncludeUsage = r.StreamOptions.IncludeUsage
	}
	return out, nil
}

// responseFormat checks a response_format: text (which asks for nothing
// and is dropped), json_object, or json_schema with a json_schema object.
func responseFormat(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var f struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, invalid("response_format: must be an object")
	}
	switch f.Type {
	case "text":
		return nil, nil
	case "json_object":
	case "json_schema":
		if s := bytes.TrimSpace(f.JSONSchema); len(s) == 0 || s[0] != '{' {
			return nil, invalid("response_format.json_schema: required for type json_schema")
		}
	default:
		return nil, invalid("response_format.type: want text, json_object or json_schema, got %q", f.Type)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid("response_format: %v", err)
	}
	return buf.Bytes(), nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", agent.ErrInvalid, fmt.Sprintf(format, a...))
}

// Reply builds the completion that reports one turn.
type Reply struct {
	// ID is "chatcmpl-" and the turn id's suffix.
	ID string
	// Model is echoed as the request named it.
	Model string
	// Created is the completion's Unix time in seconds.
	Created int64
	// Skip is the number of the turn's first messages that were its input.
	Skip int
	// Client holds the names of the tools the client declared.
	Client map[string]bool
}

// NewReply returns the reply for a turn started from req, whose input
// counts skip messages.
func NewReply(req Request, skip int, created int64) *Reply {
	r := &Reply{Model: req.Model, Created: created, Skip: skip, Client: make(map[string]bool, len(req.Turn.Tools))}
	for _, t := range req.Turn.Tools {
		r.Client[t.Name] = true
	}
	return r
}

// blocks returns what the client sees of the messages the turn committed.
func (r *Reply) blocks(msgs []agent.Message) []agent.Block {
	ar := anthropic.Reply{Skip: r.Skip, Client: r.Client}
	return ar.Blocks(msgs)
}

// Completion is the non-streaming answer for a finished turn: its text,
// reasoning and client tool calls, finish_reason tool_calls when the turn
// stopped for a client tool.
func (r *Reply) Completion(res *agent.QueryResult) openai.ChatResponse {
	return openai.ToChatResponse(r.ID, r.Model, r.Created, agent.ModelResponse{
		Content: r.blocks(res.Messages), StopReason: res.StopReason, Usage: res.Usage,
	})
}

// Error types of the OpenAI error envelope.
const (
	ErrorInvalidRequest = "invalid_request_error"
	ErrorAuthentication = "authentication_error"
	ErrorPermission     = "permission_error"
	ErrorNotFound       = "not_found_error"
	ErrorConflict       = "conflict_error"
	ErrorRateLimit      = "rate_limit_error"
	ErrorServer         = "server_error"
)

// ErrorType maps an HTTP status to the error type: 400 and other 4xx
// invalid_request_error, 401 authentication_error, 403 permission_error,
// 404 not_found_error, 409 conflict_error, 429 rate_limit_error and
// server_error for 5xx.
func ErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return ErrorAuthentication
	case http.StatusForbidden:
		return ErrorPermission
	case http.StatusNotFound:
		return ErrorNotFound
	case http.StatusConflict:
		return ErrorConflict
	case http.StatusTooManyRequests:
		return ErrorRateLimit
	}
	if status >= 400 && status < 500 {
		return ErrorInvalidRequest
	}
	return ErrorServer
}

// ErrorResponse is the OpenAI error envelope
// {"error":{"message","type","param","code"}}.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error of an envelope. Param and Code are null when
// nil.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// NewError returns the envelope for status; code is the host's own error
// code (null when empty), and a 401 carries OpenAI's invalid_api_key.
func NewError(status int, msg, code string) ErrorResponse {
	if status == http.StatusUnauthorized {
		code = "invalid_api_key"
	}
	e := ErrorResponse{Error: ErrorDetail{Message: msg, Type: ErrorType(status)}}
	if code != "" {
		e.Error.Code = &code
	}
	return e
}
