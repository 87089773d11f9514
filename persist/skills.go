package persist

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Skills and the git repositories they are synced from. Buckets (see
// migrate.go):
//
//	skills                skillID -> Skill (metadata and the list of its files)
//	skill_names           workspaceID|name -> skillID  ("" for global skills)
//	skill_files           skillID|path -> the file's bytes
//	skill_repositories    repositoryID -> SkillRepository
//	skills_by_repository  repositoryID|path -> skillID
//
// A name is unique within its scope: among the global skills, or within
// one workspace. A workspace skill may share a global skill's name; a turn
// then sees the workspace's.
var (
	bucketSkills       = []byte("skills")
	bucketSkillNames   = []byte("skill_names")
	bucketSkillFiles   = []byte("skill_files")
	bucketSkillRepos   = []byte("skill_repositories")
	bucketSkillsByRepo = []byte("skills_by_repository")
)

// Scopes of a skill.
const (
	SkillScopeGlobal    = "global"
	SkillScopeWorkspace = "workspace"
)

// Sources of a skill.
const (
	SkillSourceUpload     = "upload"
	SkillSourceRepository = "repository"
)

// SkillFile is one file of a skill, SKILL.md included.
type SkillFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SkillSource says where a skill came from: an upload, or a path of a
// repository at a commit.
type SkillSource struct {
	Type         string `json:"type"`
	RepositoryID string `json:"repository_id,omitempty"`
	Path         string `json:"path,omitempty"`
	Commit       string `json:"commit,omitempty"`
}

// Skill is a skill's record: its front matter, where it lives and the list
// of its files. The files' bytes are kept apart (SkillFileContent), so that
// listing skills for a turn's catalogue reads only these records.
type Skill struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	License       string            `json:"license,omitempty"`
	Compatibility string            `json:"compatibility,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	AllowedTools  []string          `json:"allowed_tools,omitempty"`
	// Scope is SkillScopeGlobal (no WorkspaceID) or SkillScopeWorkspace.
	Scope       string      `json:"scope"`
	WorkspaceID string      `json:"workspace_id,omitempty"`
	Source      SkillSource `json:"source"`
	Enabled     bool        `json:"enabled"`
	// Body is the instructions: SKILL.md after its front matter. It is
	// filled by SkillWithBody only; records keep it in SKILL.md.
	Body  string      `json:"-"`
	Files []SkillFile `json:"files"`
	// Digest is a hash over the files' paths and contents: a sync
	// compares it to tell an updated skill from an unchanged one.
	Digest    string    `json:"digest"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SkillManifest is the name of the file that holds a skill's front matter
// and instructions.
const SkillManifest = "SKILL.md"

// SkillRepository is a git repository whose skills are synced into the
// global scope.
type SkillRepository struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
	Ref  string `json:"ref"`
	// Path is the folder of the repository that holds the skills; "" for
	// its root.
	Path         string    `json:"path"`
	LastSyncedAt time.Time `json:"last_synced_at,omitzero"`
	LastCommit   string    `json:"last_commit,omitempty"`
	SkillCount   int       `json:"skill_count"`
	LastError    string    `json:"last_error,omitempty"`
	CreatedBy    string    `json:"created_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// SyncedSkill is one valid skill a repository holds at a commit: its
// record (ID, scope and times are the store's) and its files.
type SyncedSkill struct {
	Skill Skill
	Files map[string][]byte
}

// SkillSync is what a sync found at Commit: the valid skills and the
// paths that failed (path → reason). A failed path keeps the skill synced
// from it before, if any.
type SkillSync struct {
	Commit string
	Skills []SyncedSkill
	Errors map[string]string
}

// SkillSyncResult is what a sync changed: the names of the skills added,
// updated and removed, and the paths that failed with why, in path order.
type SkillSyncResult struct {
	Added, Updated, Removed []string
	Errors                  []SkillSyncError
	Repository              SkillRepository
}

// SkillSyncError is one path a sync could not take.
type SkillSyncError struct {
	Path  string
	Error string
}

func checkSkill(sk Skill, files map[string][]byte) error {
	if err := checkID("skill id", sk.ID); err != nil {
		return err
	}
	switch sk.Scope {
	case SkillScopeGlobal:
		if sk.WorkspaceID != "" {
			return fmt.Errorf("persist: global skill with a workspace: %w", ErrInvalid)
		}
	case SkillScopeWorkspace:
		if err := checkID("workspace id", sk.WorkspaceID); err != nil {
			return err
		}
	default:
		return fmt.Errorf("persist: skill scope %q: %w", sk.Scope, ErrInvalid)
	}
	if sk.Name == "" || len(sk.Name) > maxIDLen || bytes.IndexByte([]byte(sk.Name), 0) >= 0 {
		return fmt.Errorf("persist: skill name %q: %w", sk.Name, ErrInvalid)
	}
	if _, ok := files[SkillManifest]; !ok {
		return fmt.Errorf("persist: skill %s without %s: %w", sk.ID, SkillManifest, ErrInvalid)
	}
	if len(files) != len(sk.Files) {
		return fmt.Errorf("persist: skill %s lists %d files, has %d: %w", sk.ID, len(sk.Files), len(files), ErrInvalid)
	}
	for _, f := range sk.Files {
		if _, ok := files[f.Path]; !ok || f.Path == "" || bytes.IndexByte([]byte(f.Path), 0) >= 0 {
			return fmt.Errorf("persist: skill %s file %q: %w", sk.ID, f.Path, ErrInvalid)
		}
	}
	return nil
}

func (tx *Tx) skill(id string) (Skill, error) {
	return record[Skill](tx, bucketSkills, "skill", id)
}

// putSkill writes a skill's record, its name and its files, replacing the
// files of a skill with the same id.
func (tx *Tx) putSkill(sk Skill, files map[string][]byte) error {
	if err := tx.deletePrefixOf(bucketSkillFiles, prefixKey(sk.ID)); err != nil {
		return err
	}
	fb := tx.bucket(bucketSkillFiles)
	for p, data := range files {
		if err := fb.Put(key(sk.ID, p), data); err != nil {
			return err
		}
	}
	if err := tx.bucket(bucketSkillNames).Put(key(sk.WorkspaceID, sk.Name), []byte(sk.ID)); err != nil {
		return err
	}
	if sk.Source.Type == SkillSourceRepository {
		if err := tx.bucket(bucketSkillsByRepo).Put(key(sk.Source.RepositoryID, sk.Source.Path), []byte(sk.ID)); err != nil {
			return err
		}
	}
	return putJSON(tx.bucket(bucketSkills), []byte(sk.ID), sk)
}

// deleteSkill removes a skill, its name, its files and its repository
// entry.
func (tx *Tx) deleteSkill(id string) error {
	sk, err := tx.skill(id)
	if err != nil {
		return err
	}
	if err := tx.deletePrefixOf(bucketSkillFiles, prefixKey(id)); err != nil {
		return err
	}
	names := tx.bucket(bucketSkillNames)
	if k := key(sk.WorkspaceID, sk.Name); bytes.Equal(names.Get(k), []byte(id)) {
		if err := names.Delete(k); err != nil {
			return err
		}
	}
	if sk.Source.Type == SkillSourceRepository {
		if err := tx.bucket(bucketSkillsByRepo).Delete(key(sk.Source.RepositoryID, sk.Source.Path)); err != nil {
			return err
		}
	}
	return tx.bucket(bucketSkills).Delete([]byte(id))
}

// deletePrefixOf deletes every key of bucket name that starts with p.
func (tx *Tx) deletePrefixOf(name, p []byte) error {
	b := tx.bucket(name)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// skillNamed returns the id of the skill called name in a scope (workspace
// "" for the global one), or "".
func (tx *Tx) skillNamed(workspaceID, name string) string {
	return string(tx.bucket(bucketSkillNames).Get(key(workspaceID, name)))
}

// CreateSkill stores a new skill with its files. It returns ErrConflict if
// the id exists or a skill of the same scope has the name, and ErrNotFound
// for an unknown workspace. maxPerScope, if positive, caps the skills of
// the scope (ErrConflict past it).
func (s *Store) CreateSkill(ctx context.Context, sk Skill, files map[string][]byte, maxPerScope int) (Skill, error) {
	if err := checkSkill(sk, files); err != nil {
		return Skill{}, err
	}
	if sk.CreatedAt.IsZero() {
		sk.CreatedAt = now()
	}
	sk.CreatedAt = normTime(sk.CreatedAt)
	sk.UpdatedAt = sk.CreatedAt
	sk.Body = ""
	err := s.Update(ctx, func(tx *Tx) error {
		if tx.bucket(bucketSkills).Get([]byte(sk.ID)) != nil {
			return fmt.Errorf("persist: skill %s exists: %w", sk.ID, ErrConflict)
		}
		if sk.Scope == SkillScopeWorkspace && tx.bucket(bucketWorkspaces).Get([]byte(sk.WorkspaceID)) == nil {
			return fmt.Errorf("persist: workspace %s: %w", sk.WorkspaceID, ErrNotFound)
		}
		if tx.skillNamed(sk.WorkspaceID, sk.Name) != "" {
			return fmt.Errorf("persist: a skill named %q exists: %w", sk.Name, ErrConflict)
		}
		if maxPerScope > 0 && len(tx.scopeSkillIDs(sk.WorkspaceID)) >= maxPerScope {
			return fmt.Errorf("persist: the scope holds %d skills already: %w", maxPerScope, ErrConflict)
		}
		return tx.putSkill(sk, files)
	})
	if err != nil {
		return Skill{}, err
	}
	return sk, nil
}

// scopeSkillIDs returns the ids of a scope's skills in name order.
func (tx *Tx) scopeSkillIDs(workspaceID string) []string {
	var ids []string
	p := prefixKey(workspaceID)
	c := tx.bucket(bucketSkillNames).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		ids = append(ids, string(v))
	}
	return ids
}

// Skill returns a skill's record (without Body), or ErrNotFound.
func (s *Store) Skill(id string) (Skill, error) {
	return view(s, (*Tx).skill, id)
}

// SkillByName returns the skill called name that a turn of workspaceID
// sees: the workspace's, else the global one; ErrNotFound if neither
// exists. With workspaceID "" only global skills are looked at.
func (s *Store) SkillByName(workspaceID, name string) (Skill, error) {
	var sk Skill
	err := s.View(func(tx *Tx) error {
		id := ""
		if workspaceID != "" {
			id = tx.skillNamed(workspaceID, name)
		}
		if id == "" {
			id = tx.skillNamed("", name)
		}
		if id == "" {
			return fmt.Errorf("persist: skill %q: %w", name, ErrNotFound)
		}
		var err error
		sk, err = tx.skill(id)
		return err
	})
	return sk, err
}

// Skills returns the skills of workspaceIDs, each workspace's in name
// order, followed by the global skills in name order.
func (s *Store) Skills(workspaceIDs []string) ([]Skill, error) {
	var out []Skill
	err := s.View(func(tx *Tx) error {
		out = out[:0]
		for _, ws := range append(slices.DeleteFunc(slices.Clone(workspaceIDs), func(w string) bool { return w == "" }), "") {
			for _, id := range tx.scopeSkillIDs(ws) {
				sk, err := tx.skill(id)
				if err != nil {
					return err
				}
				out = append(out, sk)
			}
		}
		return nil
	})
	return out, err
}

// SkillFileContent returns the bytes of one file of a skill, or
// ErrNotFound.
func (s *Store) SkillFileContent(id, path string) ([]byte, error) {
	var out []byte
	err := s.View(func(tx *Tx) error {
		fb, k := tx.bucket(bucketSkillFiles), key(id, path)
		if !has(fb, k) {
			if _, err := tx.skill(id); err != nil {
				return err
			}
			return fmt.Errorf("persist: file %q of skill %s: %w", path, id, ErrNotFound)
		}
		out = append([]byte{}, fb.Get(k)...)
		return nil
	})
	return out, err
}

// UpdateSkill changes a skill's record in one write: fn gets the stored
// record and changes it in place. The store keeps everything but Enabled
// and sets UpdatedAt. fn may run more than once.
func (s *Store) UpdateSkill(ctx context.Context, id string, fn func(*Skill) error) (Skill, error) {
	var out Skill
	err := s.Update(ctx, func(tx *Tx) error {
		sk, err := tx.skill(id)
		if err != nil {
			return err
		}
		next := sk
		if err := fn(&next); err != nil {
			return err
		}
		sk.Enabled = next.Enabled
		sk.UpdatedAt = now()
		out = sk
		return putJSON(tx.bucket(bucketSkills), []byte(id), sk)
	})
	return out, err
}

// DeleteSkill removes a skill and its files, or returns ErrNotFound.
// check, if not nil, sees the stored record first and may refuse.
func (s *Store) DeleteSkill(ctx context.Context, id string, check func(Skill) error) error {
	return s.Update(ctx, func(tx *Tx) error {
		sk, err := tx.skill(id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(sk); err != nil {
				return err
			}
		}
		return tx.deleteSkill(id)
	})
}

// deleteWorkspaceSkills removes the skills of a workspace.
func (tx *Tx) deleteWorkspaceSkills(ws string) error {
	for _, id := range tx.scopeSkillIDs(ws) {
		if err := tx.deleteSkill(id); err != nil {
			return err
		}
	}
	return nil
}

func (tx *Tx) skillRepository(id string) (SkillRepository, error) {
	return record[SkillRepository](tx, bucketSkillRepos, "skill repository", id)
}

// CreateSkillRepository stores a new repository; ErrConflict if the id
// exists.
func (s *Store) CreateSkillRepository(ctx context.Context, r SkillRepository) (SkillRepository, error) {
	if err := checkID("skill repository id", r.ID); err != nil {
		return SkillRepository{}, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	r.CreatedAt = normTime(r.CreatedAt)
	err := s.Update(ctx, func(tx *Tx) error {
		if tx.bucket(bucketSkillRepos).Get([]byte(r.ID)) != nil {
			return fmt.Errorf("persist: skill repository %s exists: %w", r.ID, ErrConflict)
		}
		return putJSON(tx.bucket(bucketSkillRepos), []byte(r.ID), r)
	})
	if err != nil {
		return SkillRepository{}, err
	}
	return r, nil
}

// SkillRepository returns a repository, or ErrNotFound.
func (s *Store) SkillRepository(id string) (SkillRepository, error) {
	return view(s, (*Tx).skillRepository, id)
}

// SkillRepositories returns every repository, oldest first.
func (s *Store) SkillRepositories() ([]SkillRepository, error) {
	var out []SkillRepository
	err := s.View(func(tx *Tx) error {
		out = out[:0]
		return tx.bucket(bucketSkillRepos).ForEach(func(_, v []byte) error {
			var r SkillRepository
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b SkillRepository) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// repositorySkills returns the path → skill id of a repository's skills.
func (tx *Tx) repositorySkills(repoID string) map[string]string {
	out := map[string]string{}
	p := prefixKey(repoID)
	c := tx.bucket(bucketSkillsByRepo).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		out[string(k[len(p):])] = string(v)
	}
	return out
}

// DeleteSkillRepository removes a repository and every skill synced from
// it, and returns how many skills went.
func (s *Store) DeleteSkillRepository(ctx context.Context, id string) (int, error) {
	n := 0
	err := s.Update(ctx, func(tx *Tx) error {
		n = 0
		if _, err := tx.skillRepository(id); err != nil {
			return err
		}
		for _, sid := range tx.repositorySkills(id) {
			if err := tx.deleteSkill(sid); err != nil {
				return err
			}
			n++
		}
		return tx.bucket(bucketSkillRepos).Delete([]byte(id))
	})
	return n, err
}

// FailSkillSync records a sync that could not fetch the repository: its
// error, with the skills left as they were.
func (s *Store) FailSkillSync(ctx context.Context, id, msg string) (SkillRepository, error) {
	var out SkillRepository
	err := s.Update(ctx, func(tx *Tx) error {
		r, err := tx.skillRepository(id)
		if err != nil {
			return err
		}
		r.LastSyncedAt, r.LastError = now(), msg
		out = r
		return putJSON(tx.bucket(bucketSkillRepos), []byte(id), r)
	})
	return out, err
}

// ApplySkillSync makes a repository's global skills what sync found, in
// one write. A skill at a path synced before keeps its id, its enabled
// flag and its creation time; it counts as updated when its digest or
// name changed. Paths that are gone remove their skills; paths that
// failed keep theirs. A new skill whose name another global skill has is
// a path error. newID mints the id of each added skill.
func (s *Store) ApplySkillSync(ctx context.Context, repoID string, sync SkillSync, newID func() string) (SkillSyncResult, error) {
	var res SkillSyncResult
	err := s.Update(ctx, func(tx *Tx) error {
		res = SkillSyncResult{}
		repo, err := tx.skillRepository(repoID)
		if err != nil {
			return err
		}
		errs := map[string]string{}
		for p, e := range sync.Errors {
			errs[p] = e
		}
		before := tx.repositorySkills(repoID)
		t := now()
		seen := map[string]bool{}
		for _, found := range sync.Skills {
			sk := found.Skill
			p := sk.Source.Path
			seen[p] = true
			sk.Scope, sk.WorkspaceID = SkillScopeGlobal, ""
			sk.Source = SkillSource{Type: SkillSourceRepository, RepositoryID: repoID, Path: p, Commit: sync.Commit}
			sk.Body = ""
			oldID, existed := before[p]
			if existed {
				old, err := tx.skill(oldID)
				if err != nil {
					return err
				}
				if other := tx.skillNamed("", sk.Name); other != "" && other != oldID {
					errs[p] = fmt.Sprintf("a global skill named %q exists", sk.Name)
					continue
				}
				sk.ID, sk.Enabled, sk.CreatedAt, sk.CreatedBy = old.ID, old.Enabled, old.CreatedAt, old.CreatedBy
				sk.UpdatedAt = old.UpdatedAt
				changed := old.Digest != sk.Digest || old.Name != sk.Name || old.Description != sk.Description
				if changed {
					sk.UpdatedAt = t
					res.Updated = append(res.Updated, sk.Name)
				}
				if old.Name != sk.Name {
					if err := tx.bucket(bucketSkillNames).Delete(key("", old.Name)); err != nil {
						return err
					}
				}
				if err := checkSkill(sk, found.Files); err != nil {
					return err
				}
				if changed {
					if err := tx.putSkill(sk, found.Files); err != nil {
						return err
					}
				} else if err := putJSON(tx.bucket(bucketSkills), []byte(sk.ID), sk); err != nil {
					return err
				}
				continue
			}
			if tx.skillNamed("", sk.Name) != "" {
				errs[p] = fmt.Sprintf("a global skill named %q exists", sk.Name)
				continue
			}
			sk.ID, sk.Enabled, sk.CreatedAt, sk.UpdatedAt = newID(), true, t, t
			if err := checkSkill(sk, found.Files); err != nil {
				return err
			}
			if err := tx.putSkill(sk, found.Files); err != nil {
				return err
			}
			res.Added = append(res.Added, sk.Name)
		}
		for p, id := range before {
			if seen[p] {
				continue
			}
			if _, failed := errs[p]; failed {
				continue
			}
			old, err := tx.skill(id)
			if err != nil {
				return err
			}
			if err := tx.deleteSkill(id); err != nil {
				return err
			}
			res.Removed = append(res.Removed, old.Name)
		}
		for p, e := range errs {
			res.Errors = append(res.Errors, SkillSyncError{Path: p, Error: e})
		}
		slices.SortFunc(res.Errors, func(a, b SkillSyncError) int { return cmp.Compare(a.Path, b.Path) })
		slices.Sort(res.Added)
		slices.Sort(res.Updated)
		slices.Sort(res.Removed)
		repo.LastSyncedAt, repo.LastCommit, repo.LastError = t, sync.Commit, ""
		repo.SkillCount = len(tx.repositorySkills(repoID))
		res.Repository = repo
		return putJSON(tx.bucket(bucketSkillRepos), []byte(repoID), repo)
	})
	return res, err
}

// checkSkills reports skill records and indexes that disagree.
func (tx *Tx) checkSkills(p *problems) {
	skills, names, files := tx.bucket(bucketSkills), tx.bucket(bucketSkillNames), tx.bucket(bucketSkillFiles)
	each(skills, func(k, v []byte) {
		var sk Skill
		if _, err := getJSON(skills, k, &sk); err != nil || sk.ID != string(k) {
			p.add("skill %s: bad record (%v)", k, err)
			return
		}
		if id := names.Get(key(sk.WorkspaceID, sk.Name)); !bytes.Equal(id, k) {
			p.add("skill %s: name index names %q", k, id)
		}
		for _, f := range sk.Files {
			if !has(files, key(sk.ID, f.Path)) {
				p.add("skill %s: file %q missing", k, f.Path)
			}
		}
		if sk.Source.Type == SkillSourceRepository {
			if id := tx.bucket(bucketSkillsByRepo).Get(key(sk.Source.RepositoryID, sk.Source.Path)); !bytes.Equal(id, k) {
				p.add("skill %s: repository index names %q", k, id)
			}
		}
	})
	each(names, func(k, v []byte) {
		if skills.Get(v) == nil {
			p.add("skill name %q names missing skill %s", k, v)
		}
	})
	each(files, func(k, _ []byte) {
		id, _, _ := bytes.Cut(k, []byte{0})
		if skills.Get(id) == nil {
			p.add("skill file %q of missing skill", k)
		}
	})
}
