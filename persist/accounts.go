package persist

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Account administration and user preferences. Bucket (schema version 4):
//
//	user_prefs  userID -> a JSON object of the user's preferences
//
// Preferences live apart from the user record, which authentication loads
// on every request, so that a client's settings never make that read
// larger.
var bucketUserPrefs = []byte("user_prefs")

// ListUsers returns up to limit users in id order after the id cursor
// ("" from the start), and the id to continue after ("" at the end).
func (s *Store) ListUsers(cursor string, limit int) ([]User, string, error) {
	if limit <= 0 {
		limit = 50
	}
	// The cursor is the id of the last user of the previous page.
	if cursor != "" && (!strings.HasPrefix(cursor, "usr_") || checkID("user id", cursor) != nil) {
		return nil, "", fmt.Errorf("persist: user listing: %w", ErrBadCursor)
	}
	var out []User
	next := ""
	err := s.View(func(tx *Tx) error {
		users := tx.bucket(bucketUsers)
		c := users.Cursor()
		k, v := c.First()
		if cursor != "" {
			k, v = c.Seek([]byte(cursor))
			if k != nil && bytes.Equal(k, []byte(cursor)) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(out) == limit {
				next = out[len(out)-1].ID
				break
			}
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("persist: decode user %s: %w", k, err)
			}
			out = append(out, u)
		}
		return nil
	})
	return out, next, err
}

// UpdateUser applies fn to the stored user and stores the result. fn may
// change Name, Role, Disabled, DefaultWorkspaceID and PasswordHash; the
// rest is kept. A
// change that leaves the server without an active admin is ErrLastOwner.
// It returns the user before and after.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*User) error) (before, after User, err error) {
	err = s.Update(ctx, func(tx *Tx) error {
		u, err := tx.user(id)
		if err != nil {
			return err
		}
		next := u
		if err := fn(&next); err != nil {
			return err
		}
		before = u
		u.Name, u.Role, u.Disabled, u.DefaultWorkspaceID, u.PasswordHash = next.Name, next.Role, next.Disabled, next.DefaultWorkspaceID, next.PasswordHash
		wasAdmin := before.Role == RoleAdmin && !before.Disabled
		if wasAdmin && (u.Role != RoleAdmin || u.Disabled) && tx.countActiveAdmins() <= 1 {
			return fmt.Errorf("persist: user %s is the last active admin: %w", id, ErrLastOwner)
		}
		after = u
		return putJSON(tx.bucket(bucketUsers), []byte(id), u)
	})
	return before, after, err
}

func (tx *Tx) countActiveAdmins() int {
	n := 0
	users := tx.bucket(bucketUsers)
	_ = users.ForEach(func(k, v []byte) error {
		var u User
		if json.Unmarshal(v, &u) == nil && u.Role == RoleAdmin && !u.Disabled {
			n++
		}
		return nil
	})
	return n
}

// UserPreferences returns a user's preferences object ({} if none).
func (s *Store) UserPreferences(userID string) (map[string]json.RawMessage, error) {
	prefs := map[string]json.RawMessage{}
	err := s.View(func(tx *Tx) error {
		// Every turn reads these (its default model, its memory policy):
		// the user's record is checked for, not decoded.
		if tx.bucket(bucketUsers).Get([]byte(userID)) == nil {
			return fmt.Errorf("persist: user %s: %w", userID, ErrNotFound)
		}
		_, err := getJSON(tx.bucket(bucketUserPrefs), []byte(userID), &prefs)
		return err
	})
	return prefs, err
}

// UpdateUserPreferences applies fn to a user's preferences and stores
// the result, all in one transaction, and returns it. fn gets the user
// record too, and may change its DefaultWorkspaceID (to one the user has a
// role in, ErrNotFound otherwise; "" means their personal workspace). An
// encoding larger
// than maxBytes (if positive) is ErrTooLarge.
func (s *Store) UpdateUserPreferences(ctx context.Context, userID string, maxBytes int, fn func(u *User, prefs map[string]json.RawMessage) error) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	err := s.Update(ctx, func(tx *Tx) error {
		u, err := tx.user(userID)
		if err != nil {
			return err
		}
		prefs := map[string]json.RawMessage{}
		b := tx.bucket(bucketUserPrefs)
		if _, err := getJSON(b, []byte(userID), &prefs); err != nil {
			return err
		}
		def := u.DefaultWorkspaceID
		if err := fn(&u, prefs); err != nil {
			return err
		}
		data, err := json.Marshal(prefs)
		if err != nil {
			return fmt.Errorf("persist: encode preferences: %w", err)
		}
		if maxBytes > 0 && len(data) > maxBytes {
			return fmt.Errorf("persist: preferences of %d bytes, limit %d: %w", len(data), maxBytes, ErrTooLarge)
		}
		if u.DefaultWorkspaceID != def {
			if u.DefaultWorkspaceID == "" {
				if u.DefaultWorkspaceID, err = tx.personalWorkspace(userID); err != nil {
					return err
				}
			} else if role, err := tx.workspaceRole(userID, u.DefaultWorkspaceID); err != nil || role == "" {
				return fmt.Errorf("persist: workspace %s: %w", u.DefaultWorkspaceID, ErrNotFound)
			}
			stored, err := tx.user(userID)
			if err != nil {
				return err
			}
			stored.DefaultWorkspaceID = u.DefaultWorkspaceID
			if err := putJSON(tx.bucket(bucketUsers), []byte(userID), stored); err != nil {
				return err
			}
		}
		out = prefs
		if len(prefs) == 0 {
			return b.Delete([]byte(userID))
		}
		return b.Put([]byte(userID), data)
	})
	return out, err
}
