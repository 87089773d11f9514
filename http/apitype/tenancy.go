package apitype

import "time"

// Organization is an organization with the caller's role in it.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateOrganizationRequest is the body of POST /api/v1/organizations.
type CreateOrganizationRequest struct {
	Name string `json:"name"`
}

// UpdateOrganizationRequest is the body of PATCH /api/v1/organizations/{id}.
type UpdateOrganizationRequest struct {
	Name *string `json:"name,omitempty"`
}

// Member is a user with a role: in an organization or a workspace.
type Member struct {
	// Type is "user" or, for workspace members, "group".
	Type string `json:"type"`
	// ID is the user's or the group's id.
	ID   string `json:"id"`
	Role string `json:"role"`
	// Email and Name describe a user; Name a group.
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// AddMemberRequest adds a member: a user by user_id or email, or (to a
// workspace) a group by group_id, with a role.
type AddMemberRequest struct {
	UserID  string `json:"user_id,omitempty"`
	Email   string `json:"email,omitempty"`
	GroupID string `json:"group_id,omitempty"`
	Role    string `json:"role,omitempty"`
}

// UpdateMemberRequest changes a member's role.
type UpdateMemberRequest struct {
	Role string `json:"role"`
}

// Group is a named set of an organization's members.
type Group struct {
	ID             string    `json:"id"`
	OrganizationID string    `json:"organization_id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// CreateGroupRequest is the body of POST /api/v1/groups.
type CreateGroupRequest struct {
	OrganizationID string  `json:"organization_id"`
	Name           string  `json:"name"`
	Description    *string `json:"description,omitempty"`
}

// UpdateGroupRequest is the body of PATCH /api/v1/groups/{id}.
type UpdateGroupRequest struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// Workspace is a workspace with the caller's role in it.
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// OrganizationID is empty for a workspace of its owner's own.
	OrganizationID string `json:"organization_id"`
	// OwnerID is the user who created it (the user, for a personal one).
	OwnerID string `json:"owner_id"`
	// Personal marks the workspace made at registration.
	Personal  bool      `json:"personal"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateWorkspaceRequest is the body of POST /api/v1/workspaces.
type CreateWorkspaceRequest struct {
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id,omitempty"`
}

// UpdateWorkspaceRequest is the body of PATCH /api/v1/workspaces/{id}.
type UpdateWorkspaceRequest struct {
	Name *string `json:"name,omitempty"`
}

// DeletedWorkspace counts what DELETE /api/v1/workspaces/{id} removed.
type DeletedWorkspace struct {
	Sessions         int `json:"sessions"`
	Files            int `json:"files"`
	Jobs             int `json:"jobs"`
	ProviderSettings int `json:"provider_settings"`
}

// UserList is a page of accounts (GET /api/v1/users).
type UserList struct {
	Data       []User `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// UpdateUserRequest is a server admin's change of an account.
type UpdateUserRequest struct {
	Name     *string `json:"name,omitempty"`
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// Invitation asks someone to join a workspace or an organization; the
// grant is made when the invitee accepts it. It names the invitee only as
// the inviter did (Email or UserID).
type Invitation struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	TargetID   string    `json:"target_id"`
	TargetName string    `json:"target_name"`
	Email      string    `json:"email,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	Role       string    `json:"role"`
	Status     string    `json:"status"`
	InvitedBy  string    `json:"invited_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// AddMemberResult documents the answer of adding a member: a Member when
// the grant was made at once (server admins; an organization's members on
// its workspaces; groups), else the Invitation the invitee must accept.
type AddMemberResult struct {
	Type       string     `json:"type,omitempty"`
	ID         string     `json:"id"`
	Role       string     `json:"role"`
	Email      string     `json:"email,omitempty"`
	Name       string     `json:"name,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	TargetID   string     `json:"target_id,omitempty"`
	TargetName string     `json:"target_name,omitempty"`
	UserID     string     `json:"user_id,omitempty"`
	Status     string     `json:"status,omitempty"`
	InvitedBy  string     `json:"invited_by,omitempty"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
}
