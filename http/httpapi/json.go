package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
)

const contentTypeJSON = "application/json"

// MaxJSONDepth is how deeply a request body's arrays and objects may
// nest: agent.MaxJSONDepth, the bound every entry of the host holds to.
// What the store keeps it must read back, and Go's decoder refuses
// documents nested past 10,000 levels: a body that deep would be accepted,
// stored, and lost on the next load.
const MaxJSONDepth = agent.MaxJSONDepth

// decodeJSON reads a native request body into v, strictly: an unknown
// field, at any depth, is 400 invalid_field naming it, so that a typo
// ("permision_mode") is not silently replaced by a default. A Content-Type
// other than application/json (parameters allowed) is 415; a missing one
// is taken as JSON, since curl and many scripts omit it. An empty or
// malformed body, or one nested deeper than MaxJSONDepth, is 400
// invalid_json; a field of the wrong type is 400 invalid_request.
func decodeJSON(ctx *fasthttp.RequestCtx, v any) error {
	return decodeBody(ctx, v, true)
}

// decodeJSONLenient is decodeJSON for the Anthropic-compatible surface:
// unknown fields are ignored, since Anthropic clients send fields this
// server does not model. The depth limit still holds.
func decodeJSONLenient(ctx *fasthttp.RequestCtx, v any) error {
	return decodeBody(ctx, v, false)
}

func decodeBody(ctx *fasthttp.RequestCtx, v any, strict bool) error {
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 && !isJSON(ct) {
		return &Error{
			Status: fasthttp.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Msg: "Content-Type must be application/json",
		}
	}
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidJSON, Msg: "request body is empty; expected a JSON object"}
	}
	if agent.JSONDepth(body) > MaxJSONDepth {
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidJSON,
			Msg: fmt.Sprintf("request body nests arrays and objects deeper than %d levels", MaxJSONDepth)}
	}
	err := decodeDocument(body, v, strict)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		msg := "request body must be a JSON object"
		if te.Field != "" {
			msg = fmt.Sprintf("field %s must be %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest, Msg: msg, Err: err}
	case strings.HasPrefix(err.Error(), unknownFieldPrefix):
		// encoding/json has no typed error for this; its message is stable
		// and names the field, quoted.
		name := strings.TrimPrefix(err.Error(), unknownFieldPrefix)
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidField,
			Msg: "unknown field " + name + " (check its spelling; docs/api.md lists the fields)", Err: err}
	}
	return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidJSON, Msg: "request body is not valid JSON", Err: err}
}

// decodeDocument decodes body, which must be one JSON document, into v.
// A lenient decode takes json.Unmarshal, which reads the body in place;
// where it finds the body malformed, the decoder then runs as a strict
// one does, so that the error (a field of the wrong type comes before
// trailing garbage) is the same.
func decodeDocument(body []byte, v any, strict bool) error {
	if !strict {
		err := json.Unmarshal(body, v)
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return err
		}
		// Unmarshal checks the whole body before it decodes anything:
		// v is untouched.
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		// Decode stops after the first value: anything but space after it
		// is not one JSON document.
		if _, tokErr := dec.Token(); tokErr != io.EOF {
			err = errors.New("invalid character after top-level value")
		}
	}
	return err
}

// unknownFieldPrefix starts encoding/json's error for a field that
// DisallowUnknownFields refused.
const unknownFieldPrefix = "json: unknown field "

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "a number"
	}
}

// isJSON reports whether a request body of content type ct is read as
// JSON: application/json, and application/x-www-form-urlencoded, which is
// what `curl -d` sends when no type is given. No route takes form data, so
// reading it as JSON serves those clients and misreads no one.
func isJSON(ct []byte) bool {
	if string(ct) == contentTypeJSON {
		return true
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	return err == nil && (mt == contentTypeJSON || mt == "application/x-www-form-urlencoded")
}

// writeJSON writes v as a JSON response with status, ending in a newline
// so that it reads well from curl. It returns an error, and writes
// nothing, only if v cannot be encoded.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	if a, ok := v.(jsonAppender); ok {
		buf := jsonBuffers.Get().(*[]byte)
		body, err := a.AppendJSON((*buf)[:0])
		if err == nil {
			ctx.SetContentType(contentTypeJSON)
			ctx.SetStatusCode(status)
			ctx.SetBody(append(body, '\n'))
		}
		if cap(body) <= maxPooledJSON {
			*buf = body
			jsonBuffers.Put(buf)
		}
		if err == nil {
			return nil
		}
		// encoding/json names what it refused.
	}
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetStatusCode(status)
	ctx.SetBody(append(body, '\n'))
	return nil
}

// jsonAppender is a response that appends its own JSON, byte for byte
// what encoding/json writes for it, and fails where encoding/json fails.
type jsonAppender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// jsonBuffers hold the scratch buffers of writeJSON's appenders; the body
// is copied into the response, so a buffer is free again at once. Larger
// ones than maxPooledJSON are left to the collector.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledJSON = 64 << 10
