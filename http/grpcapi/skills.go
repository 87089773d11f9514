package grpcapi

import "github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"

// skillService answers every SkillService call with Unimplemented until the
// skills family is wired: declare the family service's interface here, add it to
// Deps, and give each RPC a handler that translates it to one call, as
// sessions.go does.
func (s *Server) skillService() seshatv1connect.SkillServiceHandler {
	return seshatv1connect.UnimplementedSkillServiceHandler{}
}
