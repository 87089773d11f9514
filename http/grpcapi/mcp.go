package grpcapi

import (
	"context"
	"maps"
	"time"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// MCP is what McpService needs of the MCP family: the same calls, in
// REST's types, as the REST handlers make. admin says whether the caller
// is a server admin.
type MCP interface {
	CreateMCPServer(ctx context.Context, userID string, admin bool, req apitype.MCPServerRequest) (apitype.MCPServer, error)
	ListMCPServers(ctx context.Context, userID string, admin bool, workspaceID string) ([]apitype.MCPServer, error)
	GetMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPServer, error)
	UpdateMCPServer(ctx context.Context, userID string, admin bool, id string, req apitype.MCPServerRequest) (apitype.MCPServer, error)
	DeleteMCPServer(ctx context.Context, userID string, admin bool, id string) error
	MCPServerTools(ctx context.Context, userID string, admin bool, id string) ([]apitype.MCPTool, error)
	TestMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPTestResult, error)
}

// mcpService translates McpService to MCP.
type mcpService struct {
	seshatv1connect.UnimplementedMcpServiceHandler
	rt MCP
}

func (s *Server) mcpService() seshatv1connect.McpServiceHandler {
	if s.deps.MCP == nil {
		return seshatv1connect.UnimplementedMcpServiceHandler{}
	}
	return mcpService{rt: s.deps.MCP}
}

// mcpCaller is the caller's user id and whether they are an admin.
func mcpCaller(ctx context.Context) (string, bool, error) {
	p, err := caller(ctx)
	return p.UserID, p.Role == "admin", err
}

func (h mcpService) CreateMcpServer(ctx context.Context, req *connect.Request[seshatv1.CreateMcpServerRequest]) (*connect.Response[seshatv1.CreateMcpServerResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := h.rt.CreateMCPServer(ctx, uid, admin, mcpRequestOf(req.Msg, nil))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateMcpServerResponse{Server: mcpServerOf(srv)}), nil
}

func (h mcpService) ListMcpServers(ctx context.Context, req *connect.Request[seshatv1.ListMcpServersRequest]) (*connect.Response[seshatv1.ListMcpServersResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.ListMCPServers(ctx, uid, admin, req.Msg.GetWorkspaceId())
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListMcpServersResponse{Data: make([]*seshatv1.McpServer, len(list))}
	for i, s := range list {
		out.Data[i] = mcpServerOf(s)
	}
	return connect.NewResponse(out), nil
}

func (h mcpService) GetMcpServer(ctx context.Context, req *connect.Request[seshatv1.GetMcpServerRequest]) (*connect.Response[seshatv1.GetMcpServerResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := h.rt.GetMCPServer(ctx, uid, admin, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetMcpServerResponse{Server: mcpServerOf(srv)}), nil
}

func (h mcpService) UpdateMcpServer(ctx context.Context, req *connect.Request[seshatv1.UpdateMcpServerRequest]) (*connect.Response[seshatv1.UpdateMcpServerResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	body := req.Msg.GetServer()
	if body == nil {
		return nil, apierr.Invalid("server is required")
	}
	var paths []string
	if m := req.Msg.GetUpdateMask(); m != nil {
		paths = m.GetPaths()
		if len(paths) == 0 {
			paths = nil
		}
	}
	upd, err := mcpUpdateOf(body, paths)
	if err != nil {
		return nil, err
	}
	srv, err := h.rt.UpdateMCPServer(ctx, uid, admin, req.Msg.GetId(), upd)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateMcpServerResponse{Server: mcpServerOf(srv)}), nil
}

func (h mcpService) DeleteMcpServer(ctx context.Context, req *connect.Request[seshatv1.DeleteMcpServerRequest]) (*connect.Response[seshatv1.DeleteMcpServerResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteMCPServer(ctx, uid, admin, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteMcpServerResponse{}), nil
}

func (h mcpService) ListMcpServerTools(ctx context.Context, req *connect.Request[seshatv1.ListMcpServerToolsRequest]) (*connect.Response[seshatv1.ListMcpServerToolsResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	tools, err := h.rt.MCPServerTools(ctx, uid, admin, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListMcpServerToolsResponse{Data: make([]*seshatv1.McpTool, len(tools))}
	for i, t := range tools {
		out.Data[i] = &seshatv1.McpTool{Name: t.Name, Description: t.Description, InputSchema: structOf(t.InputSchema), ReadOnly: t.ReadOnly}
	}
	return connect.NewResponse(out), nil
}

func (h mcpService) TestMcpServer(ctx context.Context, req *connect.Request[seshatv1.TestMcpServerRequest]) (*connect.Response[seshatv1.TestMcpServerResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.rt.TestMCPServer(ctx, uid, admin, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.TestMcpServerResponse{
		Ok: r.OK, ProtocolVersion: r.ProtocolVersion, ToolsCount: int32(min(r.ToolsCount, 1<<31-1)), LatencyMs: r.LatencyMS, Error: r.Error,
	}), nil
}

// mcpFields are the create fields an update mask may name.
var mcpFields = map[string]bool{
	"name": true, "transport": true, "command": true, "args": true, "env": true, "url": true,
	"headers": true, "workspace_id": true, "enabled": true, "tool_filter": true, "require_approval": true,
}

// mcpUpdateOf is REST's PATCH body for an update: the fields paths names,
// or, without a mask, every field that is set.
func mcpUpdateOf(m *seshatv1.CreateMcpServerRequest, paths []string) (apitype.MCPServerRequest, error) {
	if paths == nil {
		return mcpRequestOf(m, nil), nil
	}
	only := make(map[string]bool, len(paths))
	for _, p := range paths {
		if !mcpFields[p] {
			return apitype.MCPServerRequest{}, apierr.Invalid("update_mask: unknown field " + p)
		}
		only[p] = true
	}
	return mcpRequestOf(m, only), nil
}

// mcpRequestOf is REST's body for m. With only nil, the fields that are
// set; else exactly the fields only names, set or not.
func mcpRequestOf(m *seshatv1.CreateMcpServerRequest, only map[string]bool) apitype.MCPServerRequest {
	var r apitype.MCPServerRequest
	take := func(name string, set bool) bool {
		if only != nil {
			return only[name]
		}
		return set
	}
	if take("name", m.GetName() != "") {
		r.Name = ptr(m.GetName())
	}
	if take("transport", m.GetTransport() != "") {
		r.Transport = ptr(m.GetTransport())
	}
	if take("command", m.GetCommand() != "") {
		r.Command = ptr(m.GetCommand())
	}
	if take("args", len(m.GetArgs()) > 0) {
		r.Args = ptr(append([]string{}, m.GetArgs()...))
	}
	if take("env", len(m.GetEnv()) > 0) {
		r.Env = ptr(maps.Clone(m.GetEnv()))
	}
	if take("url", m.GetUrl() != "") {
		r.URL = ptr(m.GetUrl())
	}
	if take("headers", len(m.GetHeaders()) > 0) {
		r.Headers = ptr(maps.Clone(m.GetHeaders()))
	}
	if take("workspace_id", m.GetWorkspaceId() != "") {
		r.WorkspaceID = ptr(m.GetWorkspaceId())
	}
	if take("enabled", m.Enabled != nil) {
		r.Enabled = ptr(m.GetEnabled())
	}
	if take("tool_filter", m.GetToolFilter() != nil) {
		f := m.GetToolFilter()
		r.ToolFilter = &apitype.MCPToolFilter{Allow: f.GetAllow(), Deny: f.GetDeny()}
	}
	if take("require_approval", m.GetRequireApproval() != "") {
		r.RequireApproval = ptr(m.GetRequireApproval())
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func mcpServerOf(s apitype.MCPServer) *seshatv1.McpServer {
	return &seshatv1.McpServer{
		Id: s.ID, Name: s.Name, Transport: s.Transport, Command: s.Command, Args: s.Args, Url: s.URL,
		EnvSet: s.EnvSet, HeadersSet: s.HeadersSet, Scope: s.Scope, WorkspaceId: s.WorkspaceID, Enabled: s.Enabled,
		ToolFilter:      &seshatv1.ToolFilter{Allow: s.ToolFilter.Allow, Deny: s.ToolFilter.Deny},
		RequireApproval: s.RequireApproval, Status: s.Status, LastError: s.LastError, ProtocolVersion: s.ProtocolVersion,
		ToolsCount: int32(min(s.ToolsCount, 1<<31-1)),
		CreatedAt:  timestamp(parseRFC3339(s.CreatedAt)), UpdatedAt: timestamp(parseRFC3339(s.UpdatedAt)),
	}
}

// parseRFC3339 reads REST's timestamps; a malformed one is the zero time.
func parseRFC3339(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
