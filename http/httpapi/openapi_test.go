package httpapi

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apispec"
	"github.com/seshat-host/seshat/http/apitype"
)

// serveOnce runs one request through the server's whole handler chain.
func serveOnce(s *Server, method, uri string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	s.srv.Handler(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func openAPIDoc(t *testing.T, s *Server) map[string]map[string]any {
	t.Helper()
	resp := serveOnce(s, fasthttp.MethodGet, "/api/v1/openapi.json")
	require.Equal(t, fasthttp.StatusOK, resp.StatusCode())
	require.Equal(t, contentTypeJSON, string(resp.Header.ContentType()))
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(resp.Body(), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	return doc.Paths
}

// TestOpenAPIDescribesEveryRoute holds the document and the route table
// together: every route has a description, and every operation of the
// document is a route the router serves.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s, _ := newTestServer(t, Config{})

	var undescribed []string
	table := map[string]bool{}
	for _, rt := range s.routes() {
		if !rt.doc.Described() {
			undescribed = append(undescribed, rt.method+" "+rt.path)
		}
		table[rt.method+" "+apispec.OpenAPIPath(rt.path)] = true
	}
	require.Empty(t, undescribed, "routes without a description (add doc: d(...) to their line in routes.go)")

	documented := map[string]bool{}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, item := range openAPIDoc(t, s) {
		for method := range item {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			// The router must serve it: anything but its own 404 or 405.
			resp := serveOnce(s, strings.ToUpper(method), param.ReplaceAllString(path, "x"))
			var body apitype.Error
			_ = json.Unmarshal(resp.Body(), &body)
			require.NotEqual(t, fasthttp.StatusMethodNotAllowed, resp.StatusCode(), "%s: documented but not routed", key)
			require.False(t, resp.StatusCode() == fasthttp.StatusNotFound && body.Error == "no such endpoint", "%s: documented but not routed", key)
		}
	}
	require.Equal(t, sortedKeys(table), sortedKeys(documented), "the document's operations are the route table's")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDocumentValidates loads the document with kin-openapi and
// validates it as OpenAPI 3.1, schemas, references and examples included.
func TestOpenAPIDocumentValidates(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(s.openapiDoc)
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater())
	require.NoError(t, doc.Validate(t.Context()))

	// Spot checks of what the reflection produced.
	sess := doc.Components.Schemas["Session"].Value
	require.NotNil(t, sess)
	require.Contains(t, sess.Required, "id")
	require.NotContains(t, sess.Required, "messages", "omitempty fields are optional")
	job := doc.Components.Schemas["Job"].Value
	require.True(t, job.Properties["session_id"].Value.Type.Includes("null"), "pointer fields may be null")
	frame := doc.Components.Schemas["StreamFrame"].Value
	require.Len(t, frame.OneOf, len(streamEvents))
	login := doc.Paths.Find("/api/v1/auth/login").Post
	require.NotNil(t, login.Security)
	require.Empty(t, *login.Security, "public routes need no credential")
	require.NotNil(t, doc.Paths.Find("/api/v1/sessions/{id}/stream").Get.Responses.Status(200).Value.Content.Get("text/event-stream"))
}

// TestOpenAPIErrorShape checks the error body of every native operation
// is the API's {error, code, request_id}, and the compatible routes' their
// family's envelope.
func TestOpenAPIErrorShape(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	doc, err := openapi3.NewLoader().LoadFromData(s.openapiDoc)
	require.NoError(t, err)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			def := op.Responses.Default()
			require.NotNil(t, def, "%s %s: no default error", method, path)
			schema := def.Value.Content.Get("application/json").Schema
			want := "#/components/schemas/Error"
			switch {
			case path == "/v1/chat/completions":
				want = "#/components/schemas/ChatcompatErrorResponse"
			case strings.HasPrefix(path, "/v1/"):
				want = "#/components/schemas/ErrorResponse"
			}
			require.Equal(t, want, schema.Ref, "%s %s", method, path)
		}
	}
	e := doc.Components.Schemas["Error"].Value
	require.ElementsMatch(t, []string{"error", "code", "request_id"}, e.Required)
}
