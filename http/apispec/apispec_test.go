package apispec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type inner struct {
	N int `json:"n"`
}

type Page[T any] struct {
	Data []T `json:"data"`
}

type sample struct {
	inner
	Name    string            `json:"name"`
	Note    string            `json:"note,omitempty"`
	When    time.Time         `json:"when"`
	Maybe   *time.Time        `json:"maybe"`
	Ref     *inner            `json:"ref"`
	Raw     json.RawMessage   `json:"raw"`
	Tags    map[string]string `json:"tags"`
	Bytes   []byte            `json:"bytes"`
	Count   int64             `json:"count,string"`
	Skipped string            `json:"-"`
	hidden  string            //nolint:unused // unexported: the schema must leave it out
}

func TestSchemaFollowsEncodingJSON(t *testing.T) {
	r := newReflector()
	ref := r.schema(reflect.TypeOf(sample{}), modeResponse)
	require.Equal(t, "#/components/schemas/sample", ref["$ref"])
	s := r.components["sample"].(map[string]any)
	props := s["properties"].(map[string]any)

	require.Equal(t, false, s["additionalProperties"])
	require.ElementsMatch(t, []string{"n", "name", "when", "maybe", "ref", "raw", "tags", "bytes", "count"}, s["required"])
	require.NotContains(t, props, "Skipped")
	require.NotContains(t, props, "hidden")
	require.NotContains(t, props, "-")
	require.Equal(t, map[string]any{"type": "integer"}, props["n"], "embedded fields are flattened")
	require.Equal(t, map[string]any{"type": "string", "format": "date-time"}, props["when"])
	require.Equal(t, []any{"string", "null"}, props["maybe"].(map[string]any)["type"])
	require.Equal(t, map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/inner"}, map[string]any{"type": "null"}}}, props["ref"])
	require.NotContains(t, props["raw"], "type", "raw JSON is any value")
	require.Equal(t, map[string]any{"type": "string"}, props["tags"].(map[string]any)["additionalProperties"])
	require.Equal(t, "base64", props["bytes"].(map[string]any)["contentEncoding"])
	require.Equal(t, map[string]any{"type": "string"}, props["count"], "the string option")
}

func TestRequestSchemas(t *testing.T) {
	r := newReflector()
	require.Equal(t, "#/components/schemas/sampleInput", r.schema(reflect.TypeOf(sample{}), modeRequest)["$ref"])
	s := r.components["sampleInput"].(map[string]any)
	require.NotContains(t, s, "required", "request fields are optional")
	require.Equal(t, false, s["additionalProperties"], "strict routes refuse unknown fields")

	r.schema(reflect.TypeOf(sample{}), modeLenient)
	require.NotContains(t, r.components["sampleInputLenient"], "additionalProperties")

	type thingRequest struct{}
	require.Equal(t, "#/components/schemas/thingRequest", r.schema(reflect.TypeOf(thingRequest{}), modeRequest)["$ref"])
}

func TestGenericNames(t *testing.T) {
	r := newReflector()
	require.Equal(t, "#/components/schemas/InnerPage", r.schema(reflect.TypeOf(Page[inner]{}), modeResponse)["$ref"])
	require.Equal(t, "#/components/schemas/SamplePage", r.schema(reflect.TypeOf(Page[*sample]{}), modeResponse)["$ref"])
}

func TestBuildRefusesUndescribedAndDuplicateRoutes(t *testing.T) {
	cfg := Config{Error: inner{}}
	ok := Route{Method: "GET", Path: "/a/{id}", Access: Bearer, Op: Describe("A").Out(200, inner{})}
	_, err := Build(cfg, []Route{ok, {Method: "POST", Path: "/b"}})
	require.ErrorContains(t, err, "POST /b: no description")
	_, err = Build(cfg, []Route{ok, ok})
	require.ErrorContains(t, err, "GET /a/{id}: described twice")

	doc, err := Build(cfg, []Route{ok, {Method: "GET", Path: "/files/{path:*}", Op: Describe("F").Bytes(200, "*/*", "bytes")}})
	require.NoError(t, err)
	paths := doc["paths"].(map[string]any)
	require.Contains(t, paths, "/files/{path}", "a catch-all is a plain parameter")
	op := paths["/a/{id}"].(map[string]any)["get"].(map[string]any)
	responses := op["responses"].(map[string]any)
	for _, status := range []string{"200", "401", "404", "429", "default"} {
		require.Contains(t, responses, status)
	}
	require.NotContains(t, responses, "403", "403 is for admin routes")
	require.Equal(t, []any{map[string]any{"bearer": []any{}}}, op["security"])
	public := paths["/files/{path}"].(map[string]any)["get"].(map[string]any)
	require.Equal(t, []any{}, public["security"])
}

func TestOpenAPIPath(t *testing.T) {
	require.Equal(t, "/a/{id}/b/{rest}", OpenAPIPath("/a/{id}/b/{rest:*}"))
	require.True(t, strings.HasPrefix(operationID(Route{Method: "GET", Path: "/api/v1/x/{id}"}), "get_api_v1_x"))
}
