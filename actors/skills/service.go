package skills

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// Defaults of Config.
const (
	DefaultBudget       = 8000
	DefaultMaxBytes     = 8 << 20
	DefaultMaxFiles     = 500
	DefaultMaxPerScope  = 500
	DefaultRepoMaxBytes = 128 << 20
	DefaultSyncTimeout  = 2 * time.Minute
)

// Config configures a Service.
type Config struct {
	// Store keeps the skills and the workspace roles. Required.
	Store *persist.Store
	// Budget caps the characters of a turn's skills catalogue; 0 means
	// DefaultBudget.
	Budget int
	// MaxBytes caps one skill's files together, uncompressed; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxFiles caps one skill's files; 0 means DefaultMaxFiles.
	MaxFiles int
	// MaxPerScope caps the skills of one workspace and the global ones
	// (each); 0 means DefaultMaxPerScope.
	MaxPerScope int
	// RepoMaxBytes caps what one sync fetches (the pack on the wire) and
	// reads (the skills' files together); 0 means DefaultRepoMaxBytes.
	RepoMaxBytes int64
	// SyncTimeout bounds one sync; 0 means DefaultSyncTimeout.
	SyncTimeout time.Duration
	// AllowPrivate lets https repository URLs reach private and local
	// addresses (the operator's SESHAT_ALLOW_PRIVATE_UPSTREAMS).
	AllowPrivate bool
	// WorkDir is where syncs keep the fetched pack while they read it
	// (a temporary folder each, removed after); "" means the system's
	// temporary directory.
	WorkDir string
	// Profiles names the skills of agent profiles. If nil, turns see no
	// profile's list (SetProfiles may set it later).
	Profiles ProfileSkills
	// Logger receives sync failures; nil discards.
	Logger *slog.Logger
}

// ProfileSkills returns the skill names an agent profile version names,
// in its order; none means the profile does not narrow the skills.
type ProfileSkills func(ctx context.Context, agentID string, version int) ([]string, error)

// Caller is who asks: a user, and whether they are a server admin.
type Caller struct {
	UserID string
	Admin  bool
}

// Service runs the skills family: uploads, listings, the repositories and
// their syncs, and the turn extension. It is safe for concurrent use; it
// starts no goroutines (a sync runs on its caller's).
type Service struct {
	cfg      Config
	store    *persist.Store
	access   *tenancy.Access
	log      *slog.Logger
	profiles atomic.Pointer[ProfileSkills]

	mu      sync.Mutex
	syncing map[string]bool
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("skills: Store is required")
	}
	if cfg.Budget < 0 || cfg.MaxBytes < 0 || cfg.MaxFiles < 0 || cfg.MaxPerScope < 0 || cfg.RepoMaxBytes < 0 || cfg.SyncTimeout < 0 {
		return nil, errors.New("skills: limits must not be negative")
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxFiles == 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.MaxPerScope == 0 {
		cfg.MaxPerScope = DefaultMaxPerScope
	}
	if cfg.RepoMaxBytes == 0 {
		cfg.RepoMaxBytes = DefaultRepoMaxBytes
	}
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, store: cfg.Store, access: tenancy.NewAccess(cfg.Store), log: log, syncing: map[string]bool{}}
	if cfg.Profiles != nil {
		s.SetProfiles(cfg.Profiles)
	}
	return s, nil
}

// SetProfiles sets what names the skills of agent profiles.
func (s *Service) SetProfiles(p ProfileSkills) { s.profiles.Store(&p) }

func (s *Service) profileSkills(ctx context.Context, c agent.TurnContext) ([]string, error) {
	p := s.profiles.Load()
	if p == nil || *p == nil || c.AgentID == "" {
		return nil, nil
	}
	return (*p)(ctx, c.AgentID, c.AgentVersion)
}

// Limits returns the limits of one skill.
func (s *Service) Limits() Limits { return Limits{MaxBytes: s.cfg.MaxBytes, MaxFiles: s.cfg.MaxFiles} }

// Budget returns the catalogue budget in characters.
func (s *Service) Budget() int { return s.cfg.Budget }

func notFound(what string) error { return fmt.Errorf("%w: %s", agent.ErrNotFound, what) }

// scopeFor checks that c may add or change skills of workspaceID ("" for
// the global scope: server admins only; a workspace: its editors) and
// returns the scope.
func (s *Service) scopeFor(ctx context.Context, c Caller, workspaceID string) (string, error) {
	if workspaceID == "" {
		if !c.Admin {
			return "", fmt.Errorf("%w: global skills are for server admins; name a workspace_id", agent.ErrForbidden)
		}
		return persist.SkillScopeGlobal, nil
	}
	if err := s.access.Authorize(ctx, c.UserID, workspaceID, persist.WorkspaceEditor); err != nil {
		return "", err
	}
	return persist.SkillScopeWorkspace, nil
}

// Upload stores the skill an archive holds (see ReadArchive), in a
// workspace the caller edits or, for a server admin naming none, in the
// global scope. Nothing is stored unless every check passes.
func (s *Service) Upload(ctx context.Context, c Caller, workspaceID, filename string, r io.ReaderAt, size int64) (persist.Skill, error) {
	scope, err := s.scopeFor(ctx, c, workspaceID)
	if err != nil {
		return persist.Skill{}, err
	}
	if size > s.cfg.MaxBytes+(1<<20) {
		return persist.Skill{}, broken(RuleSize, "the archive is %d bytes; a skill may hold at most %d bytes", size, s.cfg.MaxBytes)
	}
	b, err := ReadArchive(r, size, filename, s.Limits())
	if err != nil {
		return persist.Skill{}, err
	}
	return s.create(ctx, c, scope, workspaceID, b)
}

// CreateFromFields stores a skill given as its name, description and
// instructions: its SKILL.md is written from them.
func (s *Service) CreateFromFields(ctx context.Context, c Caller, workspaceID, name, description, body string) (persist.Skill, error) {
	scope, err := s.scopeFor(ctx, c, workspaceID)
	if err != nil {
		return persist.Skill{}, err
	}
	if err := CheckName(name); err != nil {
		return persist.Skill{}, err
	}
	if err := CheckDescription(description); err != nil {
		return persist.Skill{}, err
	}
	if int64(len(body)) > s.cfg.MaxBytes {
		return persist.Skill{}, broken(RuleSize, "a skill may hold at most %d bytes", s.cfg.MaxBytes)
	}
	md, err := Compose(name, description, body)
	if err != nil {
		return persist.Skill{}, err
	}
	return s.create(ctx, c, scope, workspaceID, Bundle{Folder: name, Files: map[string][]byte{persist.SkillManifest: md}})
}

func (s *Service) create(ctx context.Context, c Caller, scope, workspaceID string, b Bundle) (persist.Skill, error) {
	sk, m, err := Build(b.Folder, b.Files)
	if err != nil {
		return persist.Skill{}, err
	}
	sk.ID = agent.NewID(agent.PrefixSkill)
	sk.Scope, sk.WorkspaceID, sk.CreatedBy = scope, workspaceID, c.UserID
	sk.Source = persist.SkillSource{Type: persist.SkillSourceUpload}
	out, err := s.store.CreateSkill(ctx, sk, b.Files, s.cfg.MaxPerScope)
	switch {
	case errors.Is(err, persist.ErrConflict):
		return persist.Skill{}, fmt.Errorf("%w: a skill named %q exists in this scope, or the scope holds %d skills already", agent.ErrConflict, sk.Name, s.cfg.MaxPerScope)
	case errors.Is(err, persist.ErrNotFound):
		return persist.Skill{}, notFound("workspace " + workspaceID)
	case err != nil:
		return persist.Skill{}, err
	}
	out.Body = m.Body
	return out, nil
}

// List returns the skills a caller sees for a workspace (the caller's
// default one if ""): the workspace's, then the global ones.
func (s *Service) List(ctx context.Context, c Caller, workspaceID string) ([]persist.Skill, error) {
	ws, err := s.access.WorkspaceFor(ctx, c.UserID, workspaceID, persist.WorkspaceViewer)
	if err != nil {
		return nil, err
	}
	return s.store.Skills([]string{ws})
}

// visible loads a skill the caller may see: a global one, or one of a
// workspace they have a role in; any other is not found.
func (s *Service) visible(ctx context.Context, c Caller, id string) (persist.Skill, error) {
	if !agent.ValidID(agent.PrefixSkill, id) {
		return persist.Skill{}, notFound("skill " + id)
	}
	sk, err := s.store.Skill(id)
	if errors.Is(err, persist.ErrNotFound) {
		return persist.Skill{}, notFound("skill " + id)
	}
	if err != nil {
		return persist.Skill{}, err
	}
	if sk.Scope == persist.SkillScopeWorkspace && !c.Admin {
		if err := s.access.Authorize(ctx, c.UserID, sk.WorkspaceID, persist.WorkspaceViewer); err != nil {
			return persist.Skill{}, notFound("skill " + id)
		}
	}
	return sk, nil
}

// changeable loads a skill the caller may change: a workspace skill for
// its editors, a global one for server admins.
func (s *Service) changeable(ctx context.Context, c Caller, id string) (persist.Skill, error) {
	sk, err := s.visible(ctx, c, id)
	if err != nil {
		return sk, err
	}
	if c.Admin {
		return sk, nil
	}
	if sk.Scope == persist.SkillScopeGlobal {
		return sk, fmt.Errorf("%w: global skills are changed by server admins", agent.ErrForbidden)
	}
	return sk, s.access.Authorize(ctx, c.UserID, sk.WorkspaceID, persist.WorkspaceEditor)
}

// Get returns a skill the caller sees, with its instructions.
func (s *Service) Get(ctx context.Context, c Caller, id string) (persist.Skill, error) {
	sk, err := s.visible(ctx, c, id)
	if err != nil {
		return sk, err
	}
	return s.withBody(sk)
}

func (s *Service) withBody(sk persist.Skill) (persist.Skill, error) {
	md, err := s.store.SkillFileContent(sk.ID, persist.SkillManifest)
	if err != nil {
		return sk, err
	}
	if _, body, ok := splitFrontMatter(strings.TrimPrefix(string(md), "\ufeff")); ok {
		sk.Body = body
	}
	return sk, nil
}

// File returns one file of a skill the caller sees.
func (s *Service) File(ctx context.Context, c Caller, id, path string) ([]byte, persist.SkillFile, error) {
	sk, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, persist.SkillFile{}, err
	}
	return s.file(sk, path)
}

func (s *Service) file(sk persist.Skill, path string) ([]byte, persist.SkillFile, error) {
	i := slices.IndexFunc(sk.Files, func(f persist.SkillFile) bool { return f.Path == path })
	if i < 0 {
		return nil, persist.SkillFile{}, notFound(fmt.Sprintf("file %q of skill %s", path, sk.Name))
	}
	data, err := s.store.SkillFileContent(sk.ID, path)
	if errors.Is(err, persist.ErrNotFound) {
		return nil, persist.SkillFile{}, notFound(fmt.Sprintf("file %q of skill %s", path, sk.Name))
	}
	return data, sk.Files[i], err
}

// SetEnabled turns a skill on or off for turns. Synced skills may be
// turned off too (by server admins); their content stays read-only.
func (s *Service) SetEnabled(ctx context.Context, c Caller, id string, enabled bool) (persist.Skill, error) {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return persist.Skill{}, err
	}
	return s.store.UpdateSkill(ctx, id, func(sk *persist.Skill) error {
		sk.Enabled = enabled
		return nil
	})
}

// Delete removes an uploaded skill. A synced skill is read-only: it goes
// when its repository no longer holds it or is deleted (a 409 here).
func (s *Service) Delete(ctx context.Context, c Caller, id string) error {
	if _, err := s.changeable(ctx, c, id); err != nil {
		return err
	}
	err := s.store.DeleteSkill(ctx, id, func(sk persist.Skill) error {
		if sk.Source.Type == persist.SkillSourceRepository {
			return fmt.Errorf("%w: skill %q is synced from repository %s and read-only; remove it there or delete the repository", agent.ErrConflict, sk.Name, sk.Source.RepositoryID)
		}
		return nil
	})
	if errors.Is(err, persist.ErrNotFound) {
		return notFound("skill " + id)
	}
	return err
}

// Missing returns the names among names that no enabled skill a turn of
// workspaceID sees has (workspace skills, then global ones): for agent
// profiles that name skills.
func (s *Service) Missing(_ context.Context, workspaceID string, names []string) ([]string, error) {
	var missing []string
	for _, n := range names {
		_, ok, err := s.resolve(workspaceID, n)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// resolve returns the enabled skill called name that a turn of
// workspaceID sees: the workspace's, else the global one.
func (s *Service) resolve(workspaceID, name string) (persist.Skill, bool, error) {
	sk, err := s.store.SkillByName(workspaceID, name)
	if err == nil && !sk.Enabled && sk.Scope == persist.SkillScopeWorkspace {
		sk, err = s.store.SkillByName("", name)
	}
	if errors.Is(err, persist.ErrNotFound) || (err == nil && !sk.Enabled) {
		return persist.Skill{}, false, nil
	}
	return sk, err == nil, err
}

// Exists reports whether a turn of workspaceID sees an enabled skill
// called name.
func (s *Service) Exists(ctx context.Context, workspaceID, name string) (bool, error) {
	missing, err := s.Missing(ctx, workspaceID, []string{name})
	return err == nil && len(missing) == 0, err
}

// available returns the enabled skills a turn sees, in catalogue rank:
// the profile's (in its order) when it names any, else the workspace's
// then the global ones, each in name order, a workspace skill hiding a
// global one of its name.
func (s *Service) available(ctx context.Context, workspaceID string, profile []string) ([]persist.Skill, error) {
	if len(profile) > 0 {
		var out []persist.Skill
		seen := map[string]bool{}
		for _, n := range profile {
			if seen[n] {
				continue
			}
			seen[n] = true
			sk, ok, err := s.resolve(workspaceID, n)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, sk)
			}
		}
		return out, nil
	}
	all, err := s.store.Skills([]string{workspaceID})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := all[:0]
	for _, sk := range all {
		if !sk.Enabled || seen[sk.Name] {
			continue
		}
		seen[sk.Name] = true
		out = append(out, sk)
	}
	return out, nil
}

// lookup returns the enabled skill called name that a turn of workspaceID
// sees (within profile's list when it has one).
func (s *Service) lookup(workspaceID string, profile []string, name string) (persist.Skill, error) {
	if len(profile) > 0 && !slices.Contains(profile, name) {
		return persist.Skill{}, notFound(fmt.Sprintf("skill %q (this agent's skills are %s)", name, strings.Join(profile, ", ")))
	}
	sk, ok, err := s.resolve(workspaceID, name)
	if err == nil && !ok {
		return persist.Skill{}, notFound(fmt.Sprintf("skill %q", name))
	}
	return sk, err
}
