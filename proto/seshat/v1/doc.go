// Package seshatv1 holds the messages of the gRPC API (protobuf package
// seshat.v1), generated from the .proto files beside it by `make
// generate`; only this file is written by hand. The field names are the
// REST API's snake_case names, so that Connect's JSON (with proto names)
// reads like REST.
//
// It imports only google.golang.org/protobuf; http/grpcapi serves it and
// seshatv1connect holds its service stubs.
package seshatv1
