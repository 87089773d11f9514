package grpcapi

import "github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"

// corpusService answers every CorpusService call with Unimplemented until the
// knowledge family (corpora, ingestion, search) is wired: declare the family service's interface here, add it to
// Deps, and give each RPC a handler that translates it to one call, as
// sessions.go does.
func (s *Server) corpusService() seshatv1connect.CorpusServiceHandler {
	return seshatv1connect.UnimplementedCorpusServiceHandler{}
}
