package persist

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Groups: named sets of an organization's members, granted workspace roles
// as one subject. Buckets (schema version 4):
//
//	groups                 groupID -> Group
//	groups_by_org          orgID|groupID -> ""
//	group_members          groupID|userID -> ""
//	group_members_by_user  userID|groupID -> ""
//
// A group's members are always members of its organization: adding a
// non-member is ErrInvalid, and leaving the organization leaves its groups
// in the same transaction.
var (
	bucketGroups             = []byte("groups")
	bucketGroupsByOrg        = []byte("groups_by_org")
	bucketGroupMembers       = []byte("group_members")
	bucketGroupMembersByUser = []byte("group_members_by_user")
)

// Group is a named set of users inside an organization.
type Group struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"org_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateGroup stores g in its organization (ErrNotFound if missing). An
// empty ID is minted. A name already used by a group of the organization
// (compared case-insensitively) is ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if g.ID == "" {
		g.ID = newID(idPrefixGroup)
	}
	if err := checkID("group id", g.ID); err != nil {
		return Group{}, err
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now()
	}
	g.CreatedAt = normTime(g.CreatedAt)
	g.UpdatedAt = g.CreatedAt
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.organization(g.OrgID); err != nil {
			return err
		}
		if err := tx.uniqueGroupName(g.OrgID, g.ID, g.Name); err != nil {
			return err
		}
		groups := tx.bucket(bucketGroups)
		if groups.Get([]byte(g.ID)) != nil {
			return fmt.Errorf("persist: group %s exists: %w", g.ID, ErrConflict)
		}
		if err := putJSON(groups, []byte(g.ID), g); err != nil {
			return err
		}
		return tx.bucket(bucketGroupsByOrg).Put(key(g.OrgID, g.ID), nil)
	})
	return g, err
}

func (tx *Tx) uniqueGroupName(orgID, selfID, name string) error {
	for _, id := range tx.orgGroups(orgID) {
		g, err := tx.group(id)
		if err != nil {
			return err
		}
		if id != selfID && strings.EqualFold(g.Name, name) {
			return fmt.Errorf("persist: organization %s has a group named %q: %w", orgID, name, ErrConflict)
		}
	}
	return nil
}

// Group returns the group with that id, or ErrNotFound.
func (s *Store) Group(id string) (Group, error) {
	return view(s, (*Tx).group, id)
}

func (tx *Tx) group(id string) (Group, error) {
	return record[Group](tx, bucketGroups, "group", id)
}

// GroupsOfOrg returns an organization's groups by name.
func (s *Store) GroupsOfOrg(orgID string) ([]Group, error) {
	var out []Group
	err := s.View(func(tx *Tx) error {
		for _, id := range tx.orgGroups(orgID) {
			g, err := tx.group(id)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (tx *Tx) orgGroups(orgID string) []string {
	var out []string
	prefix := prefixKey(orgID)
	c := tx.bucket(bucketGroupsByOrg).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// UpdateGroup applies fn to the stored group; its name and description
// are kept from fn's changes (a taken name is ErrConflict).
func (s *Store) UpdateGroup(ctx context.Context, id string, fn func(*Group) error) (Group, error) {
	var out Group
	err := s.Update(ctx, func(tx *Tx) error {
		g, err := tx.group(id)
		if err != nil {
			return err
		}
		next := g
		if err := fn(&next); err != nil {
			return err
		}
		if err := tx.uniqueGroupName(g.OrgID, g.ID, next.Name); err != nil {
			return err
		}
		g.Name, g.Description, g.UpdatedAt = next.Name, next.Description, now()
		out = g
		return putJSON(tx.bucket(bucketGroups), []byte(id), g)
	})
	return out, err
}

// DeleteGroup removes a group, its memberships and its workspace grants.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.group(id); err != nil {
			return err
		}
		return tx.deleteGroup(id)
	})
}

func (tx *Tx) deleteGroup(id string) error {
	g, err := tx.group(id)
	if err != nil {
		return err
	}
	for _, u := range tx.groupMembers(id) {
		if err := tx.bucket(bucketGroupMembers).Delete(key(id, u)); err != nil {
			return err
		}
		if err := tx.bucket(bucketGroupMembersByUser).Delete(key(u, id)); err != nil {
			return err
		}
	}
	prefix := prefixKey(id)
	c := tx.bucket(bucketGroupGrants).Cursor()
	var wss []string
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		wss = append(wss, string(k[len(prefix):]))
	}
	for _, ws := range wss {
		if err := tx.deleteGrant(ws, id); err != nil {
			return err
		}
	}
	if err := tx.bucket(bucketGroupsByOrg).Delete(key(g.OrgID, id)); err != nil {
		return err
	}
	return tx.bucket(bucketGroups).Delete([]byte(id))
}

// GroupMembers returns the user ids of a group's members, in id order.
func (s *Store) GroupMembers(id string) ([]string, error) {
	var out []string
	err := s.View(func(tx *Tx) error {
		if _, err := tx.group(id); err != nil {
			return err
		}
		out = tx.groupMembers(id)
		return nil
	})
	return out, err
}

func (tx *Tx) groupMembers(id string) []string {
	var out []string
	prefix := prefixKey(id)
	c := tx.bucket(bucketGroupMembers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// AddGroupMember adds userID to group id. The user must be a member of
// the group's organization (ErrInvalid); one already in the group is
// ErrConflict.
func (s *Store) AddGroupMember(ctx context.Context, id, userID string) error {
	return s.Update(ctx, func(tx *Tx) error {
		g, err := tx.group(id)
		if err != nil {
			return err
		}
		if _, err := tx.user(userID); err != nil {
			return err
		}
		if tx.orgRole(g.OrgID, userID) == "" {
			return fmt.Errorf("persist: user %s is not a member of organization %s: %w", userID, g.OrgID, ErrInvalid)
		}
		if has(tx.bucket(bucketGroupMembers), key(id, userID)) {
			return fmt.Errorf("persist: user %s is already in group %s: %w", userID, id, ErrConflict)
		}
		if err := tx.bucket(bucketGroupMembers).Put(key(id, userID), nil); err != nil {
			return err
		}
		return tx.bucket(bucketGroupMembersByUser).Put(key(userID, id), nil)
	})
}

// RemoveGroupMember removes userID from group id (ErrNotFound if they are
// not in it).
func (s *Store) RemoveGroupMember(ctx context.Context, id, userID string) error {
	return s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.group(id); err != nil {
			return err
		}
		if !has(tx.bucket(bucketGroupMembers), key(id, userID)) {
			return fmt.Errorf("persist: user %s is not in group %s: %w", userID, id, ErrNotFound)
		}
		if err := tx.bucket(bucketGroupMembers).Delete(key(id, userID)); err != nil {
			return err
		}
		return tx.bucket(bucketGroupMembersByUser).Delete(key(userID, id))
	})
}
