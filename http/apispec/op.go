package apispec

import (
	"fmt"
	"reflect"
	"strings"
)

// Op describes one route for the document. Build it with Describe and the
// chained methods; each returns a changed copy.
type Op struct {
	summary     string
	description string
	tag         string
	request     reflect.Type
	upload      []string
	lenient     bool
	query       []param
	responses   []response
	errors      []int
	errorBody   reflect.Type
}

type param struct {
	name, typ, description string
}

// response is one documented status. body nil and contentType "" is an
// empty response.
type response struct {
	status      int
	body        reflect.Type
	contentType string
	description string
	stream      bool
	redirect    bool
}

// Describe starts the description of a route with a one-line summary.
func Describe(summary string) Op { return Op{summary: summary} }

// Described reports whether o was made by Describe.
func (o Op) Described() bool { return o.summary != "" }

// Detail adds a longer description.
func (o Op) Detail(text string) Op { o.description = text; return o }

// Tag files the route under tag instead of the one its path implies.
func (o Op) Tag(tag string) Op { o.tag = tag; return o }

// In sets the JSON request body to the type of v (a zero value).
func (o Op) In(v any) Op { o.request = reflect.TypeOf(v); return o }

// Lenient marks the request body as accepting unknown fields.
func (o Op) Lenient() Op { o.lenient = true; return o }

// Upload makes the request body a multipart form with a binary "file"
// part and the named text fields.
func (o Op) Upload(fields ...string) Op { o.upload = append([]string{"file"}, fields...); return o }

// Query documents query parameters: "name" for a string, "name:integer"
// for a number; an optional third part after another ":" describes it.
func (o Op) Query(params ...string) Op {
	for _, p := range params {
		parts := strings.SplitN(p, ":", 3)
		q := param{name: parts[0], typ: "string"}
		if len(parts) > 1 && parts[1] != "" {
			q.typ = parts[1]
		}
		if len(parts) > 2 {
			q.description = parts[2]
		}
		o.query = append(o.query, q)
	}
	return o
}

// Out documents a JSON response of status with the type of v.
func (o Op) Out(status int, v any) Op {
	o.responses = append(o.responses, response{status: status, body: reflect.TypeOf(v), contentType: "application/json"})
	return o
}

// Empty documents a response of status without a body.
func (o Op) Empty(status int) Op {
	o.responses = append(o.responses, response{status: status})
	return o
}

// Bytes documents a non-JSON response of status and content type.
func (o Op) Bytes(status int, contentType, description string) Op {
	o.responses = append(o.responses, response{status: status, contentType: contentType, description: description})
	return o
}

// Stream documents a 200 text/event-stream response carrying the events
// of Config.Stream.
func (o Op) Stream() Op {
	o.responses = append(o.responses, response{status: 200, contentType: "text/event-stream", stream: true})
	return o
}

// Redirect documents a 302 with a Location header.
func (o Op) Redirect(description string) Op {
	o.responses = append(o.responses, response{status: 302, redirect: true, description: description})
	return o
}

// Fails documents error statuses beyond those Build adds by itself (400
// for a body or query, 401 and 429 for authenticated routes, 403 for admin
// routes, 404 for paths with parameters).
func (o Op) Fails(statuses ...int) Op { o.errors = append(o.errors, statuses...); return o }

// ErrorsAs sets the error body's type, for surfaces whose errors are not
// Config.Error.
func (o Op) ErrorsAs(v any) Op { o.errorBody = reflect.TypeOf(v); return o }

// Access says who may call a route.
type Access int

// Access levels, as in the route table.
const (
	Public Access = iota
	Bearer
	Admin
)

// Route is one route of the table with its description.
type Route struct {
	Method string
	// Path is the router's pattern: {name} parameters, and {name:*} for a
	// catch-all.
	Path   string
	Access Access
	// APIKeyHeader marks routes that also take the credential in
	// x-api-key (the Anthropic-compatible surface).
	APIKeyHeader bool
	Op           Op
}

func (r Route) String() string { return fmt.Sprintf("%s %s", r.Method, r.Path) }
