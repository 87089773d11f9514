package httpapi

import (
	"encoding/json"

	"github.com/seshat-host/seshat/http/apispec"
	"github.com/seshat-host/seshat/http/apitype"
)

// openAPIDescription introduces the OpenAPI document.
const openAPIDescription = "The native API of Seshat host (`/api/v1`), its Anthropic-compatible Messages API " +
	"(`/v1`), health and metrics, and the web console. Errors of the native API are `{error, code, request_id}`; " +
	"streams are Server-Sent Events whose frames are described by the `StreamFrame` schema."

// streamEvents are the events of every session stream.
var streamEvents = []apispec.StreamEvent{
	{Name: "", Data: apitype.Delta{}, Numbered: true, Description: "A response chunk: type text_delta (or thinking_delta) with its text."},
	{Name: "runtime", Data: apitype.RuntimeEvent{}, Numbered: true, Description: "A runtime event; its type is one of session (always first), " +
		"tool_started, tool_progress, tool_finished, permission_request, permission_resolved, prompt_request, prompt_resolved, " +
		"interrupted, rag_results, memory_recalled, plan_proposed, skills_truncated, resync, idle_timeout."},
	{Name: "done", Data: apitype.QueryResponse{}, Numbered: true, Description: "The turn ended; the server then closes the stream."},
	{Name: "error", Data: apitype.StreamError{}, Numbered: true, Description: "The turn failed; the server then closes the stream."},
	{Name: "error", Data: apitype.StreamError{}, Numbered: false, Description: "Without an id: the stream (not the turn) ended early " +
		"(the client fell behind, the server is shutting down, or the account was disabled); re-attach with Last-Event-ID."},
	{Name: "runtime", Data: apitype.RuntimeEvent{}, Numbered: false, Description: "Without an id, type idle_timeout: the stream followed " +
		"a session with no running turn for SESHAT_SSE_IDLE_LIFETIME and ends; re-attach to go on."},
}

// buildOpenAPI renders the OpenAPI document of the route table.
func (s *Server) buildOpenAPI() ([]byte, error) {
	doc, err := apispec.Build(apispec.Config{
		Title:       "Seshat host API",
		Version:     "v1",
		Description: openAPIDescription,
		Error:       apitype.Error{},
		Stream:      streamEvents,
	}, s.specRoutes())
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// specRoutes is the route table as apispec reads it.
func (s *Server) specRoutes() []apispec.Route {
	rts := s.routes()
	out := make([]apispec.Route, len(rts))
	for i, rt := range rts {
		out[i] = apispec.Route{Method: rt.method, Path: rt.path, Access: apispec.Access(rt.access),
			APIKeyHeader: rt.surface == anthropicSurface, Op: rt.doc}
	}
	return out
}
