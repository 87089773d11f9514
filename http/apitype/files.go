package apitype

import "time"

// File is the metadata of a stored workspace file.
type File struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}
