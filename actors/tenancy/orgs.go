package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Organizations, groups and workspaces: the host checks who may do what
// (the rules are below and in docs/api.md) and the store keeps the records
// and the invariants a concurrent change could break (the last owner, a
// group's members belonging to its organization).

// maxName caps the names of organizations, groups and workspaces, in
// characters; maxDescription a group's description.
const (
	maxName        = 200
	maxDescription = 2000
)

// OrgView is an organization with the caller's role in it.
type OrgView struct {
	Org  persist.Organization
	Role string
}

// OrgMemberView is a member of an organization.
type OrgMemberView struct {
	User persist.User
	Role string
	// Invitation is set instead of User when the add made an invitation
	// that the invitee has yet to accept.
	Invitation *InvitationView
}

// UserRef names a user by id or, if ID is empty, by email.
type UserRef struct {
	ID    string
	Email string
}

// orgRank orders organization roles; 0 is no role.
func orgRank(role string) int {
	switch role {
	case persist.OrgMember:
		return 1
	case persist.OrgAdmin:
		return 2
	case persist.OrgOwner:
		return 3
	}
	return 0
}

// orgAccess returns userID's role in orgID if it is at least need. A
// non-member (or a missing organization) is agent.ErrNotFound; a lower
// role agent.ErrForbidden.
func (s *Service) orgAccess(userID, orgID, need string) (persist.Organization, string, error) {
	notFound := fmt.Errorf("%w: organization %s", agent.ErrNotFound, orgID)
	if !agent.ValidID(agent.PrefixOrg, orgID) {
		return persist.Organization{}, "", notFound
	}
	role, err := s.store.OrgRole(orgID, userID)
	if err != nil {
		return persist.Organization{}, "", err
	}
	if role == "" {
		return persist.Organization{}, "", notFound
	}
	org, err := s.store.Organization(orgID)
	if errors.Is(err, persist.ErrNotFound) {
		return org, "", notFound
	}
	if err != nil {
		return org, "", err
	}
	if orgRank(role) < orgRank(need) {
		return org, role, fmt.Errorf("%w: this needs the %s role in organization %s", agent.ErrForbidden, need, orgID)
	}
	return org, role, nil
}

// cleanName trims a name and checks its length.
func cleanName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: %s is required", agent.ErrInvalid, field)
	case utf8.RuneCountInString(name) > maxName:
		return "", fmt.Errorf("%w: %s must be at most %d characters", agent.ErrInvalid, field, maxName)
	}
	return name, nil
}

// storeErr maps the store's errors for a change to the runtime's, with
// conflict, the client's message for a conflict.
func storeErr(err error, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, persist.ErrLastOwner), errors.Is(err, persist.ErrConflict):
		return fmt.Errorf("%w: %s", agent.ErrConflict, conflict)
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("%w: %w", agent.ErrNotFound, err)
	}
	return err
}

// findUser resolves a reference to an existing user.
func (s *Service) findUser(ref UserRef) (persist.User, error) {
	var u persist.User
	var err error
	switch {
	case ref.ID != "":
		if !agent.ValidID(agent.PrefixUser, ref.ID) {
			return u, fmt.Errorf("%w: user %s", agent.ErrNotFound, ref.ID)
		}
		u, err = s.store.UserByID(ref.ID)
	case strings.TrimSpace(ref.Email) != "":
		email, nerr := s.emails(ref.Email)
		if nerr != nil {
			// No account has an email that does not normalise.
			return u, fmt.Errorf("%w: no such user", agent.ErrNotFound)
		}
		u, err = s.store.UserByEmail(email)
	default:
		return u, fmt.Errorf("%w: user_id or email is required", agent.ErrInvalid)
	}
	if errors.Is(err, persist.ErrNotFound) {
		return u, fmt.Errorf("%w: no such user", agent.ErrNotFound)
	}
	return u, err
}

// orgMember resolves a reference to a member of organization orgID, for
// the grants its admins make directly. An account outside the
// organization and no account at all are one error, which names no one:
// an admin learns nothing of accounts that have not joined.
func (s *Service) orgMember(orgID string, ref UserRef) (persist.User, error) {
	if ref.ID == "" && strings.TrimSpace(ref.Email) == "" {
		return persist.User{}, fmt.Errorf("%w: user_id or email is required", agent.ErrInvalid)
	}
	outsider := fmt.Errorf("%w: no member of organization %s has that user_id or email; invite them to the organization first", agent.ErrInvalid, orgID)
	u, err := s.findUser(ref)
	if errors.Is(err, agent.ErrNotFound) {
		return persist.User{}, outsider
	}
	if err != nil {
		return persist.User{}, err
	}
	role, err := s.store.OrgRole(orgID, u.ID)
	if err != nil {
		return persist.User{}, err
	}
	if role == "" {
		return persist.User{}, outsider
	}
	return u, nil
}

// CreateOrganization creates an organization whose owner is userID.
func (s *Service) CreateOrganization(ctx context.Context, userID, name string) (OrgView, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return OrgView{}, err
	}
	org, err := s.store.CreateOrganization(ctx, persist.Organization{ID: agent.NewID(agent.PrefixOrg), Name: name}, userID)
	if err != nil {
		return OrgView{}, err
	}
	return OrgView{Org: org, Role: persist.OrgOwner}, nil
}

// ListOrganizations returns the organizations userID belongs to.
func (s *Service) ListOrganizations(_ context.Context, userID string) ([]OrgView, error) {
	list, err := s.store.OrganizationsForUser(userID)
	if err != nil {
		return nil, err
	}
	out := make([]OrgView, len(list))
	for i, o := range list {
		out[i] = OrgView{Org: o.Organization, Role: o.Role}
	}
	return out, nil
}

// GetOrganization returns an organization userID belongs to.
func (s *Service) GetOrganization(_ context.Context, userID, id string) (OrgView, error) {
	org, role, err := s.orgAccess(userID, id, persist.OrgMember)
	return OrgView{Org: org, Role: role}, err
}

// UpdateOrganization renames an organization (its admins and owners).
func (s *Service) UpdateOrganization(ctx context.Context, userID, id string, name *string) (OrgView, error) {
	_, role, err := s.orgAccess(userID, id, persist.OrgAdmin)
	if err != nil {
		return OrgView{}, err
	}
	var clean string
	if name != nil {
		if clean, err = cleanName("name", *name); err != nil {
			return OrgView{}, err
		}
	}
	org, err := s.store.UpdateOrganization(ctx, id, func(o *persist.Organization) error {
		if name != nil {
			o.Name = clean
		}
		return nil
	})
	return OrgView{Org: org, Role: role}, storeErr(err, "")
}

// DeleteOrganization deletes an organization (its owners only) with its
// members and groups. One that still has workspaces is agent.ErrConflict.
func (s *Service) DeleteOrganization(ctx context.Context, userID, id string) error {
	if _, _, err := s.orgAccess(userID, id, persist.OrgOwner); err != nil {
		return err
	}
	if err := s.store.DeleteOrganization(ctx, id); err != nil {
		return storeErr(err, "the organization still has workspaces; delete them first")
	}
	s.runtime().ScopeDeleted(persist.QuotaOrganization, id)
	return nil
}

// ListOrgMembers returns an organization's members (to its members).
func (s *Service) ListOrgMembers(_ context.Context, userID, id string) ([]OrgMemberView, error) {
	if _, _, err := s.orgAccess(userID, id, persist.OrgMember); err != nil {
		return nil, err
	}
	ms, err := s.store.OrgMembers(id)
	if err != nil {
		return nil, err
	}
	out := make([]OrgMemberView, 0, len(ms))
	for _, m := range ms {
		u, err := s.store.UserByID(m.UserID)
		if err != nil {
			return nil, err
		}
		out = append(out, OrgMemberView{User: u, Role: m.Role})
	}
	return out, nil
}

// AddOrgMember adds a user to an organization with role (member if
// empty). Admins and owners add members and admins; only owners add
// owners.
func (s *Service) AddOrgMember(ctx context.Context, userID, orgID string, ref UserRef, role string) (OrgMemberView, error) {
	if role == "" {
		role = persist.OrgMember
	}
	if !persist.ValidOrgRole(role) {
		return OrgMemberView{}, fmt.Errorf("%w: role must be owner, admin or member", agent.ErrInvalid)
	}
	_, mine, err := s.orgAccess(userID, orgID, persist.OrgAdmin)
	if err != nil {
		return OrgMemberView{}, err
	}
	if role == persist.OrgOwner && mine != persist.OrgOwner {
		return OrgMemberView{}, fmt.Errorf("%w: only an owner may add an owner", agent.ErrForbidden)
	}
	direct, err := s.isServerAdmin(userID)
	if err != nil {
		return OrgMemberView{}, err
	}
	if direct && ref.ID == "" {
		// A server admin adds an account directly; an email with no
		// account yet gets an invitation (which lets it register under
		// SESHAT_SIGNUP=invite).
		if _, err := s.findUser(ref); errors.Is(err, agent.ErrNotFound) {
			direct = false
		}
	}
	if !direct {
		org, err := s.store.Organization(orgID)
		if err != nil {
			return OrgMemberView{}, NotFound(err, "organization "+orgID)
		}
		inv, err := s.invite(ctx, userID, persist.InvitationOrganization, orgID, org.Name, ref, role)
		if err != nil {
			return OrgMemberView{}, err
		}
		return OrgMemberView{Role: role, Invitation: &inv}, nil
	}
	u, err := s.findUser(ref)
	if err != nil {
		return OrgMemberView{}, err
	}
	_, err = s.store.SetOrgMember(ctx, orgID, u.ID, role, true)
	if err != nil {
		return OrgMemberView{}, storeErr(err, "the user is already a member; change their role instead")
	}
	return OrgMemberView{User: u, Role: role}, nil
}

// UpdateOrgMember changes a member's role. Admins and owners change
// members and admins; only owners make or unmake owners. The last owner
// cannot be demoted (agent.ErrConflict).
func (s *Service) UpdateOrgMember(ctx context.Context, userID, orgID, memberID, role string) (OrgMemberView, error) {
	if !persist.ValidOrgRole(role) {
		return OrgMemberView{}, fmt.Errorf("%w: role must be owner, admin or member", agent.ErrInvalid)
	}
	_, mine, err := s.orgAccess(userID, orgID, persist.OrgAdmin)
	if err != nil {
		return OrgMemberView{}, err
	}
	cur, err := s.store.OrgRole(orgID, memberID)
	if err != nil {
		return OrgMemberView{}, err
	}
	if cur == "" {
		return OrgMemberView{}, fmt.Errorf("%w: user %s is not a member of organization %s", agent.ErrNotFound, memberID, orgID)
	}
	if (role == persist.OrgOwner || cur == persist.OrgOwner) && mine != persist.OrgOwner {
		return OrgMemberView{}, fmt.Errorf("%w: only an owner may make or unmake an owner", agent.ErrForbidden)
	}
	if _, err := s.store.SetOrgMember(ctx, orgID, memberID, role, false); err != nil {
		return OrgMemberView{}, storeErr(err, "an organization must keep at least one owner")
	}
	u, err := s.store.UserByID(memberID)
	return OrgMemberView{User: u, Role: role}, err
}

// RemoveOrgMember removes a member from an organization, its groups and
// the grants of its workspaces. Any member may leave; admins and owners
// remove members and admins; only owners remove owners. The last owner
// cannot leave (agent.ErrConflict).
func (s *Service) RemoveOrgMember(ctx context.Context, userID, orgID, memberID string) error {
	need := persist.OrgAdmin
	if memberID == userID {
		need = persist.OrgMember
	}
	_, mine, err := s.orgAccess(userID, orgID, need)
	if err != nil {
		return err
	}
	cur, err := s.store.OrgRole(orgID, memberID)
	if err != nil {
		return err
	}
	if cur == "" {
		return fmt.Errorf("%w: user %s is not a member of organization %s", agent.ErrNotFound, memberID, orgID)
	}
	if cur == persist.OrgOwner && mine != persist.OrgOwner {
		return fmt.Errorf("%w: only an owner may remove an owner", agent.ErrForbidden)
	}
	_, err = s.store.RemoveOrgMember(ctx, orgID, memberID)
	return storeErr(err, "an organization must keep at least one owner")
}
