package persist

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Agent profiles. Buckets (see migrate.go):
//
//	agents          agentID -> AgentProfile (the current version)
//	agent_versions  agentID|%010d -> AgentProfile (every version, the current one too)
//	agent_slugs     workspaceID|slug -> agentID  ("" for server-wide profiles)
//
// A change never rewrites a version: it writes version n+1 and points the
// current record at it, so a session that started with version n still
// reads it.
var (
	bucketAgents        = []byte("agents")
	bucketAgentVersions = []byte("agent_versions")
	bucketAgentSlugs    = []byte("agent_slugs")
)

// AgentTools narrows the tools of a turn that uses a profile.
type AgentTools struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// AgentMemory is a profile's memory setting.
type AgentMemory struct {
	// Extract is "auto" or "off".
	Extract string `json:"extract"`
	Inject  bool   `json:"inject"`
}

// AgentProfile is one version of a named agent setup. An empty
// WorkspaceID makes it server-wide.
type AgentProfile struct {
	ID             string       `json:"id"`
	Version        int          `json:"version"`
	WorkspaceID    string       `json:"workspace_id,omitempty"`
	Slug           string       `json:"slug"`
	Name           string       `json:"name,omitempty"`
	Description    string       `json:"description,omitempty"`
	Model          string       `json:"model,omitempty"`
	SystemPrompt   string       `json:"system_prompt,omitempty"`
	PermissionMode string       `json:"permission_mode,omitempty"`
	MaxTurns       int          `json:"max_turns,omitempty"`
	Tools          *AgentTools  `json:"tools,omitempty"`
	Skills         []string     `json:"skills,omitempty"`
	MCPServers     []string     `json:"mcp_servers,omitempty"`
	CorpusIDs      []string     `json:"corpus_ids,omitempty"`
	Memory         *AgentMemory `json:"memory,omitempty"`
	WebSearch      *bool        `json:"web_search,omitempty"`
	CreatedBy      string       `json:"created_by,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

func agentVersionKey(id string, v int) []byte { return key(id, fmt.Sprintf("%010d", v)) }

func checkAgent(a AgentProfile) error {
	if err := checkID("agent id", a.ID); err != nil {
		return err
	}
	if a.WorkspaceID != "" {
		if err := checkID("workspace id", a.WorkspaceID); err != nil {
			return err
		}
	}
	if a.Slug == "" {
		return fmt.Errorf("persist: agent profile without a slug: %w", ErrInvalid)
	}
	return nil
}

func (tx *Tx) agent(id string) (AgentProfile, error) {
	var a AgentProfile
	ok, err := getJSON(tx.bucket(bucketAgents), []byte(id), &a)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, fmt.Errorf("persist: agent profile %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// putAgent writes a as its current record and as its version.
func (tx *Tx) putAgent(a AgentProfile) error {
	if err := putJSON(tx.bucket(bucketAgents), []byte(a.ID), a); err != nil {
		return err
	}
	return putJSON(tx.bucket(bucketAgentVersions), agentVersionKey(a.ID, a.Version), a)
}

// CreateAgent stores version 1 of a new profile. It returns ErrConflict if
// the id exists or the slug is taken in the workspace, and ErrNotFound for
// an unknown workspace.
func (s *Store) CreateAgent(ctx context.Context, a AgentProfile) (AgentProfile, error) {
	if err := checkAgent(a); err != nil {
		return AgentProfile{}, err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	a.CreatedAt = normTime(a.CreatedAt)
	a.UpdatedAt = a.CreatedAt
	a.Version = 1
	err := s.Update(ctx, func(tx *Tx) error {
		if tx.bucket(bucketAgents).Get([]byte(a.ID)) != nil {
			return fmt.Errorf("persist: agent profile %s exists: %w", a.ID, ErrConflict)
		}
		if a.WorkspaceID != "" && tx.bucket(bucketWorkspaces).Get([]byte(a.WorkspaceID)) == nil {
			return fmt.Errorf("persist: workspace %s: %w", a.WorkspaceID, ErrNotFound)
		}
		slugs := tx.bucket(bucketAgentSlugs)
		if slugs.Get(key(a.WorkspaceID, a.Slug)) != nil {
			return fmt.Errorf("persist: an agent profile with slug %q exists: %w", a.Slug, ErrConflict)
		}
		if err := slugs.Put(key(a.WorkspaceID, a.Slug), []byte(a.ID)); err != nil {
			return err
		}
		return tx.putAgent(a)
	})
	if err != nil {
		return AgentProfile{}, err
	}
	return a, nil
}

// Agent returns the current version of a profile, or ErrNotFound.
func (s *Store) Agent(id string) (AgentProfile, error) {
	var a AgentProfile
	err := s.View(func(tx *Tx) error {
		var err error
		a, err = tx.agent(id)
		return err
	})
	return a, err
}

// AgentVersion returns one version of a profile, or ErrNotFound. The
// versions of a deleted profile are gone with it.
func (s *Store) AgentVersion(id string, version int) (AgentProfile, error) {
	var a AgentProfile
	err := s.View(func(tx *Tx) error {
		ok, err := getJSON(tx.bucket(bucketAgentVersions), agentVersionKey(id, version), &a)
		if err == nil && !ok {
			err = fmt.Errorf("persist: agent profile %s version %d: %w", id, version, ErrNotFound)
		}
		return err
	})
	return a, err
}

// AgentVersions returns every version of a profile, newest first.
func (s *Store) AgentVersions(id string) ([]AgentProfile, error) {
	var out []AgentProfile
	err := s.View(func(tx *Tx) error {
		if _, err := tx.agent(id); err != nil {
			return err
		}
		prefix := prefixKey(id)
		c := tx.bucket(bucketAgentVersions).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a AgentProfile
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

// AgentBySlug returns the current version of the profile with slug in
// workspaceID ("" for the server-wide ones), or ErrNotFound.
func (s *Store) AgentBySlug(workspaceID, slug string) (AgentProfile, error) {
	var a AgentProfile
	err := s.View(func(tx *Tx) error {
		id := tx.bucket(bucketAgentSlugs).Get(key(workspaceID, slug))
		if id == nil {
			return fmt.Errorf("persist: agent profile %q: %w", slug, ErrNotFound)
		}
		var err error
		a, err = tx.agent(string(id))
		return err
	})
	return a, err
}

// Agents returns the current versions of the profiles of workspaceIDs and
// the server-wide ones (server-wide last), each group ordered by slug.
func (s *Store) Agents(workspaceIDs []string) ([]AgentProfile, error) {
	var out []AgentProfile
	err := s.View(func(tx *Tx) error {
		slugs := tx.bucket(bucketAgentSlugs)
		scan := func(ws string) error {
			prefix := prefixKey(ws)
			c := slugs.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				a, err := tx.agent(string(v))
				if err != nil {
					return err
				}
				out = append(out, a)
			}
			return nil
		}
		for _, ws := range workspaceIDs {
			if ws != "" {
				if err := scan(ws); err != nil {
					return err
				}
			}
		}
		return scan("")
	})
	return out, err
}

// UpdateAgent writes the next version of a profile: fn gets a copy of the
// current version and changes it in place. The store keeps ID,
// WorkspaceID, CreatedBy and CreatedAt, sets Version and UpdatedAt, and
// moves the slug (ErrConflict if the new one is taken). fn may run more
// than once and must only change its argument.
func (s *Store) UpdateAgent(ctx context.Context, id string, fn func(*AgentProfile) error) (AgentProfile, error) {
	var out AgentProfile
	err := s.Update(ctx, func(tx *Tx) error {
		cur, err := tx.agent(id)
		if err != nil {
			return err
		}
		next := cur
		if err := fn(&next); err != nil {
			return err
		}
		next.ID, next.WorkspaceID, next.CreatedBy, next.CreatedAt = cur.ID, cur.WorkspaceID, cur.CreatedBy, cur.CreatedAt
		next.Version = cur.Version + 1
		next.UpdatedAt = now()
		if next.Slug == "" {
			return fmt.Errorf("persist: agent profile without a slug: %w", ErrInvalid)
		}
		if next.Slug != cur.Slug {
			slugs := tx.bucket(bucketAgentSlugs)
			if slugs.Get(key(next.WorkspaceID, next.Slug)) != nil {
				return fmt.Errorf("persist: an agent profile with slug %q exists: %w", next.Slug, ErrConflict)
			}
			if err := slugs.Delete(key(cur.WorkspaceID, cur.Slug)); err != nil {
				return err
			}
			if err := slugs.Put(key(next.WorkspaceID, next.Slug), []byte(id)); err != nil {
				return err
			}
		}
		out = next
		return tx.putAgent(next)
	})
	return out, err
}

// DeleteAgent removes a profile: its slug is free again and it is no
// longer listed, but its versions stay readable (AgentVersion) for the
// sessions that started with one, until its workspace is deleted. It
// returns ErrNotFound for an unknown profile.
func (s *Store) DeleteAgent(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error {
		a, err := tx.agent(id)
		if err != nil {
			return err
		}
		if err := tx.bucket(bucketAgentSlugs).Delete(key(a.WorkspaceID, a.Slug)); err != nil {
			return err
		}
		return tx.bucket(bucketAgents).Delete([]byte(a.ID))
	})
}

// deleteWorkspaceAgents removes the profiles of a workspace and every
// version of them, those of deleted profiles too.
func (tx *Tx) deleteWorkspaceAgents(ws string) error {
	var ids []string
	prefix := prefixKey(ws)
	c := tx.bucket(bucketAgentSlugs).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ids = append(ids, string(v))
	}
	for _, id := range ids {
		a, err := tx.agent(id)
		if err != nil {
			return err
		}
		if err := tx.bucket(bucketAgentSlugs).Delete(key(a.WorkspaceID, a.Slug)); err != nil {
			return err
		}
		if err := tx.bucket(bucketAgents).Delete([]byte(id)); err != nil {
			return err
		}
	}
	var versions [][]byte
	err := tx.bucket(bucketAgentVersions).ForEach(func(k, v []byte) error {
		var a struct {
			WorkspaceID string `json:"workspace_id"`
		}
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if a.WorkspaceID == ws {
			versions = append(versions, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range versions {
		if err := tx.bucket(bucketAgentVersions).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
