package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// member checks that userID has at least the need role (persist's
// WorkspaceViewer, WorkspaceEditor or WorkspaceAdmin) in workspaceID. Every
// session, turn, job and workspace-settings call checks access here, with
// the role rule itself in persist.AuthorizeWorkspace: a workspace the user
// has no role in is agent.ErrNotFound (never a distinct error, so that ids
// do not leak), a role below need is agent.ErrForbidden.
func (h *Host) member(userID, workspaceID, need string) error {
	_, err := h.cfg.Store.AuthorizeWorkspace(userID, workspaceID, need)
	return workspaceErr(err, workspaceID, need)
}

// workspaceErr turns the store's access errors into the runtime's.
func workspaceErr(err error, workspaceID, need string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("%w: workspace %s", agent.ErrNotFound, workspaceID)
	case errors.Is(err, persist.ErrForbidden):
		return fmt.Errorf("%w: this needs the %s role in workspace %s", agent.ErrForbidden, need, workspaceID)
	}
	return err
}

// PrefDefaultModel and PrefDefaultWorkspace are the preference keys the
// server itself reads.
const (
	PrefDefaultModel     = "default_model"
	PrefDefaultWorkspace = "default_workspace_id"
)

// defaultModel is the model of a new session that names none: the user's
// default_model preference, else the server's default.
func (h *Host) defaultModel(userID string) string {
	prefs, err := h.cfg.Store.UserPreferences(userID)
	if err == nil {
		var m string
		if raw, ok := prefs[PrefDefaultModel]; ok && json.Unmarshal(raw, &m) == nil && strings.TrimSpace(m) != "" {
			return strings.TrimSpace(m)
		}
	}
	return h.cfg.Session.DefaultModel
}
