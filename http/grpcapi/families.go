package grpcapi

import (
	"fmt"

	"connectrpc.com/connect"
)

// The API families that request fields of the wired services need but
// that those services do not serve over gRPC yet (agent_slug of sessions
// and queries): such a field answers Unimplemented.
const (
	familyAgents = "agent profiles"
)

// notServed refuses a request field whose family this server does not
// serve yet, rather than ignoring what the caller asked for.
func notServed(family, field string, set bool) error {
	if !set {
		return nil
	}
	return connect.NewError(connect.CodeUnimplemented,
		fmt.Errorf("%s needs the %s family, which this server does not serve over gRPC yet", field, family))
}
