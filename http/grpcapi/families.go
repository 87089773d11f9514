package grpcapi

import (
	"fmt"

	"connectrpc.com/connect"
)

// The API families whose services are defined in proto/ but not wired
// here yet. Their services answer Unimplemented (see plans.go,
// agents.go), and so do request fields of the wired services that need
// them.
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
