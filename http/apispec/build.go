package apispec

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Config is what the document says besides the routes.
type Config struct {
	// Title and Version fill the document's info. If empty, "API" and
	// "dev".
	Title   string
	Version string
	// Description is the document's introduction (Markdown).
	Description string
	// Error is a zero value of the error body every route answers unless
	// its Op says otherwise (ErrorsAs). Required.
	Error any
	// Stream lists the events of every Stream response, in order of
	// description.
	Stream []StreamEvent
}

// StreamEvent is one kind of event of an SSE stream.
type StreamEvent struct {
	// Name is the event line's value; "" is the default event (a WHATWG
	// parser reports it as "message").
	Name string
	// Data is a zero value of the event's JSON data.
	Data any
	// Numbered tells whether the event carries an id line.
	Numbered bool
	// Description says what the event means.
	Description string
}

var paramRE = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// Build returns the OpenAPI 3.1 document of routes as a JSON-ready value.
// It fails, naming them, when a route has no description or a method and
// path appear twice.
func Build(cfg Config, routes []Route) (map[string]any, error) {
	if cfg.Error == nil {
		return nil, errors.New("apispec: Config.Error is required")
	}
	if cfg.Title == "" {
		cfg.Title = "API"
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	r := newReflector()
	errType := reflect.TypeOf(cfg.Error)
	paths := map[string]map[string]any{}
	var problems []string
	seen := map[string]bool{}
	for _, rt := range routes {
		if !rt.Op.Described() {
			problems = append(problems, rt.String()+": no description")
			continue
		}
		if seen[rt.String()] {
			problems = append(problems, rt.String()+": described twice")
			continue
		}
		seen[rt.String()] = true
		p := OpenAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = r.operation(rt, errType)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("apispec: %s", strings.Join(problems, "; "))
	}
	r.components["StreamFrame"] = r.streamFrame(cfg.Stream)
	pathsOut := map[string]any{}
	for p, item := range paths {
		pathsOut[p] = item
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info":              map[string]any{"title": cfg.Title, "version": cfg.Version, "description": cfg.Description},
		"paths":             pathsOut,
		"components": map[string]any{
			"schemas": r.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "A JWT from /api/v1/auth/login or /api/v1/auth/register, or an sk- API key."},
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "x-api-key",
					"description": "An sk- API key or a JWT, as Anthropic clients send it."},
			},
			"headers": map[string]any{
				"X-Request-ID": map[string]any{"description": "The request's id, also in error bodies and logs.",
					"schema": map[string]any{"type": "string"}},
			},
		},
	}, nil
}

// OpenAPIPath turns a router pattern into an OpenAPI path: {name:*}
// becomes {name}.
func OpenAPIPath(pattern string) string {
	return paramRE.ReplaceAllString(pattern, "{$1}")
}

func pathParams(pattern string) []string {
	var out []string
	for _, m := range paramRE.FindAllStringSubmatch(pattern, -1) {
		out = append(out, m[1])
	}
	return out
}

func (r *reflector) operation(rt Route, errType reflect.Type) map[string]any {
	o := rt.Op
	op := map[string]any{
		"summary":     o.summary,
		"operationId": operationID(rt),
		"tags":        []any{tagOf(rt)},
		"x-access":    [...]string{"public", "bearer", "admin"}[rt.Access],
	}
	if o.description != "" {
		op["description"] = o.description
	}
	switch rt.Access {
	case Public:
		op["security"] = []any{}
	default:
		sec := []any{map[string]any{"bearer": []any{}}}
		if rt.APIKeyHeader {
			sec = append(sec, map[string]any{"apiKey": []any{}})
		}
		op["security"] = sec
	}
	var params []any
	for _, name := range pathParams(rt.Path) {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range o.query {
		p := map[string]any{"name": q.name, "in": "query", "schema": map[string]any{"type": q.typ}}
		if q.description != "" {
			p["description"] = q.description
		}
		params = append(params, p)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	m := modeRequest
	if o.lenient {
		m = modeLenient
	}
	// A route may take JSON, a multipart upload, or either.
	content := map[string]any{}
	if o.request != nil {
		content["application/json"] = map[string]any{"schema": r.schema(o.request, m)}
	}
	if o.upload != nil {
		props := map[string]any{}
		for _, f := range o.upload {
			props[f] = map[string]any{"type": "string"}
		}
		props["file"] = map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}
		content["multipart/form-data"] = map[string]any{"schema": map[string]any{"type": "object", "properties": props, "required": []any{"file"}}}
	}
	if len(content) > 0 {
		op["requestBody"] = map[string]any{"required": true, "content": content}
	}
	responses := map[string]any{}
	for _, resp := range o.responses {
		key := strconv.Itoa(resp.status)
		next := r.response(resp, m)
		if prev, ok := responses[key].(map[string]any); ok {
			// Two bodies for one status: one response, two media types.
			content, _ := prev["content"].(map[string]any)
			if content == nil {
				content = map[string]any{}
			}
			more, _ := next["content"].(map[string]any)
			for k, v := range more {
				content[k] = v
			}
			prev["content"] = content
			continue
		}
		responses[key] = next
	}
	et := errType
	if o.errorBody != nil {
		et = o.errorBody
	}
	errBody := map[string]any{"application/json": map[string]any{"schema": r.schema(et, modeResponse)}}
	for _, st := range errorStatuses(rt) {
		key := strconv.Itoa(st)
		if _, ok := responses[key]; !ok {
			responses[key] = map[string]any{"description": http.StatusText(st), "content": errBody, "headers": requestIDHeader()}
		}
	}
	responses["default"] = map[string]any{"description": "Any other error (for example 500 or 503)", "content": errBody, "headers": requestIDHeader()}
	op["responses"] = responses
	return op
}

func requestIDHeader() map[string]any {
	return map[string]any{"X-Request-ID": map[string]any{"$ref": "#/components/headers/X-Request-ID"}}
}

// errorStatuses are the documented error statuses of rt: those its shape
// implies, and its Op's own.
func errorStatuses(rt Route) []int {
	set := map[int]bool{}
	o := rt.Op
	if o.request != nil || o.upload != nil {
		set[400], set[413] = true, true
	}
	if o.request != nil {
		set[415] = true
	}
	if len(o.query) > 0 {
		set[400] = true
	}
	if rt.Access != Public {
		set[401], set[429] = true, true
	}
	if rt.Access == Admin {
		set[403] = true
	}
	if len(pathParams(rt.Path)) > 0 {
		set[404] = true
	}
	for _, s := range o.errors {
		set[s] = true
	}
	out := make([]int, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

func (r *reflector) response(resp response, _ mode) map[string]any {
	desc := resp.description
	if desc == "" {
		desc = http.StatusText(resp.status)
	}
	out := map[string]any{"description": desc, "headers": requestIDHeader()}
	switch {
	case resp.redirect:
		out["headers"] = map[string]any{"Location": map[string]any{"schema": map[string]any{"type": "string"}}}
	case resp.stream:
		out["description"] = "A stream of Server-Sent Events; each frame, parsed, is a StreamFrame"
		out["content"] = map[string]any{"text/event-stream": map[string]any{
			"schema":       map[string]any{"type": "string"},
			"x-sse-frames": map[string]any{"$ref": "#/components/schemas/StreamFrame"},
		}}
	case resp.body != nil:
		out["content"] = map[string]any{resp.contentType: map[string]any{"schema": r.schema(resp.body, modeResponse)}}
	case resp.contentType != "":
		out["content"] = map[string]any{resp.contentType: map[string]any{"schema": map[string]any{"type": "string"}}}
	}
	return out
}

// streamFrame describes one parsed SSE frame, {id, event, data}, as one
// of the configured events.
func (r *reflector) streamFrame(events []StreamEvent) map[string]any {
	var variants []any
	for _, ev := range events {
		name := ev.Name
		if name == "" {
			name = "message"
		}
		props := map[string]any{
			"event": map[string]any{"const": name},
			"data":  r.schema(reflect.TypeOf(ev.Data), modeResponse),
		}
		req := []any{"event", "data"}
		if ev.Numbered {
			props["id"] = map[string]any{"type": "integer", "minimum": 1}
			req = append(req, "id")
		} else {
			props["id"] = map[string]any{"type": "null"}
		}
		variants = append(variants, map[string]any{"type": "object", "description": ev.Description,
			"properties": props, "required": req, "additionalProperties": false})
	}
	return map[string]any{
		"description": "One Server-Sent Events frame as a client parses it: the id line as a number (null when absent), the event line (\"message\" when absent) and the data line's JSON. Comment lines (\": keepalive\") carry no frame.",
		"oneOf":       variants,
	}
}

// tagOf is the Op's tag, else the family its path names: the segment after
// /api/v1/, "anthropic" for /v1/, else the first segment.
func tagOf(rt Route) string {
	if rt.Op.tag != "" {
		return rt.Op.tag
	}
	p := strings.TrimPrefix(rt.Path, "/")
	switch {
	case strings.HasPrefix(p, "api/v1/"):
		p = strings.TrimPrefix(p, "api/v1/")
	case strings.HasPrefix(p, "v1/"):
		return "anthropic"
	}
	seg, _, _ := strings.Cut(p, "/")
	if seg == "" {
		return "console"
	}
	return seg
}

func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, c := range OpenAPIPath(rt.Path) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return strings.TrimRight(b.String(), "_")
}
