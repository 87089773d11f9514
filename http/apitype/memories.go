package apitype

import "time"

// Memory is a fact, preference, instruction or event kept across sessions.
type Memory struct {
	ID string `json:"id"`
	// Scope is "user" (private to user_id) or "workspace" (shared with the
	// workspace's members; user_id is its author).
	Scope       string `json:"scope"`
	UserID      string `json:"user_id"`
	WorkspaceID string `json:"workspace_id"`
	Content     string `json:"content"`
	// Kind is fact, preference, instruction or event.
	Kind string `json:"kind"`
	// Status is active or superseded.
	Status       string        `json:"status"`
	Supersedes   *string       `json:"supersedes"`
	SupersededBy *string       `json:"superseded_by"`
	Source       *MemorySource `json:"source"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// MemorySource names the turn a memory was extracted from.
type MemorySource struct {
	SessionID string `json:"session_id"`
	TurnID    string `json:"turn_id"`
}

// CreateMemoryRequest is the body of POST /api/v1/memories.
type CreateMemoryRequest struct {
	Content     string `json:"content"`
	Scope       string `json:"scope,omitempty"`
	Kind        string `json:"kind,omitempty"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// MemoryWrite answers POST /api/v1/memories: op "add" (201) or "noop"
// (200, memory is the active memory the content repeats).
type MemoryWrite struct {
	Op     string `json:"op"`
	Memory Memory `json:"memory"`
}

// UpdateMemoryRequest is the body of PATCH /api/v1/memories/{id}.
type UpdateMemoryRequest struct {
	Content string `json:"content"`
}

// MemoryList is a page of memories, newest first.
type MemoryList struct {
	Data       []Memory `json:"data"`
	NextCursor string   `json:"next_cursor"`
}

// SearchMemoriesRequest is the body of POST /api/v1/memories/search.
type SearchMemoriesRequest struct {
	Query             string `json:"query"`
	Limit             int    `json:"limit,omitempty"`
	Scope             string `json:"scope,omitempty"`
	WorkspaceID       string `json:"workspace_id,omitempty"`
	IncludeSuperseded bool   `json:"include_superseded,omitempty"`
}

// MemoryHit is one search result; score is 0-1.
type MemoryHit struct {
	Memory Memory  `json:"memory"`
	Score  float64 `json:"score"`
}

// ExtractMemoriesRequest is the body of POST /api/v1/memories/extract.
type ExtractMemoriesRequest struct {
	SessionID string `json:"session_id"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

// MemoryOp is what extraction did (or, with dry_run, would do) with one
// candidate: add, supersede (memory is the new one) or noop (memory is
// the one it repeats).
type MemoryOp struct {
	Op     string `json:"op"`
	Memory Memory `json:"memory"`
	Reason string `json:"reason"`
}

// ExtractMemoriesResponse answers POST /api/v1/memories/extract.
type ExtractMemoriesResponse struct {
	Ops []MemoryOp `json:"ops"`
}
