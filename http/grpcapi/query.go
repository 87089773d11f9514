package grpcapi

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apierr"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Turns is what QueryService needs of the runtime. *host.Host implements
// it.
type Turns interface {
	StartTurn(ctx context.Context, userID string, req host.TurnRequest) (*host.Turn, error)
	Query(ctx context.Context, userID string, req host.TurnRequest) (*agent.QueryResult, error)
	Attach(ctx context.Context, userID, id string, after uint64) (*host.Stream, error)
}

// headerSessionID names a streamed turn's session in the response
// metadata, as REST's X-Seshat-Session-Id does.
const headerSessionID = "X-Seshat-Session-Id"

// queryService translates QueryService to Turns.
type queryService struct {
	seshatv1connect.UnimplementedQueryServiceHandler
	s  *Server
	rt Turns
}

func (s *Server) queryService() seshatv1connect.QueryServiceHandler {
	if s.deps.Turns == nil {
		return seshatv1connect.UnimplementedQueryServiceHandler{}
	}
	return queryService{s: s, rt: s.deps.Turns}
}

// queryFields are the fields QueryRequest and QueryStreamRequest share.
type queryFields interface {
	GetPrompt() string
	GetSessionId() string
	GetWorkspaceId() string
	GetModel() string
	GetProviderSettingId() string
	GetCorpusId() string
	GetAgentSlug() string
	GetPermissionMode() string
	GetMaxTurns() int32
	GetSystemPrompt() string
}

// turnRequest checks a query body as REST does and translates it.
func turnRequest(m queryFields) (host.TurnRequest, error) {
	if m.GetPrompt() == "" {
		return host.TurnRequest{}, apierr.Invalid("prompt is required")
	}
	if m.GetMaxTurns() < 0 || m.GetMaxTurns() > 1000 {
		return host.TurnRequest{}, apierr.Invalid("max_turns must be from 1 to 1000")
	}
	tr := host.TurnRequest{SessionID: m.GetSessionId(), WorkspaceID: m.GetWorkspaceId(), Prompt: m.GetPrompt()}
	tr.Model, tr.ProviderSettingID, tr.SystemPrompt = m.GetModel(), m.GetProviderSettingId(), m.GetSystemPrompt()
	tr.PermissionMode, tr.MaxTurns = m.GetPermissionMode(), int(m.GetMaxTurns())
	tr.AgentSlug = m.GetAgentSlug()
	if id := m.GetCorpusId(); id != "" {
		tr.Context.CorpusIDs = []string{id}
	}
	return tr, nil
}

// Query runs a turn to its end. The wait ends when the client goes away
// (the turn goes on) or when the server shuts down (Unavailable; the host
// records the turn as interrupted).
func (h queryService) Query(ctx context.Context, req *connect.Request[seshatv1.QueryRequest]) (*connect.Response[seshatv1.QueryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	tr, err := turnRequest(req.Msg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.s.baseCtx, cancel)()
	res, err := h.rt.Query(ctx, p.UserID, tr)
	if err != nil {
		if h.s.baseCtx.Err() != nil {
			return nil, agent.ErrClosed
		}
		return nil, err
	}
	out, err := queryResponseOf(res)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// QueryStream starts a turn and streams it. A rejection is the call's
// status; the stream starts only once the session accepted the turn.
func (h queryService) QueryStream(ctx context.Context, req *connect.Request[seshatv1.QueryStreamRequest], out *connect.ServerStream[seshatv1.QueryStreamResponse]) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	tr, err := turnRequest(req.Msg)
	if err != nil {
		return err
	}
	tr.Stream = true
	t, err := h.rt.StartTurn(ctx, p.UserID, tr)
	if err != nil {
		return err
	}
	out.ResponseHeader().Set(headerSessionID, t.SessionID)
	noteAudit(ctx).set("turn_id", t.TurnID)
	return h.s.pump(ctx, t.Events, func(ev *seshatv1.Event) error {
		return out.Send(&seshatv1.QueryStreamResponse{Event: ev})
	})
}

// Attach re-attaches to a session's current or last turn after an event
// id.
func (h queryService) Attach(ctx context.Context, req *connect.Request[seshatv1.AttachRequest], out *connect.ServerStream[seshatv1.AttachResponse]) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	st, err := h.rt.Attach(ctx, p.UserID, req.Msg.Id, req.Msg.After)
	if err != nil {
		return err
	}
	return h.s.pump(ctx, st, func(ev *seshatv1.Event) error {
		return out.Send(&seshatv1.AttachResponse{Event: ev})
	})
}

// Messages of the status that ends a stream the turn did not end.
const msgStreamDropped = "stream dropped: the client fell behind; re-attach with Attach after the last event id"

// pump sends st's replay, then its live events, until the turn's done or
// error event. It ends early when the client goes away (its subscription
// ends, nothing else), when the session dropped the subscription
// (Aborted, stream_dropped), when a send waits past StreamWriteTimeout, or
// at shutdown (Unavailable). It closes st in every case.
func (s *Server) pump(ctx context.Context, st *host.Stream, send func(*seshatv1.Event) error) error {
	defer st.Close()
	write := func(ev *agent.Event) (bool, error) {
		setWriteDeadline(ctx, s.cfg.StreamWriteTimeout)
		if err := send(eventOf(ev)); err != nil {
			return true, err
		}
		// An event without an id is the session's last word to this
		// stream alone (see session.EndUser and the idle lifetime).
		return ev.Kind == agent.KindDone || ev.Kind == agent.KindError || ev.ID == 0, nil
	}
	for i := range st.Replay {
		if end, err := write(&st.Replay[i]); end {
			return err
		}
	}
	for {
		select {
		case ev, ok := <-st.C:
			if !ok {
				return withInfo(connect.NewError(connect.CodeAborted, errors.New(msgStreamDropped)),
					apierr.CodeStreamDropped, requestIDFrom(ctx), nil)
			}
			if end, err := write(ev); end {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.baseCtx.Done():
			return agent.ErrClosed
		}
	}
}

var _ seshatv1connect.QueryServiceHandler = queryService{}
