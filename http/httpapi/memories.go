package httpapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Memories is what the memory handlers need of the memories family.
// cmd/seshat adapts the family's service to it.
type Memories interface {
	// SaveMemory applies the update rule: op is "add" or "noop" (m is
	// then the active memory the content repeats).
	SaveMemory(ctx context.Context, userID string, w MemoryWrite) (op string, m persist.Memory, err error)
	ListMemories(ctx context.Context, userID string, q MemoryListQuery) ([]persist.Memory, string, error)
	GetMemory(ctx context.Context, userID, id string) (persist.Memory, error)
	// ReplaceMemory makes a memory with content that supersedes id.
	ReplaceMemory(ctx context.Context, userID, id, content string) (persist.Memory, error)
	DeleteMemory(ctx context.Context, userID, id string) error
	SearchMemories(ctx context.Context, userID string, q MemorySearchQuery) ([]persist.ScoredMemory, error)
	ExtractMemories(ctx context.Context, userID, sessionID string, dryRun bool) ([]MemoryOp, error)
}

// MemoryWrite is a memory to save.
type MemoryWrite struct {
	Content, Scope, Kind, WorkspaceID string
}

// MemoryListQuery selects a page of memories.
type MemoryListQuery struct {
	Scope, WorkspaceID, Kind, Status, Q, Cursor string
	Limit                                       int
}

// MemorySearchQuery is a ranked search.
type MemorySearchQuery struct {
	Query, Scope, WorkspaceID string
	Limit                     int
	IncludeSuperseded         bool
}

// MemoryOp is one result of an extraction.
type MemoryOp struct {
	Op     string
	Memory persist.Memory
	Reason string
}

// errNoMemories answers the memory routes of a server built without the
// family.
var errNoMemories = fmt.Errorf("%w: memories are not configured", agent.ErrOverloaded)

func (s *Server) memories() (Memories, error) {
	if s.deps.Memories == nil {
		return nil, errNoMemories
	}
	return s.deps.Memories, nil
}

// POST /api/v1/memories → 201 {op: "add", memory} or 200 {op: "noop", memory}.
func (s *Server) createMemory(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	var req apitype.CreateMemoryRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	op, m, err := mem.SaveMemory(s.opCtx, principal(ctx).UserID, MemoryWrite{
		Content: req.Content, Scope: req.Scope, Kind: req.Kind, WorkspaceID: req.WorkspaceID,
	})
	if err != nil {
		return err
	}
	status := fasthttp.StatusCreated
	if op != "add" {
		status = fasthttp.StatusOK
	}
	noteAudit(ctx).resource(m.ID, m.WorkspaceID)
	noteAudit(ctx).set("op", op)
	return writeJSON(ctx, status, apitype.MemoryWrite{Op: op, Memory: memoryOf(m)})
}

// GET /api/v1/memories?scope=&workspace_id=&kind=&status=&q=&limit=&cursor=
func (s *Server) listMemories(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	arg := func(name string) string { return string(args.Peek(name)) }
	q := MemoryListQuery{Scope: arg("scope"), WorkspaceID: arg("workspace_id"), Kind: arg("kind"), Status: arg("status"), Q: arg("q"), Cursor: arg("cursor")}
	if l := arg("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 200 {
			return invalid("limit must be a number from 1 to 200")
		}
	}
	list, next, err := mem.ListMemories(s.opCtx, principal(ctx).UserID, q)
	if err != nil {
		return err
	}
	out := apitype.MemoryList{Data: make([]apitype.Memory, len(list)), NextCursor: next}
	for i, m := range list {
		out.Data[i] = memoryOf(m)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/memories/{id}
func (s *Server) getMemory(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	m, err := mem.GetMemory(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, memoryOf(m))
}

// PATCH /api/v1/memories/{id} {content} → 200 the new memory, which
// supersedes this one.
func (s *Server) updateMemory(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	var req apitype.UpdateMemoryRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	m, err := mem.ReplaceMemory(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.Content)
	if err != nil {
		return err
	}
	noteAudit(ctx).set("new_memory_id", m.ID)
	return writeJSON(ctx, fasthttp.StatusOK, memoryOf(m))
}

// DELETE /api/v1/memories/{id} → 204
func (s *Server) deleteMemory(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	if err := mem.DeleteMemory(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// POST /api/v1/memories/search {query, limit?, scope?, workspace_id?,
// include_superseded?} → 200 {data: [{memory, score}]}
func (s *Server) searchMemories(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	var req apitype.SearchMemoriesRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	hits, err := mem.SearchMemories(s.opCtx, principal(ctx).UserID, MemorySearchQuery{
		Query: req.Query, Scope: req.Scope, WorkspaceID: req.WorkspaceID, Limit: req.Limit, IncludeSuperseded: req.IncludeSuperseded,
	})
	if err != nil {
		return err
	}
	out := make([]apitype.MemoryHit, len(hits))
	for i, h := range hits {
		out[i] = apitype.MemoryHit{Memory: memoryOf(h.Memory), Score: h.Score}
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// POST /api/v1/memories/extract {session_id, dry_run?} → 200 {ops: [{op, memory, reason}]}
func (s *Server) extractMemories(ctx *fasthttp.RequestCtx) error {
	mem, err := s.memories()
	if err != nil {
		return err
	}
	var req apitype.ExtractMemoriesRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	if req.SessionID == "" {
		return invalid("session_id is required")
	}
	// The model call may take a while; it is bounded by the family's
	// extraction timeout, and by the server's base context on shutdown.
	ops, err := mem.ExtractMemories(s.baseCtx, principal(ctx).UserID, req.SessionID, req.DryRun)
	if err != nil {
		return err
	}
	out := apitype.ExtractMemoriesResponse{Ops: make([]apitype.MemoryOp, len(ops))}
	for i, op := range ops {
		out.Ops[i] = apitype.MemoryOp{Op: op.Op, Memory: memoryOf(op.Memory), Reason: op.Reason}
	}
	noteAudit(ctx).set("dry_run", strconv.FormatBool(req.DryRun))
	noteAudit(ctx).set("ops", strconv.Itoa(len(ops)))
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

func memoryOf(m persist.Memory) apitype.Memory {
	out := apitype.Memory{
		ID: m.ID, Scope: m.Scope, UserID: m.UserID, WorkspaceID: m.WorkspaceID, Content: m.Content,
		Kind: m.Kind, Status: m.Status, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	if m.Supersedes != "" {
		out.Supersedes = &m.Supersedes
	}
	if m.SupersededBy != "" {
		out.SupersededBy = &m.SupersededBy
	}
	if m.Source != nil {
		out.Source = &apitype.MemorySource{SessionID: m.Source.SessionID, TurnID: m.Source.TurnID}
	}
	return out
}
