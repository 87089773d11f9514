package grpcapi

import (
	"context"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Sessions is what SessionService needs of the runtime. *host.Host
// implements it.
type Sessions interface {
	CreateSession(ctx context.Context, userID string, o host.SessionOptions) (persist.Session, error)
	ListSessions(ctx context.Context, userID string, q persist.SessionQuery) ([]persist.Session, string, error)
	GetSession(ctx context.Context, userID, id string) (host.SessionView, error)
	UpdateSession(ctx context.Context, userID, id string, u host.SessionUpdate) (host.SessionView, error)
	DeleteSession(ctx context.Context, userID, id string) error
	Interrupt(ctx context.Context, userID, id string) (bool, error)
}

// maxListLimit caps a session listing's limit, as REST does.
const maxListLimit = 200

// sessionService translates SessionService to Sessions.
type sessionService struct {
	seshatv1connect.UnimplementedSessionServiceHandler
	rt Sessions
}

func (s *Server) sessionService() seshatv1connect.SessionServiceHandler {
	if s.deps.Sessions == nil {
		return seshatv1connect.UnimplementedSessionServiceHandler{}
	}
	return sessionService{rt: s.deps.Sessions}
}

func (h sessionService) CreateSession(ctx context.Context, req *connect.Request[seshatv1.CreateSessionRequest]) (*connect.Response[seshatv1.CreateSessionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	o := host.SessionOptions{
		WorkspaceID: m.WorkspaceId, Title: m.Title, Model: m.Model, SystemPrompt: m.SystemPrompt, PermissionMode: m.PermissionMode,
		AgentSlug: m.AgentSlug, Context: agent.TurnContext{CorpusIDs: m.CorpusIds},
	}
	if mem := m.Memory; mem != nil {
		if mem.Extract != agent.MemoryExtractAuto && mem.Extract != agent.MemoryExtractOff {
			return nil, apierr.Invalid(`memory.extract must be "auto" or "off"`)
		}
		o.Context.Memory = &agent.MemoryPolicy{Extract: mem.Extract, Inject: mem.Inject == nil || *mem.Inject}
	}
	rec, err := h.rt.CreateSession(ctx, p.UserID, o)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateSessionResponse{Session: sessionOf(rec)}), nil
}

func (h sessionService) ListSessions(ctx context.Context, req *connect.Request[seshatv1.ListSessionsRequest]) (*connect.Response[seshatv1.ListSessionsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Limit < 0 || m.Limit > maxListLimit {
		return nil, apierr.Invalid("limit must be a number from 1 to 200")
	}
	q := persist.SessionQuery{Q: m.Q, Cursor: m.Cursor, Limit: int(m.Limit)}
	if m.WorkspaceId != "" {
		q.WorkspaceIDs = []string{m.WorkspaceId}
	}
	items, next, err := h.rt.ListSessions(ctx, p.UserID, q)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListSessionsResponse{Data: make([]*seshatv1.Session, len(items)), NextCursor: next}
	for i, r := range items {
		out.Data[i] = sessionOf(r)
	}
	return connect.NewResponse(out), nil
}

func (h sessionService) GetSession(ctx context.Context, req *connect.Request[seshatv1.GetSessionRequest]) (*connect.Response[seshatv1.GetSessionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	v, err := h.rt.GetSession(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetSessionResponse{Session: sessionViewOf(v)}), nil
}

func (h sessionService) UpdateSession(ctx context.Context, req *connect.Request[seshatv1.UpdateSessionRequest]) (*connect.Response[seshatv1.UpdateSessionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	v, err := h.rt.UpdateSession(ctx, p.UserID, m.Id, host.SessionUpdate{
		Title: m.Title, Model: m.Model, SystemPrompt: m.SystemPrompt, PermissionMode: m.PermissionMode,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateSessionResponse{Session: sessionOf(v.Session)}), nil
}

func (h sessionService) DeleteSession(ctx context.Context, req *connect.Request[seshatv1.DeleteSessionRequest]) (*connect.Response[seshatv1.DeleteSessionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteSession(ctx, p.UserID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteSessionResponse{}), nil
}

func (h sessionService) InterruptSession(ctx context.Context, req *connect.Request[seshatv1.InterruptSessionRequest]) (*connect.Response[seshatv1.InterruptSessionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ok, err := h.rt.Interrupt(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.InterruptSessionResponse{Interrupted: ok}), nil
}

var _ seshatv1connect.SessionServiceHandler = sessionService{}
