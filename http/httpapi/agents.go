package httpapi

import (
	"context"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
)

// Agents is what the agent profile routes need of the agent profiles
// family (cmd/seshat adapts actors/agents to it). admin says whether the
// caller is a server admin.
type Agents interface {
	CreateAgent(ctx context.Context, userID string, admin bool, req apitype.AgentRequest) (apitype.Agent, error)
	ListAgents(ctx context.Context, userID string, admin bool, workspaceID, slug string) ([]apitype.Agent, error)
	GetAgent(ctx context.Context, userID string, admin bool, id string) (apitype.Agent, error)
	UpdateAgent(ctx context.Context, userID string, admin bool, id string, req apitype.AgentRequest) (apitype.Agent, error)
	DeleteAgent(ctx context.Context, userID string, admin bool, id string) error
	AgentVersions(ctx context.Context, userID string, admin bool, id string) ([]apitype.Agent, error)
}

// errNoAgents answers the agent profile routes of a server built without
// the family.
var errNoAgents = fmt.Errorf("%w: agent profiles are not configured", agent.ErrOverloaded)

func (s *Server) agents() (Agents, error) {
	if s.deps.Agents == nil {
		return nil, errNoAgents
	}
	return s.deps.Agents, nil
}

// POST /api/v1/agents → 201 agent.
func (s *Server) createAgent(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	var req apitype.AgentRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	out, err := ag.CreateAgent(s.opCtx, principal(ctx).UserID, isAdmin(ctx), req)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(out.ID, out.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, out)
}

// GET /api/v1/agents?workspace_id=&slug= → 200 {data}.
func (s *Server) listAgents(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	list, err := ag.ListAgents(s.opCtx, principal(ctx).UserID, isAdmin(ctx), string(args.Peek("workspace_id")), string(args.Peek("slug")))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(list))
}

// GET /api/v1/agents/{id} → 200 agent.
func (s *Server) getAgent(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	out, err := ag.GetAgent(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// PATCH /api/v1/agents/{id} → 200 agent (a new version).
func (s *Server) updateAgent(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	var req apitype.AgentRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	out, err := ag.UpdateAgent(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"), req)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(out.ID, out.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// DELETE /api/v1/agents/{id} → 204.
func (s *Server) deleteAgent(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	id := pathParam(ctx, "id")
	if err := ag.DeleteAgent(s.opCtx, principal(ctx).UserID, isAdmin(ctx), id); err != nil {
		return err
	}
	noteAudit(ctx).resource(id, "")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// GET /api/v1/agents/{id}/versions → 200 {data}, newest first.
func (s *Server) agentVersions(ctx *fasthttp.RequestCtx) error {
	ag, err := s.agents()
	if err != nil {
		return err
	}
	list, err := ag.AgentVersions(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(list))
}
