package httpapi

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apitype"
)

// ToolFamily is what the MCP server and web search routes need: the
// family's services behind a narrow interface (cmd/seshat adapts
// mcpconn and websearch to it). admin says whether the caller is a
// server admin.
type ToolFamily interface {
	CreateMCPServer(ctx context.Context, userID string, admin bool, req apitype.MCPServerRequest) (apitype.MCPServer, error)
	ListMCPServers(ctx context.Context, userID string, admin bool, workspaceID string) ([]apitype.MCPServer, error)
	GetMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPServer, error)
	UpdateMCPServer(ctx context.Context, userID string, admin bool, id string, req apitype.MCPServerRequest) (apitype.MCPServer, error)
	DeleteMCPServer(ctx context.Context, userID string, admin bool, id string) error
	MCPServerTools(ctx context.Context, userID string, admin bool, id string) ([]apitype.MCPTool, error)
	TestMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPTestResult, error)

	WebSearchSettings(ctx context.Context) (apitype.WebSearchSettings, error)
	PutWebSearchSettings(ctx context.Context, req apitype.WebSearchSettingsRequest) (apitype.WebSearchSettings, error)
	TestWebSearch(ctx context.Context) (apitype.WebSearchTestResult, error)
	WebSearch(ctx context.Context, userID string, req apitype.WebSearchRequest) (apitype.WebSearchResponse, error)
}

// tools returns the family, or a 503 when the server runs without it.
func (s *Server) tools() (ToolFamily, error) {
	if s.deps.Tools == nil {
		return nil, &Error{Status: fasthttp.StatusServiceUnavailable, Code: CodeOverloaded, Msg: "MCP servers and web search are not configured"}
	}
	return s.deps.Tools, nil
}

func isAdmin(ctx *fasthttp.RequestCtx) bool { return principal(ctx).Role == "admin" }

// POST /api/v1/mcp/servers → 201 server.
func (s *Server) createMCPServer(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	var req apitype.MCPServerRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := t.CreateMCPServer(s.opCtx, principal(ctx).UserID, isAdmin(ctx), req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusCreated, v)
}

// GET /api/v1/mcp/servers?workspace_id= → 200 {data}.
func (s *Server) listMCPServers(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	list, err := t.ListMCPServers(s.opCtx, principal(ctx).UserID, isAdmin(ctx), string(ctx.QueryArgs().Peek("workspace_id")))
	if err != nil {
		return err
	}
	if list == nil {
		list = []apitype.MCPServer{}
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.MCPServerList{Data: list})
}

// GET /api/v1/mcp/servers/{id} → 200 server.
func (s *Server) getMCPServer(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	v, err := t.GetMCPServer(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// PATCH /api/v1/mcp/servers/{id} → 200 server.
func (s *Server) updateMCPServer(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	var req apitype.MCPServerRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := t.UpdateMCPServer(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"), req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// DELETE /api/v1/mcp/servers/{id} → 204.
func (s *Server) deleteMCPServer(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	if err := t.DeleteMCPServer(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// GET /api/v1/mcp/servers/{id}/tools → 200 {data}.
func (s *Server) mcpServerTools(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	list, err := t.MCPServerTools(s.baseCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []apitype.MCPTool{}
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.MCPToolList{Data: list})
}

// POST /api/v1/mcp/servers/{id}/test → 200 result.
func (s *Server) testMCPServer(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	v, err := t.TestMCPServer(s.baseCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// GET /api/v1/web/search/settings → 200 settings.
func (s *Server) getWebSearchSettings(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	v, err := t.WebSearchSettings(s.opCtx)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// PUT /api/v1/web/search/settings (admin) → 200 settings.
func (s *Server) putWebSearchSettings(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	var req apitype.WebSearchSettingsRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := t.PutWebSearchSettings(s.opCtx, req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// POST /api/v1/web/search/settings/test (admin) → 200 result.
func (s *Server) testWebSearchSettings(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	v, err := t.TestWebSearch(s.baseCtx)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// POST /api/v1/web/search → 200 results.
func (s *Server) webSearch(ctx *fasthttp.RequestCtx) error {
	t, err := s.tools()
	if err != nil {
		return err
	}
	var req apitype.WebSearchRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := t.WebSearch(s.baseCtx, principal(ctx).UserID, req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}
