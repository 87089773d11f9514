package main

import (
	"context"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/memory"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// memoryAPI adapts the memories service to the HTTP handlers' interface.
type memoryAPI struct{ svc *memory.Service }

var _ httpapi.Memories = memoryAPI{}

func (a memoryAPI) SaveMemory(ctx context.Context, userID string, w httpapi.MemoryWrite) (string, persist.Memory, error) {
	op, err := a.svc.Save(ctx, userID, memory.Target{Scope: w.Scope, WorkspaceID: w.WorkspaceID, Origin: memory.OriginAPI},
		memory.Candidate{Content: w.Content, Kind: w.Kind})
	return op.Op, op.Memory, err
}

func (a memoryAPI) ListMemories(ctx context.Context, userID string, q httpapi.MemoryListQuery) ([]persist.Memory, string, error) {
	return a.svc.List(ctx, userID, memory.ListQuery{
		Query: memory.Query{Scope: q.Scope, WorkspaceID: q.WorkspaceID},
		Kind:  q.Kind, Status: q.Status, Q: q.Q, Cursor: q.Cursor, Limit: q.Limit,
	})
}

func (a memoryAPI) GetMemory(ctx context.Context, userID, id string) (persist.Memory, error) {
	return a.svc.Get(ctx, userID, id)
}

func (a memoryAPI) ReplaceMemory(ctx context.Context, userID, id, content string) (persist.Memory, error) {
	return a.svc.Replace(ctx, userID, id, content)
}

func (a memoryAPI) DeleteMemory(ctx context.Context, userID, id string) error {
	return a.svc.Delete(ctx, userID, id)
}

func (a memoryAPI) SearchMemories(ctx context.Context, userID string, q httpapi.MemorySearchQuery) ([]persist.ScoredMemory, error) {
	return a.svc.Search(ctx, userID, memory.SearchQuery{
		Query: memory.Query{Scope: q.Scope, WorkspaceID: q.WorkspaceID},
		Text:  q.Query, Limit: q.Limit, IncludeSuperseded: q.IncludeSuperseded,
	})
}

func (a memoryAPI) ExtractMemories(ctx context.Context, userID, sessionID string, dryRun bool) ([]httpapi.MemoryOp, error) {
	ops, err := a.svc.Extract(ctx, userID, sessionID, dryRun)
	if err != nil {
		return nil, err
	}
	out := make([]httpapi.MemoryOp, len(ops))
	for i, op := range ops {
		out[i] = httpapi.MemoryOp{Op: op.Op, Memory: op.Memory, Reason: op.Reason}
	}
	return out, nil
}

// lateSelector selects through a selector made after the memories
// service (the host's, which runs the service's extension).
type lateSelector func() provider.Selector

func (f lateSelector) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	return f().Select(ctx, userID, settingID, model)
}

// sessionConversations loads a session for extraction on demand: only
// the session's own user extracts memories from it.
func sessionConversations(hst interface {
	GetSession(ctx context.Context, userID, id string) (host.SessionView, error)
}, defaultModel string) memory.Sessions {
	return func(ctx context.Context, userID, sessionID string) (memory.Conversation, error) {
		v, err := hst.GetSession(ctx, userID, sessionID)
		if err != nil {
			return memory.Conversation{}, err
		}
		if v.Session.UserID != userID {
			return memory.Conversation{}, fmt.Errorf("%w: only the session's own user extracts memories from it", agent.ErrForbidden)
		}
		model := v.Session.Model
		if model == "" {
			model = defaultModel
		}
		return memory.Conversation{
			SessionID: sessionID, WorkspaceID: v.Session.WorkspaceID, UserID: v.Session.UserID,
			Model: model, Messages: v.Messages,
		}, nil
	}
}
