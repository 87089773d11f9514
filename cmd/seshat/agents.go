package main

import (
	"context"
	"log/slog"
	"slices"

	"github.com/seshat-host/seshat/actors/agents"
	"github.com/seshat-host/seshat/actors/mcpconn"
	"github.com/seshat-host/seshat/actors/skills"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// newAgents builds the agent profiles family and hooks it into the skills
// catalogue (a profile's skills rank first).
func newAgents(store *persist.Store, mcp *mcpconn.Manager, skl *skills.Service, log *slog.Logger) (*agents.Service, error) {
	svc, err := agents.New(agents.Config{
		Store: store,
		MCPTools: func(ctx context.Context, srv persist.MCPServer, ws string) ([]string, error) {
			tools, err := mcp.Tools(ctx, srv, ws)
			if err != nil {
				return nil, err
			}
			names := make([]string, len(tools))
			for i, t := range tools {
				names[i] = t.Spec().Name
			}
			return names, nil
		},
		Logger: log.With("component", "agents"),
	})
	if err != nil {
		return nil, err
	}
	skl.SetProfiles(svc.Skills)
	return svc, nil
}

// agentAPI adapts the agent profiles service to httpapi.Agents:
// translation only.
type agentAPI struct{ svc *agents.Service }

var _ httpapi.Agents = agentAPI{}

func agentCaller(userID string, admin bool) agents.Caller {
	return agents.Caller{UserID: userID, Admin: admin}
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return slices.Clone(v)
}

func agentOf(p persist.AgentProfile) apitype.Agent {
	out := apitype.Agent{
		ID: p.ID, Version: p.Version, Slug: p.Slug, Name: p.Name, Description: p.Description, WorkspaceID: p.WorkspaceID,
		Model: p.Model, SystemPrompt: p.SystemPrompt, PermissionMode: p.PermissionMode, MaxTurns: p.MaxTurns,
		Skills: nonNilStrings(p.Skills), MCPServers: nonNilStrings(p.MCPServers), CorpusIDs: nonNilStrings(p.CorpusIDs),
		WebSearch: p.WebSearch, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if p.Tools != nil {
		out.Tools = apitype.AgentTools{Allow: p.Tools.Allow, Deny: p.Tools.Deny}
	}
	if p.Memory != nil {
		out.Memory = &apitype.AgentMemory{Extract: p.Memory.Extract, Inject: p.Memory.Inject}
	}
	return out
}

func agentsOf(list []persist.AgentProfile, err error) ([]apitype.Agent, error) {
	if err != nil {
		return nil, err
	}
	out := make([]apitype.Agent, len(list))
	for i, p := range list {
		out[i] = agentOf(p)
	}
	return out, nil
}

func agentInput(r apitype.AgentRequest) agents.Input {
	in := agents.Input{
		Slug: r.Slug, Name: r.Name, Description: r.Description, WorkspaceID: r.WorkspaceID, Model: r.Model,
		SystemPrompt: r.SystemPrompt, PermissionMode: r.PermissionMode, MaxTurns: r.MaxTurns,
		Skills: r.Skills, MCPServers: r.MCPServers, CorpusIDs: r.CorpusIDs, WebSearch: r.WebSearch,
	}
	if r.Tools != nil {
		in.Tools = &persist.AgentTools{Allow: r.Tools.Allow, Deny: r.Tools.Deny}
	}
	if r.Memory != nil {
		in.Memory = &persist.AgentMemory{Extract: r.Memory.Extract, Inject: r.Memory.Inject}
	}
	return in
}

func (a agentAPI) CreateAgent(ctx context.Context, userID string, admin bool, req apitype.AgentRequest) (apitype.Agent, error) {
	p, err := a.svc.Create(ctx, agentCaller(userID, admin), agentInput(req))
	return agentOf(p), err
}

func (a agentAPI) ListAgents(ctx context.Context, userID string, admin bool, ws, slug string) ([]apitype.Agent, error) {
	return agentsOf(a.svc.List(ctx, agentCaller(userID, admin), ws, slug))
}

func (a agentAPI) GetAgent(ctx context.Context, userID string, admin bool, id string) (apitype.Agent, error) {
	p, err := a.svc.Get(ctx, agentCaller(userID, admin), id)
	return agentOf(p), err
}

func (a agentAPI) UpdateAgent(ctx context.Context, userID string, admin bool, id string, req apitype.AgentRequest) (apitype.Agent, error) {
	p, err := a.svc.Update(ctx, agentCaller(userID, admin), id, agentInput(req))
	return agentOf(p), err
}

func (a agentAPI) DeleteAgent(ctx context.Context, userID string, admin bool, id string) error {
	return a.svc.Delete(ctx, agentCaller(userID, admin), id)
}

func (a agentAPI) AgentVersions(ctx context.Context, userID string, admin bool, id string) ([]apitype.Agent, error) {
	return agentsOf(a.svc.Versions(ctx, agentCaller(userID, admin), id))
}
