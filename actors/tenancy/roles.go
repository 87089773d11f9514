package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Access answers who may act in a workspace. It is the one place where the
// store's access errors become the runtime's: every session, turn, job,
// file and workspace-settings call of every family checks its role here.
// The role rule itself is persist.AuthorizeWorkspace's (direct, group and
// organization grants). Access is safe for concurrent use.
type Access struct{ store *persist.Store }

// NewAccess returns the access checks over store.
func NewAccess(store *persist.Store) *Access { return &Access{store: store} }

// Authorize checks that userID has at least the need role
// (persist.WorkspaceViewer, WorkspaceEditor or WorkspaceAdmin) in
// workspaceID. A workspace the user has no role in is agent.ErrNotFound
// (never a distinct error, so that ids do not leak); a role below need is
// agent.ErrForbidden.
func (a *Access) Authorize(_ context.Context, userID, workspaceID, need string) error {
	_, err := a.role(userID, workspaceID, need)
	return err
}

// WorkspaceFor returns the workspace a request names, or the user's
// default one if it names none, provided the user has at least the need
// role in it (see Authorize).
func (a *Access) WorkspaceFor(ctx context.Context, userID, requested, need string) (string, error) {
	if requested == "" {
		def, err := a.store.DefaultWorkspaceFor(userID)
		if err != nil {
			return "", NotFound(err, "user "+userID)
		}
		requested = def
	}
	if err := a.Authorize(ctx, userID, requested, need); err != nil {
		return "", err
	}
	return requested, nil
}

// role returns userID's role in workspaceID if it is at least need (see
// Authorize).
func (a *Access) role(userID, workspaceID, need string) (string, error) {
	if !agent.ValidID(agent.PrefixWorkspace, workspaceID) {
		return "", fmt.Errorf("%w: workspace %s", agent.ErrNotFound, workspaceID)
	}
	role, err := a.store.AuthorizeWorkspace(userID, workspaceID, need)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return "", fmt.Errorf("%w: workspace %s", agent.ErrNotFound, workspaceID)
	case errors.Is(err, persist.ErrForbidden):
		return role, fmt.Errorf("%w: this needs the %s role in workspace %s", agent.ErrForbidden, need, workspaceID)
	}
	return role, err
}

// Role returns userID's role in workspaceID ("" for none): for the few
// checks that decide what to show rather than whether to refuse.
func (a *Access) Role(userID, workspaceID string) (string, error) {
	return a.store.WorkspaceRole(userID, workspaceID)
}

// NotFound turns the store's not-found of what (a record the caller may
// see, named for the message) into the runtime's agent.ErrNotFound; other
// errors stay.
func NotFound(err error, what string) error {
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: %s", agent.ErrNotFound, what)
	}
	return err
}

// PrefDefaultModel and PrefDefaultWorkspace are the preference keys the
// server itself reads.
const (
	PrefDefaultModel     = "default_model"
	PrefDefaultWorkspace = "default_workspace_id"
)

// DefaultModel is the model of a new session of userID that names none:
// their default_model preference, else fallback.
func (s *Service) DefaultModel(userID, fallback string) string {
	prefs, err := s.store.UserPreferences(userID)
	if err == nil {
		var m string
		if raw, ok := prefs[PrefDefaultModel]; ok && json.Unmarshal(raw, &m) == nil && strings.TrimSpace(m) != "" {
			return strings.TrimSpace(m)
		}
	}
	return fallback
}
