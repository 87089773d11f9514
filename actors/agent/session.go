package agent

import (
	"encoding/json"
	"time"
)

// Permission modes of a session.
const (
	ModeDefault   = "default"
	ModeAcceptAll = "accept_all"
	ModeDenyAll   = "deny_all"
	ModePlan      = "plan"
)

// ValidMode reports whether m is a permission mode.
func ValidMode(m string) bool {
	switch m {
	case ModeDefault, ModeAcceptAll, ModeDenyAll, ModePlan:
		return true
	}
	return false
}

// Session statuses.
const (
	StatusIdle    = "idle"
	StatusRunning = "running"
	StatusWaiting = "waiting"
)

// Pending types.
const (
	PendingPermission = "permission"
	PendingPrompt     = "prompt"
)

// Pending is an open permission or prompt request.
type Pending struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	ToolName  string          `json:"tool_name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Question  string          `json:"question,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// Decisions of a permission request.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// AppendJSON appends p as encoding/json's Marshal writes it; it fails,
// with dst unchanged, where Marshal fails.
func (p *Pending) AppendJSON(dst []byte) ([]byte, error) {
	out := append(dst, `{"type":`...)
	out = AppendJSONString(out, p.Type)
	out = appendStringField(out, "request_id", p.RequestID)
	out = appendOmitString(out, "tool_use_id", p.ToolUseID)
	out = appendOmitString(out, "tool_name", p.ToolName)
	var err error
	if len(p.Input) > 0 {
		if out, err = AppendJSONRaw(appendKey(out, "input"), p.Input); err != nil {
			return dst, err
		}
	}
	out = appendOmitString(out, "question", p.Question)
	if out, err = AppendJSONTime(appendKey(out, "created_at"), p.CreatedAt); err != nil {
		return dst, err
	}
	if out, err = AppendJSONTime(appendKey(out, "expires_at"), p.ExpiresAt); err != nil {
		return dst, err
	}
	return append(out, '}'), nil
}
