package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCMcpServers manages MCP servers over gRPC with the rules REST
// has: admins add global servers, a member cannot, tools are listed from
// the real server, a masked update changes only what it names, and
// delete ends it.
func TestGRPCMcpServers(t *testing.T) {
	g := startGRPCServer(t, nil)
	// Started after the server, so it stops before the leak check.
	mcpSrv := newMCPTestServer(nil, nil)
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpSrv }, nil))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	ctx := t.Context()
	admin := g.register(t, "admin@example.com", "password123").Token
	member := g.register(t, "member@example.com", "password123").Token
	const svc = "/seshat.v1.McpService/"

	var created seshatv1.CreateMcpServerResponse
	require.NoError(t, g.invoke(ctx, admin, svc+"CreateMcpServer", &seshatv1.CreateMcpServerRequest{
		Name: "web", Transport: "streamable_http", Url: hs.URL, RequireApproval: "never",
	}, &created))
	srv := created.GetServer()
	require.Equal(t, "web", srv.GetName())
	require.Equal(t, "global", srv.GetScope())
	require.True(t, srv.GetEnabled(), "enabled defaults to true")
	require.NotNil(t, srv.GetCreatedAt())

	err := g.invoke(ctx, member, svc+"CreateMcpServer", &seshatv1.CreateMcpServerRequest{
		Name: "theirs", Transport: "streamable_http", Url: hs.URL,
	}, &seshatv1.CreateMcpServerResponse{})
	code, info := errorInfo(t, err)
	require.Equal(t, codes.PermissionDenied, code)
	require.Equal(t, "forbidden", info.GetReason())

	var tools seshatv1.ListMcpServerToolsResponse
	require.NoError(t, g.invoke(ctx, admin, svc+"ListMcpServerTools", &seshatv1.ListMcpServerToolsRequest{Id: srv.GetId()}, &tools))
	names := map[string]bool{}
	for _, tl := range tools.GetData() {
		names[tl.GetName()] = tl.GetReadOnly()
	}
	require.Equal(t, map[string]bool{"echo": true, "slow": false}, names)
	require.NotNil(t, tools.GetData()[0].GetInputSchema())

	var tested seshatv1.TestMcpServerResponse
	require.NoError(t, g.invoke(ctx, admin, svc+"TestMcpServer", &seshatv1.TestMcpServerRequest{Id: srv.GetId()}, &tested))
	require.True(t, tested.GetOk(), tested.GetError())
	require.EqualValues(t, 2, tested.GetToolsCount())

	// A masked update changes only require_approval, although the body
	// carries another name.
	var updated seshatv1.UpdateMcpServerResponse
	require.NoError(t, g.invoke(ctx, admin, svc+"UpdateMcpServer", &seshatv1.UpdateMcpServerRequest{
		Id:         srv.GetId(),
		Server:     &seshatv1.CreateMcpServerRequest{Name: "renamed", RequireApproval: "writes"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"require_approval"}},
	}, &updated))
	require.Equal(t, "web", updated.GetServer().GetName())
	require.Equal(t, "writes", updated.GetServer().GetRequireApproval())
	err = g.invoke(ctx, admin, svc+"UpdateMcpServer", &seshatv1.UpdateMcpServerRequest{
		Id: srv.GetId(), Server: &seshatv1.CreateMcpServerRequest{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}},
	}, &seshatv1.UpdateMcpServerResponse{})
	code, _ = errorInfo(t, err)
	require.Equal(t, codes.InvalidArgument, code)

	var list seshatv1.ListMcpServersResponse
	require.NoError(t, g.invoke(ctx, member, svc+"ListMcpServers", &seshatv1.ListMcpServersRequest{}, &list))
	require.Len(t, list.GetData(), 1, "members see global servers")

	require.NoError(t, g.invoke(ctx, admin, svc+"DeleteMcpServer", &seshatv1.DeleteMcpServerRequest{Id: srv.GetId()}, &seshatv1.DeleteMcpServerResponse{}))
	err = g.invoke(ctx, admin, svc+"GetMcpServer", &seshatv1.GetMcpServerRequest{Id: srv.GetId()}, &seshatv1.GetMcpServerResponse{})
	code, _ = errorInfo(t, err)
	require.Equal(t, codes.NotFound, code)
}
