package apitype

import "time"

// RegisterRequest is the body of POST /api/v1/auth/register.
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// AuthResponse answers a registration or a login.
type AuthResponse struct {
	User      User      `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// User is an account as the API shows it.
type User struct {
	ID                 string    `json:"id"`
	Email              string    `json:"email"`
	Name               string    `json:"name"`
	Role               string    `json:"role"`
	DefaultWorkspaceID string    `json:"default_workspace_id"`
	CreatedAt          time.Time `json:"created_at"`
	Disabled           bool      `json:"disabled"` // a disabled account's tokens and keys are refused
}

// CreateUserRequest is the body of POST /api/v1/users (server admins).
type CreateUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
	// Role is "admin" or "member"; empty is member.
	Role string `json:"role,omitempty"`
}

// UpdateMeRequest is the body of PATCH /api/v1/users/me; absent fields
// stay as they are.
type UpdateMeRequest struct {
	Name     *string         `json:"name,omitempty"`
	Password *PasswordChange `json:"password,omitempty"`
}

// PasswordChange changes one's own password: Current must be the password
// in force.
type PasswordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// CreateKeyRequest is the body of POST /api/v1/users/me/api-keys.
type CreateKeyRequest struct {
	Name string `json:"name"`
}

// APIKey is an API key as the API shows it. Key holds the full secret and
// is set only in the response that creates the key; the server keeps only a
// hash of it.
type APIKey struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Key    string `json:"key,omitempty"`
	Prefix string `json:"prefix"`
	// CreatedAt is when the key was made.
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is null until the key has authenticated a request. It is
	// updated in memory on use and written to the store in the background,
	// so it can lag by a few seconds and lose its last minutes on a crash.
	LastUsedAt *time.Time `json:"last_used_at"`
}
