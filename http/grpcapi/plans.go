package grpcapi

import "github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"

// planService answers every PlanService call with Unimplemented until the
// plans family is wired: declare the family service's interface here, add it to
// Deps, and give each RPC a handler that translates it to one call, as
// sessions.go does.
func (s *Server) planService() seshatv1connect.PlanServiceHandler {
	return seshatv1connect.UnimplementedPlanServiceHandler{}
}
