package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/auth"
)

// ctxKey keys the values the gate puts in a call's context.
type ctxKey uint8

const (
	principalKey ctxKey = iota
	requestIDKey
)

// gate runs before any message is read: it gives the call a request id,
// resolves the `authorization: Bearer …` metadata with the REST server's
// resolver, and counts the call against the caller's request quota. A
// refused call never reaches the handler.
func (s *Server) gate(ctx context.Context, spec connect.Spec, _ connect.Peer, h http.Header) (context.Context, error) {
	ctx = context.WithValue(ctx, requestIDKey, agent.NewID(agent.PrefixRequest))
	p, err := s.authenticate(h)
	if err != nil {
		return ctx, s.toConnect(ctx, spec.Procedure, err)
	}
	return context.WithValue(ctx, principalKey, p), nil
}

func (s *Server) authenticate(h http.Header) (auth.Principal, error) {
	cred, ok := auth.BearerToken([]byte(h.Get("Authorization")))
	if !ok {
		return auth.Principal{}, fmt.Errorf("%w: no bearer credential in the authorization metadata", auth.ErrUnauthenticated)
	}
	p, err := s.deps.Auth.Authenticate(cred)
	if err != nil {
		return auth.Principal{}, err
	}
	if s.deps.Admitter != nil {
		if err := s.deps.Admitter.AdmitRequest(p.UserID); err != nil {
			return auth.Principal{}, err
		}
	}
	return p, nil
}

// errNoPrincipal means a handler ran without the gate: a wiring bug.
var errNoPrincipal = errors.New("grpcapi: call has no principal")

// caller returns the call's principal. Every API procedure is behind the
// gate, so a missing one is a bug, answered as 500.
func caller(ctx context.Context) (auth.Principal, error) {
	p, ok := ctx.Value(principalKey).(auth.Principal)
	if !ok {
		return auth.Principal{}, errNoPrincipal
	}
	return p, nil
}

// requestIDFrom returns the call's request id.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
