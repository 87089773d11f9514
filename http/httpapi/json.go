package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"

	"github.com/valyala/fasthttp"
)

const contentTypeJSON = "application/json"

// decodeJSON reads the request body into v. A Content-Type other than
// application/json (parameters allowed) is 415; a missing one is taken as
// JSON, since curl and many scripts omit it. An empty or malformed body is
// 400 invalid_json; a field of the wrong type is 400 invalid_request.
// Unknown fields are ignored, so clients may send more than this version
// knows.
func decodeJSON(ctx *fasthttp.RequestCtx, v any) error {
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
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg := "request body must be a JSON object"
			if te.Field != "" {
				msg = fmt.Sprintf("field %s must be %s", te.Field, jsonKind(te.Type.Kind().String()))
			}
			return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest, Msg: msg, Err: err}
		}
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidJSON, Msg: "request body is not valid JSON", Err: err}
	}
	return nil
}

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
	mt, _, err := mime.ParseMediaType(string(ct))
	return err == nil && (mt == contentTypeJSON || mt == "application/x-www-form-urlencoded")
}

// writeJSON writes v as a JSON response with status, ending in a newline
// so that it reads well from curl. It returns an error, and writes
// nothing, only if v cannot be encoded.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetStatusCode(status)
	ctx.SetBody(append(body, '\n'))
	return nil
}
