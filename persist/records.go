package persist

import "time"

// Roles of a user on the server.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// User is an account.
type User struct {
	ID                 string    `json:"id"`
	Email              string    `json:"email"` // stored lower-cased
	Name               string    `json:"name"`
	Role               string    `json:"role"`
	PasswordHash       []byte    `json:"password_hash"`
	DefaultWorkspaceID string    `json:"default_workspace_id"`
	Disabled           bool      `json:"disabled"`
	CreatedAt          time.Time `json:"created_at"`
}

// APIKey is a user's `sk-` key. Only its hash is stored; Prefix is the
// public part used to find the record.
type APIKey struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"`
	Hash       []byte    `json:"hash"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

// Workspace owns sessions, files and jobs.
type Workspace struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	OwnerID string `json:"owner_id"`
	// Personal marks the workspace every user gets at registration; it
	// cannot be deleted.
	Personal bool `json:"personal"`
	// OrganizationID is the organization the workspace belongs to; empty
	// for a workspace of its owner's own.
	OrganizationID string    `json:"organization_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// UpdatedAt is zero until the workspace is first changed.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// File is the metadata of a stored file; its bytes live in a
// content-addressed blob named by SHA256.
type File struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Session is the listing record of a session: what the API shows without
// activating its actor. The session actor owns it and rewrites it with
// every snapshot.
type Session struct {
	ID             string    `json:"id"`
	WorkspaceID    string    `json:"workspace_id"`
	UserID         string    `json:"user_id"`
	Title          string    `json:"title"`
	Model          string    `json:"model"`
	SystemPrompt   string    `json:"system_prompt"`
	PermissionMode string    `json:"permission_mode"`
	Status         string    `json:"status"`
	MessageCount   int       `json:"message_count"`
	InputTokens    int64     `json:"input_tokens"`
	OutputTokens   int64     `json:"output_tokens"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// CorpusIDs are the corpora the session's turns retrieve from.
	CorpusIDs []string `json:"corpus_ids,omitempty"`
	// AgentID and AgentVersion name the agent profile version the
	// session started with.
	AgentID      string `json:"agent_id,omitempty"`
	AgentVersion int    `json:"agent_version,omitempty"`
	// Memory is the session's memory setting; nil means the user's
	// preferences.
	Memory *SessionMemory `json:"memory,omitempty"`
}

// SessionMemory is a session's memory setting.
type SessionMemory struct {
	// Extract is "auto" or "off".
	Extract string `json:"extract"`
	Inject  bool   `json:"inject"`
}

// Snapshot is a versioned, opaque actor snapshot. Version names the
// encoding of Data so that the actor can migrate old snapshots.
type Snapshot struct {
	Version uint16
	Data    []byte
}

// SessionSave is one durable write of a session: its listing record, its
// snapshot, and the text to add to the search index (the title and the text
// of messages committed since the last save).
type SessionSave struct {
	Session   Session
	Snapshot  Snapshot
	IndexText string
	// Messages are encoded messages to store at indexes MessagesFrom,
	// MessagesFrom+1, …: the ones added since the last save known to be
	// durable. Writing one again is harmless, so a save may repeat messages
	// an earlier save in flight also carries.
	Messages     [][]byte
	MessagesFrom int
	// Create makes the save create the session first, as CreateSession
	// does, in the same transaction: the first save of a session whose
	// record was never written. A session of that id that exists is
	// ErrConflict.
	Create bool
}

// SessionQuery selects sessions for a listing.
type SessionQuery struct {
	// WorkspaceIDs limits the listing to these workspaces (required).
	WorkspaceIDs []string
	// Q, if set, keeps sessions whose title or message text contains every
	// word of Q (the last word may be a prefix).
	Q string
	// Limit caps the page; if zero, 50; at most 200.
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}
