package grpcapi

import (
	"context"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Agents is what AgentService needs of the agent profiles family: the
// same calls, in REST's types, as the REST handlers make (cmd/seshat
// adapts actors/agents to both). admin says whether the caller is a
// server admin.
type Agents interface {
	CreateAgent(ctx context.Context, userID string, admin bool, req apitype.AgentRequest) (apitype.Agent, error)
	ListAgents(ctx context.Context, userID string, admin bool, workspaceID, slug string) ([]apitype.Agent, error)
	GetAgent(ctx context.Context, userID string, admin bool, id string) (apitype.Agent, error)
	UpdateAgent(ctx context.Context, userID string, admin bool, id string, req apitype.AgentRequest) (apitype.Agent, error)
	DeleteAgent(ctx context.Context, userID string, admin bool, id string) error
	AgentVersions(ctx context.Context, userID string, admin bool, id string) ([]apitype.Agent, error)
}

// agentService translates AgentService to Agents.
type agentService struct {
	seshatv1connect.UnimplementedAgentServiceHandler
	rt Agents
}

func (s *Server) agentService() seshatv1connect.AgentServiceHandler {
	if s.deps.Agents == nil {
		return seshatv1connect.UnimplementedAgentServiceHandler{}
	}
	return agentService{rt: s.deps.Agents}
}

func (h agentService) CreateAgent(ctx context.Context, req *connect.Request[seshatv1.CreateAgentRequest]) (*connect.Response[seshatv1.CreateAgentResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	r := apitype.AgentRequest{
		Slug: &m.Slug, Name: &m.Name, Description: &m.Description, WorkspaceID: &m.WorkspaceId, Model: &m.Model,
		SystemPrompt: &m.SystemPrompt, PermissionMode: &m.PermissionMode,
		Tools: agentToolsIn(m.Tools), Memory: agentMemoryIn(m.Memory),
	}
	// A zero web_search is REST's absent one: only an update that names
	// it hides the tool.
	if m.WebSearch {
		r.WebSearch = &m.WebSearch
	}
	mt := int(m.MaxTurns)
	r.MaxTurns = &mt
	r.Skills, r.MCPServers, r.CorpusIDs = &m.Skills, &m.McpServers, &m.CorpusIds
	out, err := h.rt.CreateAgent(ctx, uid, admin, r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateAgentResponse{Agent: agentOf(out)}), nil
}

func (h agentService) ListAgents(ctx context.Context, req *connect.Request[seshatv1.ListAgentsRequest]) (*connect.Response[seshatv1.ListAgentsResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.ListAgents(ctx, uid, admin, req.Msg.WorkspaceId, req.Msg.Slug)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.ListAgentsResponse{Data: agentsOf(list)}), nil
}

func (h agentService) GetAgent(ctx context.Context, req *connect.Request[seshatv1.GetAgentRequest]) (*connect.Response[seshatv1.GetAgentResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	out, err := h.rt.GetAgent(ctx, uid, admin, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetAgentResponse{Agent: agentOf(out)}), nil
}

// UpdateAgent changes the fields update_mask names, or, with an empty
// mask, every field set in agent; the change is a new version.
func (h agentService) UpdateAgent(ctx context.Context, req *connect.Request[seshatv1.UpdateAgentRequest]) (*connect.Response[seshatv1.UpdateAgentResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := agentUpdateOf(req.Msg)
	if err != nil {
		return nil, err
	}
	out, err := h.rt.UpdateAgent(ctx, uid, admin, req.Msg.Id, r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateAgentResponse{Agent: agentOf(out)}), nil
}

func (h agentService) DeleteAgent(ctx context.Context, req *connect.Request[seshatv1.DeleteAgentRequest]) (*connect.Response[seshatv1.DeleteAgentResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteAgent(ctx, uid, admin, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteAgentResponse{}), nil
}

func (h agentService) ListAgentVersions(ctx context.Context, req *connect.Request[seshatv1.ListAgentVersionsRequest]) (*connect.Response[seshatv1.ListAgentVersionsResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.AgentVersions(ctx, uid, admin, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.ListAgentVersionsResponse{Data: agentsOf(list)}), nil
}

// agentUpdateOf builds REST's PATCH body from the fields the mask names,
// or from the fields set in agent when the mask is empty.
func agentUpdateOf(m *seshatv1.UpdateAgentRequest) (apitype.AgentRequest, error) {
	var r apitype.AgentRequest
	a := m.Agent
	if a == nil {
		a = &seshatv1.Agent{}
	}
	paths := m.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = setAgentFields(a)
	}
	for _, p := range paths {
		switch p {
		case "slug":
			r.Slug = &a.Slug
		case "name":
			r.Name = &a.Name
		case "description":
			r.Description = &a.Description
		case "workspace_id":
			r.WorkspaceID = &a.WorkspaceId
		case "model":
			r.Model = &a.Model
		case "system_prompt":
			r.SystemPrompt = &a.SystemPrompt
		case "permission_mode":
			r.PermissionMode = &a.PermissionMode
		case "max_turns":
			mt := int(a.MaxTurns)
			r.MaxTurns = &mt
		case "tools":
			r.Tools = agentToolsIn(a.Tools)
			if r.Tools == nil {
				r.Tools = &apitype.AgentTools{}
			}
		case "skills":
			r.Skills = &a.Skills
		case "mcp_servers":
			r.MCPServers = &a.McpServers
		case "corpus_ids":
			r.CorpusIDs = &a.CorpusIds
		case "memory":
			r.Memory = agentMemoryIn(a.Memory)
		case "web_search":
			r.WebSearch = &a.WebSearch
		default:
			return r, apierr.Invalid("update_mask names an unknown or read-only field: " + p)
		}
	}
	return r, nil
}

// setAgentFields names the changeable fields of a that hold a value.
func setAgentFields(a *seshatv1.Agent) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(a.Slug != "", "slug")
	add(a.Name != "", "name")
	add(a.Description != "", "description")
	add(a.WorkspaceId != "", "workspace_id")
	add(a.Model != "", "model")
	add(a.SystemPrompt != "", "system_prompt")
	add(a.PermissionMode != "", "permission_mode")
	add(a.MaxTurns != 0, "max_turns")
	add(a.Tools != nil, "tools")
	add(len(a.Skills) > 0, "skills")
	add(len(a.McpServers) > 0, "mcp_servers")
	add(len(a.CorpusIds) > 0, "corpus_ids")
	add(a.Memory != nil, "memory")
	add(a.WebSearch, "web_search")
	return out
}

func agentToolsIn(t *seshatv1.ToolFilter) *apitype.AgentTools {
	if t == nil {
		return nil
	}
	return &apitype.AgentTools{Allow: t.Allow, Deny: t.Deny}
}

func agentMemoryIn(m *seshatv1.MemorySettings) *apitype.AgentMemory {
	if m == nil {
		return nil
	}
	// An omitted inject is true, the preferences' default, as for sessions.
	return &apitype.AgentMemory{Extract: m.Extract, Inject: m.Inject == nil || *m.Inject}
}

func agentOf(a apitype.Agent) *seshatv1.Agent {
	out := &seshatv1.Agent{
		Id: a.ID, Slug: a.Slug, Name: a.Name, Description: a.Description, WorkspaceId: a.WorkspaceID,
		Model: a.Model, SystemPrompt: a.SystemPrompt, PermissionMode: a.PermissionMode, MaxTurns: int32(a.MaxTurns),
		Tools:  &seshatv1.ToolFilter{Allow: a.Tools.Allow, Deny: a.Tools.Deny},
		Skills: a.Skills, McpServers: a.MCPServers, CorpusIds: a.CorpusIDs,
		WebSearch: a.WebSearch == nil || *a.WebSearch, Version: int32(a.Version),
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt),
	}
	if a.Memory != nil {
		inject := a.Memory.Inject
		out.Memory = &seshatv1.MemorySettings{Extract: a.Memory.Extract, Inject: &inject}
	}
	return out
}

func agentsOf(list []apitype.Agent) []*seshatv1.Agent {
	out := make([]*seshatv1.Agent, len(list))
	for i, a := range list {
		out[i] = agentOf(a)
	}
	return out
}
