package grpcapi

import "github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"

// mcpService answers every McpService call with Unimplemented until the
// MCP family is wired: declare the family service's interface here, add it to
// Deps, and give each RPC a handler that translates it to one call, as
// sessions.go does.
func (s *Server) mcpService() seshatv1connect.McpServiceHandler {
	return seshatv1connect.UnimplementedMcpServiceHandler{}
}
