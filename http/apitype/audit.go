package apitype

import "time"

// AuditEntry is one entry of the audit log. Hash is the SHA-256 of the
// entry's canonical encoding and PrevHash, which chains it to the entry
// before it.
type AuditEntry struct {
	ID             string            `json:"id"`
	Seq            uint64            `json:"seq"`
	At             time.Time         `json:"at"`
	ActorID        string            `json:"actor_id"`
	ActorType      string            `json:"actor_type"`
	Action         string            `json:"action"`
	ResourceType   string            `json:"resource_type"`
	ResourceID     string            `json:"resource_id"`
	WorkspaceID    string            `json:"workspace_id"`
	OrganizationID string            `json:"organization_id"`
	RequestID      string            `json:"request_id"`
	IP             string            `json:"ip"`
	Outcome        string            `json:"outcome"`
	Details        map[string]string `json:"details"`
	PrevHash       string            `json:"prev_hash"`
	Hash           string            `json:"hash"`
}

// AuditList is a page of the audit log, newest first.
type AuditList struct {
	Data       []AuditEntry `json:"data"`
	NextCursor string       `json:"next_cursor"`
}

// AuditVerification is the body of GET /api/v1/audit/verify.
type AuditVerification struct {
	OK        bool   `json:"ok"`
	Entries   int    `json:"entries"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	AnchorSeq uint64 `json:"anchor_seq"`
	// Broken names the first entry that fails, when OK is false.
	Broken *AuditBreak `json:"broken,omitempty"`
}

// AuditBreak is the first entry that fails verification.
type AuditBreak struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}
