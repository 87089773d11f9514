package skills

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// RepositoryInput is a repository as an admin adds it.
type RepositoryInput struct {
	Name string
	// URL is an https:// or file:// git URL.
	URL string
	// Ref is a branch or tag; "" means "main".
	Ref string
	// Path is the repository's folder that holds the skills; "" for its
	// root.
	Path string
}

// DefaultRef is the ref a repository syncs when it names none.
const DefaultRef = "main"

func (s *Service) admin(c Caller) error {
	if !c.Admin {
		return fmt.Errorf("%w: skill repositories are for server admins", agent.ErrForbidden)
	}
	return nil
}

// CreateRepository adds a repository (server admins only). Its URL is
// checked now (an https URL against the outbound fence, a file URL for an
// absolute path); nothing is fetched until the first sync.
func (s *Service) CreateRepository(ctx context.Context, c Caller, in RepositoryInput) (persist.SkillRepository, error) {
	if err := s.admin(c); err != nil {
		return persist.SkillRepository{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return persist.SkillRepository{}, fmt.Errorf("%w: name must be 1 to 128 characters", agent.ErrInvalid)
	}
	u, err := s.checkRepoURL(ctx, in.URL)
	if err != nil {
		return persist.SkillRepository{}, err
	}
	ref := strings.TrimSpace(in.Ref)
	if ref == "" {
		ref = DefaultRef
	}
	if err := checkRef(ref); err != nil {
		return persist.SkillRepository{}, err
	}
	dir, err := cleanRepoPath(in.Path)
	if err != nil {
		return persist.SkillRepository{}, err
	}
	return s.store.CreateSkillRepository(ctx, persist.SkillRepository{
		ID: agent.NewID(agent.PrefixSkillRepo), Name: name, URL: u.String(), Ref: ref, Path: dir, CreatedBy: c.UserID,
	})
}

// checkRepoURL accepts an https URL the fence lets through, or a file URL
// of an absolute path.
func (s *Service) checkRepoURL(ctx context.Context, raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil, fmt.Errorf("%w: url must be an https:// or file:// git URL", agent.ErrInvalid)
	}
	switch u.Scheme {
	case "https":
		if _, err := egress.CheckURL(ctx, s.fence(), raw); err != nil {
			return nil, fmt.Errorf("%w: url: %s", agent.ErrInvalid, strings.TrimPrefix(err.Error(), "egress: "))
		}
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !path.IsAbs(u.Path) || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%w: a file:// url must name an absolute path (file:///srv/skills.git)", agent.ErrInvalid)
		}
		u.Host = ""
	default:
		return nil, fmt.Errorf("%w: url must be an https:// or file:// git URL", agent.ErrInvalid)
	}
	return u, nil
}

func (s *Service) fence() egress.Policy {
	return egress.Policy{AllowPrivate: s.cfg.AllowPrivate, Timeout: s.cfg.SyncTimeout}
}

// checkRef accepts what git accepts as a branch or tag name, roughly:
// no spaces, control characters, "..", or the characters git forbids.
func checkRef(ref string) error {
	bad := len(ref) > 255 || strings.Contains(ref, "..") || strings.HasPrefix(ref, "-") ||
		strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".lock")
	for _, c := range ref {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: ref %q is not a valid branch or tag name", agent.ErrInvalid, ref)
	}
	return nil
}

func cleanRepoPath(p string) (string, error) {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" || p == "." {
		return "", nil
	}
	clean, _, err := cleanName(p)
	if err != nil || clean == "" {
		return "", fmt.Errorf("%w: path must be a relative folder of the repository (no .. elements)", agent.ErrInvalid)
	}
	return clean, nil
}

// Repositories lists the repositories (server admins only).
func (s *Service) Repositories(_ context.Context, c Caller) ([]persist.SkillRepository, error) {
	if err := s.admin(c); err != nil {
		return nil, err
	}
	return s.store.SkillRepositories()
}

// Repository returns one repository (server admins only).
func (s *Service) Repository(_ context.Context, c Caller, id string) (persist.SkillRepository, error) {
	if err := s.admin(c); err != nil {
		return persist.SkillRepository{}, err
	}
	if !agent.ValidID(agent.PrefixSkillRepo, id) {
		return persist.SkillRepository{}, notFound("skill repository " + id)
	}
	r, err := s.store.SkillRepository(id)
	if errors.Is(err, persist.ErrNotFound) {
		return r, notFound("skill repository " + id)
	}
	return r, err
}

// DeleteRepository removes a repository and the skills synced from it.
func (s *Service) DeleteRepository(ctx context.Context, c Caller, id string) error {
	if _, err := s.Repository(ctx, c, id); err != nil {
		return err
	}
	_, err := s.store.DeleteSkillRepository(ctx, id)
	if errors.Is(err, persist.ErrNotFound) {
		return notFound("skill repository " + id)
	}
	return err
}

// Sync fetches the repository's ref and makes its global skills what the
// ref holds under the repository's path: every folder with a SKILL.md is
// a skill, checked as an upload is. A folder that fails is a path error,
// and the skill synced from it before (if any) stays. A fetch that fails
// is recorded as the repository's last_error and returned as an
// agent.UpstreamError. One sync of a repository runs at a time (a second
// is ErrConflict).
func (s *Service) Sync(ctx context.Context, c Caller, id string) (persist.SkillSyncResult, error) {
	repo, err := s.Repository(ctx, c, id)
	if err != nil {
		return persist.SkillSyncResult{}, err
	}
	s.mu.Lock()
	if s.syncing[id] {
		s.mu.Unlock()
		return persist.SkillSyncResult{}, fmt.Errorf("%w: repository %s is syncing already", agent.ErrConflict, id)
	}
	s.syncing[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.syncing, id)
		s.mu.Unlock()
	}()

	fctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	start := time.Now()
	found, err := s.fetch(fctx, repo)
	if err != nil {
		if ctx.Err() != nil {
			return persist.SkillSyncResult{}, ctx.Err()
		}
		msg := fetchMessage(err)
		s.log.Warn("skill repository sync failed", "repository_id", id, "url", repo.URL, "error", err)
		if _, ferr := s.store.FailSkillSync(ctx, id, msg); ferr != nil {
			return persist.SkillSyncResult{}, errors.Join(ferr, err)
		}
		return persist.SkillSyncResult{}, &agent.UpstreamError{Service: "skill repository " + repo.Name, Msg: msg}
	}
	res, err := s.store.ApplySkillSync(ctx, id, found, func() string { return agent.NewID(agent.PrefixSkill) })
	if errors.Is(err, persist.ErrNotFound) {
		return res, notFound("skill repository " + id)
	}
	if err == nil {
		s.log.Info("skill repository synced", "repository_id", id, "commit", found.Commit, "added", len(res.Added),
			"updated", len(res.Updated), "removed", len(res.Removed), "errors", len(res.Errors), "took", time.Since(start))
	}
	return res, err
}
