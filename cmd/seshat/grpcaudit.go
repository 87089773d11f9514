package main

import (
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/grpcapi"
	"github.com/seshat-host/seshat/persist"
)

// grpcAudit is the gRPC API's audit log: the store's hash-chained log,
// with tenancy's lookup of where a resource belongs, as REST's.
type grpcAudit struct {
	*persist.Store
	*tenancy.Access
}

var _ grpcapi.AuditLog = grpcAudit{}
