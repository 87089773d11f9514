package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Profiles resolves agent profiles for sessions and turns (actors/agents
// implements it).
type Profiles interface {
	// Resolve returns the current version of the profile slug names in
	// workspaceID, else the server-wide one; none is agent.ErrNotFound.
	Resolve(ctx context.Context, workspaceID, slug string) (persist.AgentProfile, error)
	// Version returns one version of a profile.
	Version(ctx context.Context, id string, version int) (persist.AgentProfile, error)
}

// errNoProfiles refuses agent_slug on a host built without profiles.
var errNoProfiles = fmt.Errorf("%w: agent profile: agent profiles are not configured", agent.ErrNotFound)

// resolveProfile returns the profile slug names for workspaceID.
func (h *Host) resolveProfile(ctx context.Context, workspaceID, slug string) (persist.AgentProfile, error) {
	if h.cfg.Profiles == nil {
		return persist.AgentProfile{}, errNoProfiles
	}
	return h.cfg.Profiles.Resolve(ctx, workspaceID, slug)
}

// profileOf returns the profile version a session keeps, or false if it
// has none (or it cannot be read: the turn's extension then says why).
func (h *Host) profileOf(ctx context.Context, rec persist.Session) (persist.AgentProfile, bool, error) {
	if rec.AgentID == "" || h.cfg.Profiles == nil {
		return persist.AgentProfile{}, false, nil
	}
	p, err := h.cfg.Profiles.Version(ctx, rec.AgentID, rec.AgentVersion)
	if errors.Is(err, agent.ErrNotFound) {
		return p, false, nil
	}
	return p, err == nil, err
}

// sessionFromProfile fills what a new session's options leave empty from
// profile p: the request's fields win.
func sessionFromProfile(o *SessionOptions, p persist.AgentProfile) {
	o.Context.AgentID, o.Context.AgentVersion = p.ID, p.Version
	o.Model = cmp.Or(o.Model, p.Model)
	o.SystemPrompt = cmp.Or(o.SystemPrompt, p.SystemPrompt)
	o.PermissionMode = cmp.Or(o.PermissionMode, p.PermissionMode)
	if len(o.Context.CorpusIDs) == 0 {
		o.Context.CorpusIDs = p.CorpusIDs
	}
	if o.Context.Memory == nil && p.Memory != nil {
		o.Context.Memory = &agent.MemoryPolicy{Extract: p.Memory.Extract, Inject: p.Memory.Inject}
	}
}

// turnFromProfile fills what a turn leaves empty from profile p. named
// says the turn's request named p (agent_slug): then p's model, system
// prompt and permission mode apply over the session's too; a session's
// own profile set those when the session was made. sess is the session's
// record (zero for a turn that makes its session).
func turnFromProfile(req *TurnRequest, p persist.AgentProfile, named bool, sess persist.Session) {
	if named {
		req.Context.AgentID, req.Context.AgentVersion = p.ID, p.Version
		if req.Model == "" && req.ProviderSettingID == "" {
			req.Model = p.Model
		}
		req.SystemPrompt = cmp.Or(req.SystemPrompt, p.SystemPrompt)
		req.PermissionMode = cmp.Or(req.PermissionMode, p.PermissionMode)
	}
	req.MaxTurns = cmp.Or(req.MaxTurns, p.MaxTurns)
	if len(req.Context.CorpusIDs) == 0 && len(sess.CorpusIDs) == 0 {
		req.Context.CorpusIDs = p.CorpusIDs
	}
	if req.Context.Memory == nil && sess.Memory == nil && p.Memory != nil {
		req.Context.Memory = &agent.MemoryPolicy{Extract: p.Memory.Extract, Inject: p.Memory.Inject}
	}
}
