package persist

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Organizations and their members. Buckets (schema version 4):
//
//	organizations        orgID -> Organization
//	org_members          orgID|userID -> role
//	org_members_by_user  userID|orgID -> role (the same, for "my organizations")
//
// An organization always has at least one owner: the rule is checked in
// the transaction that would break it (ErrLastOwner), so two concurrent
// demotions cannot both pass.
var (
	bucketOrgs             = []byte("organizations")
	bucketOrgMembers       = []byte("org_members")
	bucketOrgMembersByUser = []byte("org_members_by_user")
)

// Roles of a user in an organization. Owners and admins manage members,
// groups and the organization's workspaces (they are admins of every one);
// only owners make or remove owners and delete the organization.
const (
	OrgOwner  = "owner"
	OrgAdmin  = "admin"
	OrgMember = "member"
)

// ValidOrgRole reports whether role is owner, admin or member.
func ValidOrgRole(role string) bool {
	return role == OrgOwner || role == OrgAdmin || role == OrgMember
}

// orgAdmin reports whether an organization role manages the organization.
func orgAdmin(role string) bool { return role == OrgOwner || role == OrgAdmin }

// Organization groups users, groups and workspaces.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OrgMembership is a user's role in an organization.
type OrgMembership struct {
	OrgID  string
	UserID string
	Role   string
}

// CreateOrganization stores org with ownerID as its first owner. An empty
// ID is minted; CreatedBy becomes ownerID.
func (s *Store) CreateOrganization(ctx context.Context, org Organization, ownerID string) (Organization, error) {
	if org.ID == "" {
		org.ID = newID(idPrefixOrg)
	}
	if err := checkID("organization id", org.ID); err != nil {
		return Organization{}, err
	}
	org.CreatedBy = ownerID
	if org.CreatedAt.IsZero() {
		org.CreatedAt = now()
	}
	org.CreatedAt = normTime(org.CreatedAt)
	org.UpdatedAt = org.CreatedAt
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.user(ownerID); err != nil {
			return err
		}
		orgs := tx.bucket(bucketOrgs)
		if orgs.Get([]byte(org.ID)) != nil {
			return fmt.Errorf("persist: organization %s exists: %w", org.ID, ErrConflict)
		}
		if err := putJSON(orgs, []byte(org.ID), org); err != nil {
			return err
		}
		return tx.putOrgMember(org.ID, ownerID, OrgOwner)
	})
	return org, err
}

// Organization returns the organization with that id, or ErrNotFound.
func (s *Store) Organization(id string) (Organization, error) {
	return view(s, (*Tx).organization, id)
}

func (tx *Tx) organization(id string) (Organization, error) {
	return record[Organization](tx, bucketOrgs, "organization", id)
}

// UserOrganization is an organization with a user's role in it.
type UserOrganization struct {
	Organization
	Role string
}

// OrganizationsForUser returns the organizations userID belongs to, with
// their role, oldest first.
func (s *Store) OrganizationsForUser(userID string) ([]UserOrganization, error) {
	var out []UserOrganization
	err := s.View(func(tx *Tx) error {
		prefix := prefixKey(userID)
		c := tx.bucket(bucketOrgMembersByUser).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			o, err := tx.organization(string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, UserOrganization{Organization: o, Role: string(v)})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b UserOrganization) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// OrgRole returns userID's role in orgID, or "" if they are not a member
// (or the organization does not exist).
func (s *Store) OrgRole(orgID, userID string) (string, error) {
	role := ""
	err := s.View(func(tx *Tx) error {
		role = tx.orgRole(orgID, userID)
		return nil
	})
	return role, err
}

func (tx *Tx) orgRole(orgID, userID string) string {
	if orgID == "" || userID == "" {
		return ""
	}
	return string(tx.bucket(bucketOrgMembers).Get(key(orgID, userID)))
}

// UpdateOrganization applies fn to the stored organization; only its name
// is kept from fn's changes.
func (s *Store) UpdateOrganization(ctx context.Context, id string, fn func(*Organization) error) (Organization, error) {
	var out Organization
	err := s.Update(ctx, func(tx *Tx) error {
		o, err := tx.organization(id)
		if err != nil {
			return err
		}
		next := o
		if err := fn(&next); err != nil {
			return err
		}
		o.Name, o.UpdatedAt = next.Name, now()
		out = o
		return putJSON(tx.bucket(bucketOrgs), []byte(id), o)
	})
	return out, err
}

// DeleteOrganization removes an organization, its members, groups and
// quota records. While it still has workspaces it is ErrConflict: they
// hold sessions and files, which are deleted only one workspace at a time.
func (s *Store) DeleteOrganization(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.organization(id); err != nil {
			return err
		}
		prefix := prefixKey(id)
		if k, _ := tx.bucket(bucketWorkspacesByOrg).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			return fmt.Errorf("persist: organization %s still has workspaces: %w", id, ErrConflict)
		}
		for _, g := range tx.orgGroups(id) {
			if err := tx.deleteGroup(g); err != nil {
				return err
			}
		}
		for _, m := range tx.orgMembers(id) {
			if err := tx.deleteOrgMember(id, m.UserID); err != nil {
				return err
			}
		}
		if err := tx.deleteQuotaRecords(QuotaOrganization, id); err != nil {
			return err
		}
		return tx.bucket(bucketOrgs).Delete([]byte(id))
	})
}

// OrgMembers returns the members of an organization in user id order.
func (s *Store) OrgMembers(orgID string) ([]OrgMembership, error) {
	var out []OrgMembership
	err := s.View(func(tx *Tx) error {
		if _, err := tx.organization(orgID); err != nil {
			return err
		}
		out = tx.orgMembers(orgID)
		return nil
	})
	return out, err
}

func (tx *Tx) orgMembers(orgID string) []OrgMembership {
	var out []OrgMembership
	prefix := prefixKey(orgID)
	c := tx.bucket(bucketOrgMembers).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out = append(out, OrgMembership{OrgID: orgID, UserID: string(k[len(prefix):]), Role: string(v)})
	}
	return out
}

// SetOrgMember gives userID role in orgID and returns the role they had
// ("" if none). create true refuses a user who is a member already
// (ErrConflict); create false refuses one who is not (ErrNotFound). A
// change that leaves the organization without an owner is ErrLastOwner.
func (s *Store) SetOrgMember(ctx context.Context, orgID, userID, role string, create bool) (string, error) {
	if !ValidOrgRole(role) {
		return "", fmt.Errorf("persist: organization role %q: %w", role, ErrInvalid)
	}
	old := ""
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.organization(orgID); err != nil {
			return err
		}
		if _, err := tx.user(userID); err != nil {
			return err
		}
		old = tx.orgRole(orgID, userID)
		switch {
		case create && old != "":
			return fmt.Errorf("persist: user %s is already a member of organization %s: %w", userID, orgID, ErrConflict)
		case !create && old == "":
			return fmt.Errorf("persist: user %s is not a member of organization %s: %w", userID, orgID, ErrNotFound)
		}
		if old == OrgOwner && role != OrgOwner && tx.countOwners(orgID) <= 1 {
			return fmt.Errorf("persist: user %s is the last owner of organization %s: %w", userID, orgID, ErrLastOwner)
		}
		return tx.putOrgMember(orgID, userID, role)
	})
	return old, err
}

// RemoveOrgMember removes userID from orgID, from its groups, and from
// the direct grants of its workspaces; it returns the role they had. The
// last owner cannot leave (ErrLastOwner).
func (s *Store) RemoveOrgMember(ctx context.Context, orgID, userID string) (string, error) {
	old := ""
	err := s.Update(ctx, func(tx *Tx) error {
		old = tx.orgRole(orgID, userID)
		if old == "" {
			return fmt.Errorf("persist: user %s is not a member of organization %s: %w", userID, orgID, ErrNotFound)
		}
		if old == OrgOwner && tx.countOwners(orgID) <= 1 {
			return fmt.Errorf("persist: user %s is the last owner of organization %s: %w", userID, orgID, ErrLastOwner)
		}
		for _, g := range tx.orgGroups(orgID) {
			if err := tx.bucket(bucketGroupMembers).Delete(key(g, userID)); err != nil {
				return err
			}
			if err := tx.bucket(bucketGroupMembersByUser).Delete(key(userID, g)); err != nil {
				return err
			}
		}
		prefix := prefixKey(orgID)
		c := tx.bucket(bucketWorkspacesByOrg).Cursor()
		var wss []string
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			wss = append(wss, string(k[len(prefix):]))
		}
		for _, ws := range wss {
			if tx.bucket(bucketWSGrants).Get(key(ws, userID)) != nil {
				if err := tx.deleteGrant(ws, userID); err != nil {
					return err
				}
			}
		}
		return tx.deleteOrgMember(orgID, userID)
	})
	return old, err
}

func (tx *Tx) countOwners(orgID string) int {
	n := 0
	for _, m := range tx.orgMembers(orgID) {
		if m.Role == OrgOwner {
			n++
		}
	}
	return n
}

func (tx *Tx) putOrgMember(orgID, userID, role string) error {
	if err := tx.bucket(bucketOrgMembers).Put(key(orgID, userID), []byte(role)); err != nil {
		return err
	}
	return tx.bucket(bucketOrgMembersByUser).Put(key(userID, orgID), []byte(role))
}

func (tx *Tx) deleteOrgMember(orgID, userID string) error {
	if err := tx.bucket(bucketOrgMembers).Delete(key(orgID, userID)); err != nil {
		return err
	}
	return tx.bucket(bucketOrgMembersByUser).Delete(key(userID, orgID))
}

// OrgWorkspaces returns the ids of an organization's workspaces.
func (s *Store) OrgWorkspaces(orgID string) ([]string, error) {
	var out []string
	err := s.View(func(tx *Tx) error {
		prefix := prefixKey(orgID)
		c := tx.bucket(bucketWorkspacesByOrg).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}
