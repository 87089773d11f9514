package apitype

import "time"

// Plan is one version of a plan a turn in plan mode proposed.
type Plan struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	SessionID   string `json:"session_id"`
	// TurnID is the turn that proposed this version; null for a
	// person's edit.
	TurnID  *string `json:"turn_id"`
	Title   string  `json:"title"`
	Content string  `json:"content"`
	Version int     `json:"version"`
	// Status is proposed, approved, rejected, superseded or executed.
	Status         string     `json:"status"`
	Feedback       *string    `json:"feedback"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	DecidedAt      *time.Time `json:"decided_at"`
	DecidedBy      *string    `json:"decided_by"`
	ExecutedTurnID *string    `json:"executed_turn_id"`
}

// PlanList is a page of plans (their latest versions), newest first.
type PlanList struct {
	Data       []Plan `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// UpdatePlanRequest is the body of PATCH /api/v1/plans/{id}: a new
// version.
type UpdatePlanRequest struct {
	Title   *string `json:"title,omitempty"`
	Content string  `json:"content"`
}

// ApprovePlanRequest is the body of POST /api/v1/plans/{id}/approve.
type ApprovePlanRequest struct {
	Execute bool `json:"execute,omitempty"`
	// PermissionMode is the execution turn's: default (the default) or
	// accept_all (needs a workspace admin).
	PermissionMode string `json:"permission_mode,omitempty"`
}

// ApprovePlanResponse answers an approval; turn_id is the execution turn
// when execute was asked (follow it on the session's stream).
type ApprovePlanResponse struct {
	Plan      Plan    `json:"plan"`
	SessionID string  `json:"session_id"`
	TurnID    *string `json:"turn_id,omitempty"`
}

// RejectPlanRequest is the body of POST /api/v1/plans/{id}/reject.
type RejectPlanRequest struct {
	Feedback string `json:"feedback,omitempty"`
}
