package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/seshat-host/seshat/compat/eventstream"
)

// MaxStreamLineBytes is the longest SSE line a StreamDecoder accepts.
const MaxStreamLineBytes = 32 << 20

// ErrMalformedStream is wrapped by the errors a StreamDecoder returns for
// data that is not a chunk.
var ErrMalformedStream = errors.New("malformed chat completions stream")

// StreamError is an error object received inside a stream, after the 200
// went out.
type StreamError struct {
	ErrorDetail
}

// Error implements error.
func (e *StreamError) Error() string {
	s := "openai stream error"
	if e.Type != "" {
		s += ": " + e.Type
	}
	return s + ": " + e.Message
}

func errorf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedStream, fmt.Sprintf(format, a...))
}

// StreamDecoder reads a Chat Completions SSE stream chunk by chunk: `data:`
// lines holding JSON chunks, ended by `data: [DONE]`. Event names are
// ignored, as OpenAI sends none.
//
// A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	dec  *eventstream.Decoder
	done bool
}

// NewStreamDecoder returns a decoder reading the SSE stream r.
func NewStreamDecoder(r io.Reader) *StreamDecoder {
	return &StreamDecoder{dec: eventstream.NewDecoder(r, MaxStreamLineBytes)}
}

// Next returns the next chunk. It returns io.EOF after [DONE] and
// io.ErrUnexpectedEOF when the stream ends without it. An error object in
// the stream is returned as a *StreamError; data that is not JSON wraps
// ErrMalformedStream.
func (d *StreamDecoder) Next() (ChatChunk, error) {
	for {
		if d.done {
			return ChatChunk{}, io.EOF
		}
		ev, err := d.dec.Next()
		if errors.Is(err, io.EOF) {
			return ChatChunk{}, io.ErrUnexpectedEOF
		}
		if err != nil {
			return ChatChunk{}, err
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if string(data) == "[DONE]" {
			d.done = true
			return ChatChunk{}, io.EOF
		}
		var c struct {
			ChatChunk
			Error *ErrorDetail `json:"error"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return ChatChunk{}, errorf("%v: %.200q", err, data)
		}
		if c.Error != nil {
			d.done = true
			return ChatChunk{}, &StreamError{*c.Error}
		}
		return c.ChatChunk, nil
	}
}
