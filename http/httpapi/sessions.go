package httpapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Sessions is what the session, query and stream handlers need of the
// runtime. *host.Host implements it; a cluster-backed host could too.
type Sessions interface {
	CreateSession(ctx context.Context, userID string, o host.SessionOptions) (persist.Session, error)
	ListSessions(ctx context.Context, userID string, q persist.SessionQuery) ([]persist.Session, string, error)
	GetSession(ctx context.Context, userID, id string) (host.SessionView, error)
	UpdateSession(ctx context.Context, userID, id string, u host.SessionUpdate) (host.SessionView, error)
	DeleteSession(ctx context.Context, userID, id string) error
	StartTurn(ctx context.Context, userID string, req host.TurnRequest) (*host.Turn, error)
	Query(ctx context.Context, userID string, req host.TurnRequest) (*agent.QueryResult, error)
	Attach(ctx context.Context, userID, id string, after uint64) (*host.Stream, error)
	Interrupt(ctx context.Context, userID, id string) (bool, error)
	DecidePermission(ctx context.Context, userID, id, requestID string, allow, remember bool, reason string) error
	AnswerPrompt(ctx context.Context, userID, id, requestID, answer string) error
}

func (s *Server) createSession(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateSessionRequest
	if err := decodeJSONOrEmpty(ctx, &req); err != nil {
		return err
	}
	mem, err := memoryPolicy(req.Memory)
	if err != nil {
		return err
	}
	rec, err := s.deps.Runtime.CreateSession(s.opCtx, p.UserID, host.SessionOptions{
		WorkspaceID: req.WorkspaceID, Title: req.Title, Model: req.Model,
		SystemPrompt: req.SystemPrompt, PermissionMode: req.PermissionMode, AgentSlug: req.AgentSlug,
		Context: agent.TurnContext{CorpusIDs: req.CorpusIDs, Memory: mem},
	})
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(rec.ID, rec.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, sessionOf(rec))
}

func (s *Server) listSessions(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	args := ctx.QueryArgs()
	q := persist.SessionQuery{Q: string(args.Peek("q")), Cursor: string(args.Peek("cursor"))}
	if ws := string(args.Peek("workspace_id")); ws != "" {
		q.WorkspaceIDs = []string{ws}
	}
	if l := args.Peek("limit"); len(l) > 0 {
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 1 || n > 200 {
			return invalid("limit must be a number from 1 to 200")
		}
		q.Limit = n
	}
	items, next, err := s.deps.Runtime.ListSessions(s.opCtx, p.UserID, q)
	if err != nil {
		return err
	}
	out := apitype.SessionList{Data: make([]apitype.Session, len(items)), NextCursor: next}
	for i, r := range items {
		out.Data[i] = sessionOf(r)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

func (s *Server) getSession(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	v, err := s.deps.Runtime.GetSession(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, sessionViewOf(v))
}

func (s *Server) updateSession(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateSessionRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Runtime.UpdateSession(s.opCtx, p.UserID, pathParam(ctx, "id"), host.SessionUpdate{
		Title: req.Title, Model: req.Model, SystemPrompt: req.SystemPrompt, PermissionMode: req.PermissionMode,
	})
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, sessionOf(v.Session))
}

func (s *Server) deleteSession(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Runtime.DeleteSession(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) interruptSession(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	ok, err := s.deps.Runtime.Interrupt(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.Interrupted{Interrupted: ok})
}

func (s *Server) decidePermission(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.PermissionDecision
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	if req.Decision != agent.DecisionAllow && req.Decision != agent.DecisionDeny {
		return invalid(`decision must be "allow" or "deny"`)
	}
	rid := pathParam(ctx, "request_id")
	noteAudit(ctx).set("decision", req.Decision)
	noteAudit(ctx).set("remember", strconv.FormatBool(req.Remember))
	if err := s.deps.Runtime.DecidePermission(s.opCtx, p.UserID, pathParam(ctx, "id"), rid,
		req.Decision == agent.DecisionAllow, req.Remember, req.Reason); err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.PermissionDecided{RequestID: rid, Decision: req.Decision})
}

func (s *Server) answerPrompt(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.PromptAnswer
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	rid := pathParam(ctx, "request_id")
	if err := s.deps.Runtime.AnswerPrompt(s.opCtx, p.UserID, pathParam(ctx, "id"), rid, req.Answer); err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.PromptAnswered{RequestID: rid, Answered: true})
}

// decodeJSONOrEmpty is decodeJSON for routes whose every field is optional:
// an empty body is an empty object.
func decodeJSONOrEmpty(ctx *fasthttp.RequestCtx, v any) error {
	if len(ctx.PostBody()) == 0 {
		return nil
	}
	return decodeJSON(ctx, v)
}

func sessionOf(r persist.Session) apitype.Session {
	out := apitype.Session{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Title: r.Title, Model: r.Model, SystemPrompt: r.SystemPrompt,
		PermissionMode: r.PermissionMode, Status: r.Status, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		MessageCount: r.MessageCount, Usage: apitype.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens},
		AgentID: r.AgentID, AgentVersion: r.AgentVersion, CorpusIDs: r.CorpusIDs,
	}
	if out.CorpusIDs == nil {
		out.CorpusIDs = []string{}
	}
	if r.Memory != nil {
		out.Memory = &apitype.SessionMemory{Extract: r.Memory.Extract, Inject: r.Memory.Inject}
	}
	return out
}

// memoryPolicy checks a memory setting of a request.
func memoryPolicy(m *apitype.SessionMemory) (*agent.MemoryPolicy, error) {
	if m == nil {
		return nil, nil
	}
	switch m.Extract {
	case agent.MemoryExtractAuto, agent.MemoryExtractOff:
	default:
		return nil, invalid(`memory.extract must be "auto" or "off"`)
	}
	return &agent.MemoryPolicy{Extract: m.Extract, Inject: m.Inject}, nil
}

func sessionViewOf(v host.SessionView) apitype.Session {
	out := sessionOf(v.Session)
	out.Messages = make([]apitype.Message, len(v.Messages))
	for i, m := range v.Messages {
		out.Messages[i] = messageOf(m)
	}
	out.Pending = make([]apitype.Pending, len(v.Pending))
	for i, p := range v.Pending {
		out.Pending[i] = apitype.Pending{
			Type: p.Type, RequestID: p.RequestID, ToolUseID: p.ToolUseID, ToolName: p.ToolName,
			Input: p.Input, Question: p.Question, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt,
		}
	}
	return out
}

func messageOf(m agent.Message) apitype.Message {
	out := apitype.Message{Role: string(m.Role), Content: make([]apitype.Block, len(m.Content)), CreatedAt: m.CreatedAt}
	for i, b := range m.Content {
		ab := apitype.Block{Type: b.Type}
		switch b.Type {
		case agent.BlockText:
			ab.Text = b.Text
		case agent.BlockThinking:
			ab.Thinking = b.Text
		case agent.BlockToolUse:
			ab.ID, ab.Name, ab.Input = b.ID, b.Name, b.Input
			if len(ab.Input) == 0 {
				ab.Input = []byte("{}")
			}
		case agent.BlockToolResult:
			content, isErr := b.Content, b.IsError
			ab.ToolUseID, ab.Content, ab.IsError = b.ToolUseID, &content, &isErr
		default:
			ab.Text = b.Text
		}
		out.Content[i] = ab
	}
	return out
}

// Compile-time check that the host is the runtime the handlers need.
var _ Runtime = (*host.Host)(nil)

// errNoRuntime is returned by session routes on a server built without a
// runtime.
var errNoRuntime = fmt.Errorf("%w: the session runtime is not configured", agent.ErrOverloaded)
