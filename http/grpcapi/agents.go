package grpcapi

import "github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"

// agentService answers every AgentService call with Unimplemented until the
// agent profiles family is wired: declare the family service's interface here, add it to
// Deps, and give each RPC a handler that translates it to one call, as
// sessions.go does.
func (s *Server) agentService() seshatv1connect.AgentServiceHandler {
	return seshatv1connect.UnimplementedAgentServiceHandler{}
}
