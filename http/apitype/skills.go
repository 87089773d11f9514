package apitype

import "time"

// CreateSkillRequest is the JSON body of POST /api/v1/skills: a skill
// given as fields, whose SKILL.md the server writes. (The other form of
// the route is a multipart upload of an archive.)
type CreateSkillRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Body        string `json:"body"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// UpdateSkillRequest is the body of PATCH /api/v1/skills/{id}.
type UpdateSkillRequest struct {
	Enabled *bool `json:"enabled"`
}

// SkillSource says where a skill came from.
type SkillSource struct {
	// Type is "upload" or "repository".
	Type         string `json:"type"`
	RepositoryID string `json:"repository_id,omitempty"`
	Path         string `json:"path,omitempty"`
	Commit       string `json:"commit,omitempty"`
}

// SkillFile is one file of a skill.
type SkillFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Skill is a skill. Body, its instructions, is set by GET
// /api/v1/skills/{id} and the create routes only.
type Skill struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	License       string            `json:"license"`
	Compatibility string            `json:"compatibility"`
	Metadata      map[string]string `json:"metadata"`
	AllowedTools  []string          `json:"allowed_tools"`
	// Scope is "global" or "workspace".
	Scope       string      `json:"scope"`
	WorkspaceID string      `json:"workspace_id"`
	Source      SkillSource `json:"source"`
	Enabled     bool        `json:"enabled"`
	Files       []SkillFile `json:"files"`
	Body        *string     `json:"body,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// CreateSkillRepositoryRequest is the body of POST
// /api/v1/skills/repositories.
type CreateSkillRepositoryRequest struct {
	Name string `json:"name"`
	// URL is an https:// or file:// git URL.
	URL string `json:"url"`
	// Ref is a branch or tag; "main" if empty.
	Ref string `json:"ref,omitempty"`
	// Path is the folder that holds the skills; the root if empty.
	Path string `json:"path,omitempty"`
}

// SkillRepository is a git repository whose skills are synced into the
// global scope.
type SkillRepository struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	URL          string     `json:"url"`
	Ref          string     `json:"ref"`
	Path         string     `json:"path"`
	LastSyncedAt *time.Time `json:"last_synced_at"`
	LastCommit   string     `json:"last_commit"`
	SkillCount   int        `json:"skill_count"`
	LastError    string     `json:"last_error"`
	CreatedAt    time.Time  `json:"created_at"`
}

// SkillSyncError is one path a sync could not take.
type SkillSyncError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// SkillSyncResult is the answer of POST
// /api/v1/skills/repositories/{id}/sync: the names of the skills added,
// updated and removed, and the paths that failed.
type SkillSyncResult struct {
	Added   []string         `json:"added"`
	Updated []string         `json:"updated"`
	Removed []string         `json:"removed"`
	Errors  []SkillSyncError `json:"errors"`
	// Repository is the repository after the sync.
	Repository SkillRepository `json:"repository"`
}
