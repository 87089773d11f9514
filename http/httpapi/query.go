package httpapi

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apitype"
)

// turnRequest decodes and checks a query body.
func turnRequest(ctx *fasthttp.RequestCtx) (host.TurnRequest, error) {
	var req apitype.QueryRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return host.TurnRequest{}, err
	}
	if req.Prompt == "" {
		return host.TurnRequest{}, invalid("prompt is required")
	}
	if req.MaxTurns < 0 || req.MaxTurns > 1000 {
		return host.TurnRequest{}, invalid("max_turns must be from 1 to 1000")
	}
	tr := host.TurnRequest{SessionID: req.SessionID, WorkspaceID: req.WorkspaceID, Prompt: req.Prompt}
	tr.Model, tr.ProviderSettingID = req.Model, req.ProviderSettingID
	tr.SystemPrompt, tr.PermissionMode, tr.MaxTurns = req.SystemPrompt, req.PermissionMode, req.MaxTurns
	if req.CorpusID != "" {
		tr.Context.CorpusIDs = []string{req.CorpusID}
	}
	tr.AgentSlug = req.AgentSlug
	return tr, nil
}

// query runs a turn to its end. The wait ends with the server's base
// context: at shutdown the client gets 503 and the turn is recorded as
// interrupted by the host.
func (s *Server) query(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	req, err := turnRequest(ctx)
	if err != nil {
		return err
	}
	res, err := s.deps.Runtime.Query(s.baseCtx, p.UserID, req)
	if err != nil {
		if errors.Is(err, s.baseCtx.Err()) && s.baseCtx.Err() != nil {
			return agent.ErrClosed
		}
		return err
	}
	noteAudit(ctx).resource(res.SessionID, "")
	noteAudit(ctx).set("turn_id", res.TurnID)
	return writeJSON(ctx, fasthttp.StatusOK, res)
}

// queryStream starts a turn and streams it. A rejection is a real status
// code; the stream starts only once the session accepted the turn.
func (s *Server) queryStream(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	req, err := turnRequest(ctx)
	if err != nil {
		return err
	}
	req.Stream = true
	t, err := s.deps.Runtime.StartTurn(s.opCtx, p.UserID, req)
	if err != nil {
		return err
	}
	ctx.Response.Header.Set("X-Seshat-Session-Id", t.SessionID)
	noteAudit(ctx).resource(t.SessionID, "")
	noteAudit(ctx).set("turn_id", t.TurnID)
	s.serveStream(ctx, t.Events)
	return nil
}

// attachStream re-attaches to a session's current or last turn after the
// Last-Event-ID header (or the `after` query parameter).
func (s *Server) attachStream(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	after, err := parseCursor(ctx)
	if err != nil {
		return err
	}
	st, err := s.deps.Runtime.Attach(s.opCtx, p.UserID, pathParam(ctx, "id"), after)
	if err != nil {
		return err
	}
	s.serveStream(ctx, st)
	return nil
}
