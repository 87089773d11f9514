package grpcapi

import (
	"context"
	"strconv"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/memory"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Memories is what MemoryService needs of the memories family.
// *memory.Service implements it.
type Memories interface {
	Save(ctx context.Context, userID string, t memory.Target, c memory.Candidate) (memory.Op, error)
	List(ctx context.Context, userID string, q memory.ListQuery) ([]persist.Memory, string, error)
	Get(ctx context.Context, userID, id string) (persist.Memory, error)
	Replace(ctx context.Context, userID, id, content string) (persist.Memory, error)
	Delete(ctx context.Context, userID, id string) error
	Search(ctx context.Context, userID string, q memory.SearchQuery) ([]persist.ScoredMemory, error)
	Extract(ctx context.Context, userID, sessionID string, dryRun bool) ([]memory.Op, error)
}

// memoryService translates MemoryService to Memories. Its writes are
// audited by the API's audit hook (audit.go), as REST's are by the HTTP
// layer.
type memoryService struct {
	seshatv1connect.UnimplementedMemoryServiceHandler
	s  *Server
	rt Memories
}

func (s *Server) memoryService() seshatv1connect.MemoryServiceHandler {
	if s.deps.Memories == nil {
		return seshatv1connect.UnimplementedMemoryServiceHandler{}
	}
	return memoryService{s: s, rt: s.deps.Memories}
}

func (h memoryService) CreateMemory(ctx context.Context, req *connect.Request[seshatv1.CreateMemoryRequest]) (*connect.Response[seshatv1.CreateMemoryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	op, err := h.rt.Save(ctx, p.UserID, memory.Target{Scope: m.Scope, WorkspaceID: m.WorkspaceId, Origin: memory.OriginAPI},
		memory.Candidate{Content: m.Content, Kind: m.Kind})
	if err != nil {
		return nil, err
	}
	noteAudit(ctx).set("op", op.Op)
	return connect.NewResponse(&seshatv1.CreateMemoryResponse{Op: op.Op, Memory: memoryOf(op.Memory)}), nil
}

func (h memoryService) ListMemories(ctx context.Context, req *connect.Request[seshatv1.ListMemoriesRequest]) (*connect.Response[seshatv1.ListMemoriesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Limit < 0 || m.Limit > maxListLimit {
		return nil, apierr.Invalid("limit must be from 1 to 200")
	}
	list, next, err := h.rt.List(ctx, p.UserID, memory.ListQuery{
		Query: memory.Query{Scope: m.Scope, WorkspaceID: m.WorkspaceId},
		Kind:  m.Kind, Status: m.Status, Q: m.Q, Cursor: m.Cursor, Limit: int(m.Limit),
	})
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListMemoriesResponse{NextCursor: next, Data: make([]*seshatv1.Memory, len(list))}
	for i, x := range list {
		out.Data[i] = memoryOf(x)
	}
	return connect.NewResponse(out), nil
}

func (h memoryService) GetMemory(ctx context.Context, req *connect.Request[seshatv1.GetMemoryRequest]) (*connect.Response[seshatv1.GetMemoryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.rt.Get(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetMemoryResponse{Memory: memoryOf(m)}), nil
}

func (h memoryService) UpdateMemory(ctx context.Context, req *connect.Request[seshatv1.UpdateMemoryRequest]) (*connect.Response[seshatv1.UpdateMemoryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.rt.Replace(ctx, p.UserID, req.Msg.Id, req.Msg.Content)
	if err != nil {
		return nil, err
	}
	noteAudit(ctx).set("new_memory_id", m.ID)
	return connect.NewResponse(&seshatv1.UpdateMemoryResponse{Memory: memoryOf(m)}), nil
}

func (h memoryService) DeleteMemory(ctx context.Context, req *connect.Request[seshatv1.DeleteMemoryRequest]) (*connect.Response[seshatv1.DeleteMemoryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.Delete(ctx, p.UserID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteMemoryResponse{}), nil
}

func (h memoryService) SearchMemories(ctx context.Context, req *connect.Request[seshatv1.SearchMemoriesRequest]) (*connect.Response[seshatv1.SearchMemoriesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	hits, err := h.rt.Search(ctx, p.UserID, memory.SearchQuery{
		Query: memory.Query{Scope: m.Scope, WorkspaceID: m.WorkspaceId},
		Text:  m.Query, Limit: int(m.Limit), IncludeSuperseded: m.IncludeSuperseded,
	})
	if err != nil {
		return nil, err
	}
	out := &seshatv1.SearchMemoriesResponse{Data: make([]*seshatv1.MemoryMatch, len(hits))}
	for i, x := range hits {
		out.Data[i] = &seshatv1.MemoryMatch{Memory: memoryOf(x.Memory), Score: x.Score}
	}
	return connect.NewResponse(out), nil
}

func (h memoryService) ExtractMemories(ctx context.Context, req *connect.Request[seshatv1.ExtractMemoriesRequest]) (*connect.Response[seshatv1.ExtractMemoriesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.SessionId == "" {
		return nil, apierr.Invalid("session_id is required")
	}
	ops, err := h.rt.Extract(ctx, p.UserID, req.Msg.SessionId, req.Msg.DryRun)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ExtractMemoriesResponse{Ops: make([]*seshatv1.MemoryOp, len(ops))}
	for i, op := range ops {
		out.Ops[i] = &seshatv1.MemoryOp{Op: op.Op, Memory: memoryOf(op.Memory), Reason: op.Reason}
	}
	noteAudit(ctx).set("dry_run", strconv.FormatBool(req.Msg.DryRun))
	noteAudit(ctx).set("ops", strconv.Itoa(len(ops)))
	return connect.NewResponse(out), nil
}

func memoryOf(m persist.Memory) *seshatv1.Memory {
	out := &seshatv1.Memory{
		Id: m.ID, Scope: m.Scope, UserId: m.UserID, WorkspaceId: m.WorkspaceID, Content: m.Content, Kind: m.Kind,
		Status: m.Status, Supersedes: m.Supersedes, SupersededBy: m.SupersededBy,
		CreatedAt: timestamp(m.CreatedAt), UpdatedAt: timestamp(m.UpdatedAt),
	}
	if m.Source != nil {
		out.Source = &seshatv1.MemorySource{SessionId: m.Source.SessionID, TurnId: m.Source.TurnID}
	}
	return out
}
