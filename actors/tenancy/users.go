package tenancy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// MaxPreferencesBytes caps the JSON encoding of a user's preferences.
const MaxPreferencesBytes = 16 << 10

// maxUserName caps a user's name, in characters (as at registration).
const maxUserName = 200

// UserUpdate is a server admin's change of an account; nil fields stay.
type UserUpdate struct {
	Name     *string
	Role     *string
	Disabled *bool
}

// ListUsers returns up to limit accounts after the id cursor. The route
// is for server admins; the caller's role is checked by the HTTP layer.
func (s *Service) ListUsers(_ context.Context, cursor string, limit int) ([]persist.User, string, error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", fmt.Errorf("%w: limit must be at most 500", agent.ErrInvalid)
	}
	return s.store.ListUsers(cursor, limit)
}

// GetUser returns an account (for server admins).
func (s *Service) GetUser(_ context.Context, id string) (persist.User, error) {
	if !agent.ValidID(agent.PrefixUser, id) {
		return persist.User{}, fmt.Errorf("%w: user %s", agent.ErrNotFound, id)
	}
	u, err := s.store.UserByID(id)
	if errors.Is(err, persist.ErrNotFound) {
		return u, fmt.Errorf("%w: user %s", agent.ErrNotFound, id)
	}
	return u, err
}

// UpdateUser changes an account's name, server role or disabled flag (for
// server admins) and returns it before and after. A disabled user's tokens
// and API keys stop working at once: authentication reads the flag on
// every request; their open streams and running turns end at once too
// (the OnUserDisabled hooks). The last active admin can be neither demoted nor
// disabled (agent.ErrConflict).
func (s *Service) UpdateUser(ctx context.Context, id string, u UserUpdate) (before, after persist.User, err error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return before, after, err
	}
	var name string
	if u.Name != nil {
		name = strings.TrimSpace(*u.Name)
		if utf8.RuneCountInString(name) > maxUserName {
			return before, after, fmt.Errorf("%w: name must be at most %d characters", agent.ErrInvalid, maxUserName)
		}
	}
	if u.Role != nil && *u.Role != persist.RoleAdmin && *u.Role != persist.RoleMember {
		return before, after, fmt.Errorf("%w: role must be admin or member", agent.ErrInvalid)
	}
	before, after, err = s.store.UpdateUser(ctx, id, func(rec *persist.User) error {
		if u.Name != nil {
			rec.Name = name
		}
		if u.Role != nil {
			rec.Role = *u.Role
		}
		if u.Disabled != nil {
			rec.Disabled = *u.Disabled
		}
		return nil
	})
	if err == nil && after.Disabled && !before.Disabled {
		// Their tokens and keys already fail; what they hold open ends now.
		s.userDisabled(ctx, id)
	}
	return before, after, storeErr(err, "the server must keep at least one active admin")
}

// Preferences returns a user's preferences: the JSON object they keep,
// with default_workspace_id set to the workspace their requests go to.
func (s *Service) Preferences(_ context.Context, userID string) (map[string]json.RawMessage, error) {
	prefs, err := s.store.UserPreferences(userID)
	if err != nil {
		return nil, err
	}
	ws, err := s.store.DefaultWorkspaceFor(userID)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(ws)
	prefs[PrefDefaultWorkspace] = b
	return prefs, nil
}

// UpdatePreferences merges patch into a user's preferences: each key
// replaces the stored one, and a null value removes it. The result must
// encode in MaxPreferencesBytes (persist.ErrTooLarge otherwise).
// default_workspace_id must name a workspace the user has a role in and
// becomes the workspace of their requests that name none (null: back to
// the personal workspace); default_model must be a model the user can use
// and becomes the model of their new sessions that name none.
func (s *Service) UpdatePreferences(ctx context.Context, userID string, patch map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var wsID *string
	if raw, ok := patch[PrefDefaultWorkspace]; ok {
		id := ""
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &id); err != nil || id == "" {
				return nil, fmt.Errorf("%w: %s must be a workspace id or null", agent.ErrInvalid, PrefDefaultWorkspace)
			}
			if err := s.Authorize(ctx, userID, id, persist.WorkspaceViewer); err != nil {
				return nil, err
			}
		}
		wsID = &id
		delete(patch, PrefDefaultWorkspace)
	}
	if raw, ok := patch[PrefDefaultModel]; ok && !isNull(raw) {
		var m string
		if err := json.Unmarshal(raw, &m); err != nil || strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("%w: %s must be a model id or null", agent.ErrInvalid, PrefDefaultModel)
		}
		if err := s.checkModel(ctx, userID, strings.TrimSpace(m)); err != nil {
			return nil, err
		}
	}
	_, err := s.store.UpdateUserPreferences(ctx, userID, MaxPreferencesBytes, func(u *persist.User, prefs map[string]json.RawMessage) error {
		for k, v := range patch {
			if isNull(v) {
				delete(prefs, k)
			} else {
				prefs[k] = v
			}
		}
		if wsID != nil {
			u.DefaultWorkspaceID = *wsID // "" is the personal workspace
		}
		return nil
	})
	if errors.Is(err, persist.ErrTooLarge) {
		return nil, fmt.Errorf("%w: preferences must encode in at most %d bytes", agent.ErrInvalid, MaxPreferencesBytes)
	}
	if errors.Is(err, persist.ErrNotFound) {
		return nil, fmt.Errorf("%w: workspace", agent.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return s.Preferences(ctx, userID)
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
