package persist

import (
	"context"
	"fmt"
	"strings"
)

// normEmail is the stored, unique form of an email: trimmed, lower-cased.
func normEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CreateUser stores u together with ws, u's personal workspace, and u's
// membership of it, in one transaction. The first user becomes RoleAdmin
// and every later one RoleMember, whatever u.Role says. Empty ids are
// minted, a zero CreatedAt becomes now, ws becomes Personal and owned by u,
// and u.DefaultWorkspaceID becomes ws.ID. It returns the stored user, or
// ErrConflict if the email (compared case-insensitively) or an id is taken.
func (s *Store) CreateUser(ctx context.Context, u User, ws Workspace) (User, error) {
	if u.ID == "" {
		u.ID = newID(idPrefixUser)
	}
	if ws.ID == "" {
		ws.ID = newID(idPrefixWorkspace)
	}
	var stored User
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		stored, err = tx.CreateUser(u, ws)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return stored, nil
}

// CreateUser is Store.CreateUser inside tx. Empty ids are minted here, so
// a rerun of the enclosing write mints new ones; set them beforehand if the
// caller needs them.
func (tx *Tx) CreateUser(u User, ws Workspace) (User, error) {
	if u.ID == "" {
		u.ID = newID(idPrefixUser)
	}
	if ws.ID == "" {
		ws.ID = newID(idPrefixWorkspace)
	}
	if err := checkID("user id", u.ID); err != nil {
		return User{}, err
	}
	if err := checkID("workspace id", ws.ID); err != nil {
		return User{}, err
	}
	u.Email = normEmail(u.Email)
	if u.Email == "" {
		return User{}, fmt.Errorf("persist: empty email: %w", ErrInvalid)
	}
	t := now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = t
	}
	u.CreatedAt = normTime(u.CreatedAt)
	if ws.CreatedAt.IsZero() {
		ws.CreatedAt = u.CreatedAt
	}
	ws.CreatedAt = normTime(ws.CreatedAt)
	ws.Personal = true
	ws.OwnerID = u.ID
	u.DefaultWorkspaceID = ws.ID

	users := tx.bucket(bucketUsers)
	byEmail := tx.bucket(bucketUsersByEmail)
	workspaces := tx.bucket(bucketWorkspaces)
	if byEmail.Get([]byte(u.Email)) != nil {
		return User{}, fmt.Errorf("persist: email %s is already registered: %w", u.Email, ErrConflict)
	}
	if users.Get([]byte(u.ID)) != nil {
		return User{}, fmt.Errorf("persist: user %s exists: %w", u.ID, ErrConflict)
	}
	if workspaces.Get([]byte(ws.ID)) != nil {
		return User{}, fmt.Errorf("persist: workspace %s exists: %w", ws.ID, ErrConflict)
	}
	u.Role = RoleMember
	if k, _ := users.Cursor().First(); k == nil {
		u.Role = RoleAdmin
	}
	if err := putJSON(users, []byte(u.ID), u); err != nil {
		return User{}, err
	}
	if err := byEmail.Put([]byte(u.Email), []byte(u.ID)); err != nil {
		return User{}, err
	}
	if err := putJSON(workspaces, []byte(ws.ID), ws); err != nil {
		return User{}, err
	}
	if err := tx.putGrant(ws.ID, u.ID, WorkspaceAdmin); err != nil {
		return User{}, err
	}
	return u, nil
}

// CreateUserWithRole is Tx.CreateUser for an account a server admin
// makes: the user gets role (RoleAdmin or RoleMember) rather than the
// first-user rule, except that the first user is always RoleAdmin.
func (tx *Tx) CreateUserWithRole(u User, ws Workspace, role string) (User, error) {
	if role != RoleAdmin && role != RoleMember {
		return User{}, fmt.Errorf("persist: role %q: %w", role, ErrInvalid)
	}
	stored, err := tx.CreateUser(u, ws)
	if err != nil || stored.Role == role || stored.Role == RoleAdmin {
		return stored, err
	}
	stored.Role = role
	if err := putJSON(tx.bucket(bucketUsers), []byte(stored.ID), stored); err != nil {
		return User{}, err
	}
	return stored, nil
}

// HasUsers reports whether any account exists: the first one may always
// register, whatever the sign-up policy.
func (tx *Tx) HasUsers() bool {
	k, _ := tx.bucket(bucketUsers).Cursor().First()
	return k != nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Store) UserByID(id string) (User, error) {
	return view(s, (*Tx).user, id)
}

func (tx *Tx) user(id string) (User, error) {
	return record[User](tx, bucketUsers, "user", id)
}

// UserByEmail returns the user with that email, compared
// case-insensitively, or ErrNotFound.
func (s *Store) UserByEmail(email string) (User, error) {
	var u User
	err := s.View(func(tx *Tx) error {
		id := tx.bucket(bucketUsersByEmail).Get([]byte(normEmail(email)))
		if id == nil {
			return fmt.Errorf("persist: user with email %s: %w", normEmail(email), ErrNotFound)
		}
		var err error
		u, err = tx.user(string(id))
		return err
	})
	return u, err
}

// CountUsers returns the number of users.
func (s *Store) CountUsers() (int, error) {
	n := 0
	err := s.View(func(tx *Tx) error {
		n = tx.bucket(bucketUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// Workspace returns the workspace with that id, or ErrNotFound.
func (s *Store) Workspace(id string) (Workspace, error) {
	return view(s, (*Tx).workspace, id)
}

func (tx *Tx) workspace(id string) (Workspace, error) {
	return record[Workspace](tx, bucketWorkspaces, "workspace", id)
}

// WorkspacesForUser returns the workspaces userID has a role in (directly,
// through a group, or as an admin of their organization), oldest first. A
// user without workspaces gets an empty list, not an error.
func (s *Store) WorkspacesForUser(userID string) ([]Workspace, error) {
	reach, err := s.ReachableWorkspaces(userID)
	if err != nil {
		return nil, err
	}
	list := make([]Workspace, 0, len(reach))
	for _, r := range reach {
		list = append(list, r.Workspace)
	}
	return list, nil
}

// IsMember reports whether userID has any role in workspaceID.
func (s *Store) IsMember(userID, workspaceID string) (bool, error) {
	role, err := s.WorkspaceRole(userID, workspaceID)
	return role != "", err
}
