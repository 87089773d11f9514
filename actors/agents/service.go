package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// PrefixAgent starts the id of an agent profile.
const PrefixAgent = "agent"

// Config configures a Service.
type Config struct {
	Store *persist.Store
	// MCPTools, if set, lists the tool names a turn would get from an MCP
	// server; the extension hides those of servers a profile does not
	// name. Without it a profile's mcp_servers are checked but not
	// applied.
	MCPTools func(ctx context.Context, srv persist.MCPServer, workspaceID string) ([]string, error)
	// Logger receives what a turn leaves out; nil discards.
	Logger *slog.Logger
}

// Caller is who asks: a user, and whether they are a server admin.
type Caller struct {
	UserID string
	Admin  bool
}

// Input is a profile's fields as a request gives them: nil leaves a field
// as it is (on create, empty).
type Input struct {
	Slug           *string
	Name           *string
	Description    *string
	WorkspaceID    *string
	Model          *string
	SystemPrompt   *string
	PermissionMode *string
	MaxTurns       *int
	Tools          *persist.AgentTools
	Skills         *[]string
	MCPServers     *[]string
	CorpusIDs      *[]string
	Memory         *persist.AgentMemory
	WebSearch      *bool
}

// Service manages agent profiles and applies them to turns. It is safe
// for concurrent use and starts no goroutines.
type Service struct {
	cfg    Config
	store  *persist.Store
	access *tenancy.Access
	log    *slog.Logger
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("agents: Store is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, store: cfg.Store, access: tenancy.NewAccess(cfg.Store), log: log}, nil
}

// notFound turns the store's not-found into the runtime's.
func notFound(err error, id string) error {
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: agent profile %s", agent.ErrNotFound, id)
	}
	return err
}

// Create stores version 1 of a profile.
func (s *Service) Create(ctx context.Context, c Caller, in Input) (persist.AgentProfile, error) {
	var p persist.AgentProfile
	if in.WorkspaceID != nil {
		p.WorkspaceID = *in.WorkspaceID
	}
	if in.Slug == nil {
		return p, invalid("slug is required")
	}
	apply(&p, in)
	if err := s.check(ctx, c, p); err != nil {
		return persist.AgentProfile{}, err
	}
	p.ID, p.CreatedBy = agent.NewID(PrefixAgent), c.UserID
	out, err := s.store.CreateAgent(ctx, p)
	if errors.Is(err, persist.ErrConflict) {
		return out, fmt.Errorf("%w: an agent profile with slug %q exists in this workspace", agent.ErrConflict, p.Slug)
	}
	return out, tenancy.NotFound(err, "workspace "+p.WorkspaceID)
}

// apply copies the fields in sets onto p.
func apply(p *persist.AgentProfile, in Input) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&p.Slug, in.Slug)
	set(&p.Name, in.Name)
	set(&p.Description, in.Description)
	set(&p.Model, in.Model)
	set(&p.PermissionMode, in.PermissionMode)
	if in.SystemPrompt != nil {
		p.SystemPrompt = *in.SystemPrompt
	}
	if in.MaxTurns != nil {
		p.MaxTurns = *in.MaxTurns
	}
	if in.Tools != nil {
		t := *in.Tools
		p.Tools = &t
		if len(t.Allow) == 0 && len(t.Deny) == 0 {
			p.Tools = nil
		}
	}
	if in.Skills != nil {
		p.Skills = slices.Clone(*in.Skills)
	}
	if in.MCPServers != nil {
		p.MCPServers = slices.Clone(*in.MCPServers)
	}
	if in.CorpusIDs != nil {
		p.CorpusIDs = slices.Clone(*in.CorpusIDs)
	}
	if in.Memory != nil {
		m := *in.Memory
		p.Memory = &m
	}
	if in.WebSearch != nil {
		w := *in.WebSearch
		p.WebSearch = &w
	}
}

// check validates p's fields and that c may save it where it lives.
func (s *Service) check(ctx context.Context, c Caller, p persist.AgentProfile) error {
	if p.WorkspaceID == "" {
		if !c.Admin {
			return fmt.Errorf("%w: server-wide agent profiles are for server admins; name a workspace_id", agent.ErrForbidden)
		}
	} else {
		need := persist.WorkspaceEditor
		if p.PermissionMode == agent.ModeAcceptAll {
			need = persist.WorkspaceAdmin
		}
		if err := s.access.Authorize(ctx, c.UserID, p.WorkspaceID, need); err != nil {
			return err
		}
	}
	if !ValidSlug(p.Slug) {
		return invalid("slug must be 1 to 64 characters of a-z, 0-9 and -")
	}
	if err := checkText("name", p.Name, MaxNameChars); err != nil {
		return err
	}
	if err := checkText("description", p.Description, MaxDescriptionChars); err != nil {
		return err
	}
	if err := checkText("model", p.Model, MaxModelChars); err != nil {
		return err
	}
	if len(p.SystemPrompt) > MaxSystemPromptBytes {
		return invalid("system_prompt is longer than %d bytes", MaxSystemPromptBytes)
	}
	if p.PermissionMode != "" && !agent.ValidMode(p.PermissionMode) {
		return invalid("permission_mode must be one of default, accept_all, deny_all, plan")
	}
	if p.MaxTurns < 0 || p.MaxTurns > MaxTurns {
		return invalid("max_turns must be from 1 to %d", MaxTurns)
	}
	if p.Tools != nil {
		if err := checkList("tools.allow", p.Tools.Allow); err != nil {
			return err
		}
		if err := checkList("tools.deny", p.Tools.Deny); err != nil {
			return err
		}
	}
	if err := checkList("skills", p.Skills); err != nil {
		return err
	}
	if err := checkList("mcp_servers", p.MCPServers); err != nil {
		return err
	}
	if err := checkList("corpus_ids", p.CorpusIDs); err != nil {
		return err
	}
	if m := p.Memory; m != nil && m.Extract != agent.MemoryExtractAuto && m.Extract != agent.MemoryExtractOff {
		return invalid(`memory.extract must be "auto" or "off"`)
	}
	for _, id := range p.MCPServers {
		srv, err := s.store.MCPServer(id)
		if errors.Is(err, persist.ErrNotFound) || (err == nil && !visible(srv.WorkspaceID, p.WorkspaceID)) {
			return invalid("mcp_servers: unknown MCP server %q", id)
		}
		if err != nil {
			return err
		}
	}
	for _, id := range p.CorpusIDs {
		corp, err := s.store.Corpus(id)
		if errors.Is(err, persist.ErrNotFound) || (err == nil && p.WorkspaceID != "" && corp.WorkspaceID != p.WorkspaceID) {
			return invalid("corpus_ids: unknown corpus %q", id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// visible reports whether a resource of workspace owner ("" for global)
// is visible to a profile of workspace ws.
func visible(owner, ws string) bool { return owner == "" || owner == ws }

// readable returns the current version of a profile c may see.
func (s *Service) readable(ctx context.Context, c Caller, id string) (persist.AgentProfile, error) {
	p, err := s.store.Agent(id)
	if err != nil {
		return p, notFound(err, id)
	}
	if p.WorkspaceID != "" && !c.Admin {
		if err := s.access.Authorize(ctx, c.UserID, p.WorkspaceID, persist.WorkspaceViewer); err != nil {
			if errors.Is(err, agent.ErrForbidden) {
				return persist.AgentProfile{}, fmt.Errorf("%w: agent profile %s", agent.ErrNotFound, id)
			}
			return persist.AgentProfile{}, err
		}
	}
	return p, nil
}

// writable returns the current version of a profile c may change.
func (s *Service) writable(ctx context.Context, c Caller, id string) (persist.AgentProfile, error) {
	p, err := s.readable(ctx, c, id)
	if err != nil {
		return p, err
	}
	if p.WorkspaceID == "" {
		if !c.Admin {
			return p, fmt.Errorf("%w: server-wide agent profiles are changed by server admins", agent.ErrForbidden)
		}
		return p, nil
	}
	return p, s.access.Authorize(ctx, c.UserID, p.WorkspaceID, persist.WorkspaceEditor)
}

// Get returns the current version of a profile.
func (s *Service) Get(ctx context.Context, c Caller, id string) (persist.AgentProfile, error) {
	return s.readable(ctx, c, id)
}

// Versions returns every version of a profile, newest first.
func (s *Service) Versions(ctx context.Context, c Caller, id string) ([]persist.AgentProfile, error) {
	if _, err := s.readable(ctx, c, id); err != nil {
		return nil, err
	}
	vs, err := s.store.AgentVersions(id)
	return vs, notFound(err, id)
}

// List returns the profiles of workspaceID (or of every workspace of the
// caller's) and the server-wide ones, optionally only those with slug.
func (s *Service) List(ctx context.Context, c Caller, workspaceID, slug string) ([]persist.AgentProfile, error) {
	var wss []string
	if workspaceID != "" {
		if err := s.access.Authorize(ctx, c.UserID, workspaceID, persist.WorkspaceViewer); err != nil {
			return nil, err
		}
		wss = []string{workspaceID}
	} else {
		list, err := s.store.WorkspacesForUser(c.UserID)
		if err != nil {
			return nil, err
		}
		for _, w := range list {
			wss = append(wss, w.ID)
		}
	}
	out, err := s.store.Agents(wss)
	if err != nil {
		return nil, err
	}
	if slug != "" {
		out = slices.DeleteFunc(out, func(p persist.AgentProfile) bool { return p.Slug != slug })
	}
	return out, nil
}

// Update stores the next version of a profile with the fields in set.
func (s *Service) Update(ctx context.Context, c Caller, id string, in Input) (persist.AgentProfile, error) {
	cur, err := s.writable(ctx, c, id)
	if err != nil {
		return cur, err
	}
	if in.WorkspaceID != nil && strings.TrimSpace(*in.WorkspaceID) != cur.WorkspaceID {
		return cur, invalid("workspace_id of an agent profile cannot change")
	}
	next := cur
	apply(&next, in)
	if err := s.check(ctx, c, next); err != nil {
		return cur, err
	}
	out, err := s.store.UpdateAgent(ctx, id, func(p *persist.AgentProfile) error {
		ver := p.Version
		*p = next
		p.Version = ver
		return nil
	})
	if errors.Is(err, persist.ErrConflict) {
		return out, fmt.Errorf("%w: an agent profile with slug %q exists in this workspace", agent.ErrConflict, next.Slug)
	}
	return out, notFound(err, id)
}

// Delete removes a profile. Sessions that use one of its versions keep
// it.
func (s *Service) Delete(ctx context.Context, c Caller, id string) error {
	if _, err := s.writable(ctx, c, id); err != nil {
		return err
	}
	return notFound(s.store.DeleteAgent(ctx, id), id)
}

// Resolve returns the current version of the profile slug names in
// workspaceID, else the server-wide one. The caller has checked the
// user's role in workspaceID.
func (s *Service) Resolve(_ context.Context, workspaceID, slug string) (persist.AgentProfile, error) {
	if !ValidSlug(slug) {
		return persist.AgentProfile{}, fmt.Errorf("%w: agent profile %q", agent.ErrNotFound, slug)
	}
	p, err := s.store.AgentBySlug(workspaceID, slug)
	if errors.Is(err, persist.ErrNotFound) {
		p, err = s.store.AgentBySlug("", slug)
	}
	return p, notFound(err, slug)
}

// Version returns one version of a profile, as a session keeps it.
func (s *Service) Version(_ context.Context, id string, version int) (persist.AgentProfile, error) {
	p, err := s.store.AgentVersion(id, version)
	return p, notFound(err, id)
}

// Skills returns the skills a profile version names (the skills family's
// hook).
func (s *Service) Skills(ctx context.Context, id string, version int) ([]string, error) {
	p, err := s.Version(ctx, id, version)
	if err != nil {
		return nil, err
	}
	return p.Skills, nil
}
