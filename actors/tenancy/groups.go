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

// GroupInput creates or changes a group; nil fields stay.
type GroupInput struct {
	Name        *string
	Description *string
}

// groupAccess returns group id if userID has at least need in its
// organization: a group of an organization they do not belong to is
// agent.ErrNotFound.
func (s *Service) groupAccess(userID, id, need string) (persist.Group, error) {
	notFound := fmt.Errorf("%w: group %s", agent.ErrNotFound, id)
	if !agent.ValidID(agent.PrefixGroup, id) {
		return persist.Group{}, notFound
	}
	g, err := s.store.Group(id)
	if errors.Is(err, persist.ErrNotFound) {
		return g, notFound
	}
	if err != nil {
		return g, err
	}
	if _, _, err := s.orgAccess(userID, g.OrgID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return g, notFound
		}
		return g, err
	}
	return g, nil
}

func checkGroupInput(in *GroupInput) error {
	if in.Name != nil {
		n, err := cleanName("name", *in.Name)
		if err != nil {
			return err
		}
		in.Name = &n
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if utf8.RuneCountInString(d) > maxDescription {
			return fmt.Errorf("%w: description must be at most %d characters", agent.ErrInvalid, maxDescription)
		}
		in.Description = &d
	}
	return nil
}

// CreateGroup creates a group in an organization (its admins and owners).
func (s *Service) CreateGroup(ctx context.Context, userID, orgID string, in GroupInput) (persist.Group, error) {
	if orgID == "" {
		return persist.Group{}, fmt.Errorf("%w: organization_id is required", agent.ErrInvalid)
	}
	if in.Name == nil {
		in.Name = new(string)
	}
	if err := checkGroupInput(&in); err != nil {
		return persist.Group{}, err
	}
	if _, _, err := s.orgAccess(userID, orgID, persist.OrgAdmin); err != nil {
		return persist.Group{}, err
	}
	g := persist.Group{ID: agent.NewID(agent.PrefixGroup), OrgID: orgID, Name: *in.Name}
	if in.Description != nil {
		g.Description = *in.Description
	}
	g, err := s.store.CreateGroup(ctx, g)
	return g, storeErr(err, "the organization has a group of that name")
}

// ListGroups returns the groups of an organization userID belongs to, or
// of all of them if orgID is empty.
func (s *Service) ListGroups(_ context.Context, userID, orgID string) ([]persist.Group, error) {
	var orgs []string
	if orgID != "" {
		if _, _, err := s.orgAccess(userID, orgID, persist.OrgMember); err != nil {
			return nil, err
		}
		orgs = []string{orgID}
	} else {
		mine, err := s.store.OrganizationsForUser(userID)
		if err != nil {
			return nil, err
		}
		for _, o := range mine {
			orgs = append(orgs, o.ID)
		}
	}
	out := []persist.Group{}
	for _, id := range orgs {
		gs, err := s.store.GroupsOfOrg(id)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}

// GetGroup returns a group of an organization userID belongs to.
func (s *Service) GetGroup(_ context.Context, userID, id string) (persist.Group, error) {
	return s.groupAccess(userID, id, persist.OrgMember)
}

// UpdateGroup changes a group's name or description (organization admins
// and owners).
func (s *Service) UpdateGroup(ctx context.Context, userID, id string, in GroupInput) (persist.Group, error) {
	if err := checkGroupInput(&in); err != nil {
		return persist.Group{}, err
	}
	if _, err := s.groupAccess(userID, id, persist.OrgAdmin); err != nil {
		return persist.Group{}, err
	}
	g, err := s.store.UpdateGroup(ctx, id, func(g *persist.Group) error {
		if in.Name != nil {
			g.Name = *in.Name
		}
		if in.Description != nil {
			g.Description = *in.Description
		}
		return nil
	})
	return g, storeErr(err, "the organization has a group of that name")
}

// DeleteGroup deletes a group with its memberships and workspace grants
// (organization admins and owners).
func (s *Service) DeleteGroup(ctx context.Context, userID, id string) error {
	if _, err := s.groupAccess(userID, id, persist.OrgAdmin); err != nil {
		return err
	}
	return storeErr(s.store.DeleteGroup(ctx, id), "")
}

// ListGroupMembers returns a group's members (to its organization's
// members).
func (s *Service) ListGroupMembers(_ context.Context, userID, id string) ([]persist.User, error) {
	if _, err := s.groupAccess(userID, id, persist.OrgMember); err != nil {
		return nil, err
	}
	ids, err := s.store.GroupMembers(id)
	if err != nil {
		return nil, err
	}
	out := make([]persist.User, 0, len(ids))
	for _, uid := range ids {
		u, err := s.store.UserByID(uid)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// AddGroupMember adds a member of the group's organization to it
// (organization admins and owners). A user outside the organization is
// agent.ErrInvalid, with the answer an unknown user gets.
func (s *Service) AddGroupMember(ctx context.Context, userID, id string, ref UserRef) (persist.User, error) {
	g, err := s.groupAccess(userID, id, persist.OrgAdmin)
	if err != nil {
		return persist.User{}, err
	}
	u, err := s.orgMember(g.OrgID, ref)
	if err != nil {
		return persist.User{}, err
	}
	err = s.store.AddGroupMember(ctx, id, u.ID)
	if errors.Is(err, persist.ErrInvalid) {
		return persist.User{}, fmt.Errorf("%w: the user is not a member of organization %s; add them there first", agent.ErrInvalid, g.OrgID)
	}
	return u, storeErr(err, "the user is already in the group")
}

// RemoveGroupMember removes a user from a group (organization admins and
// owners).
func (s *Service) RemoveGroupMember(ctx context.Context, userID, id, memberID string) error {
	if _, err := s.groupAccess(userID, id, persist.OrgAdmin); err != nil {
		return err
	}
	err := s.store.RemoveGroupMember(ctx, id, memberID)
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("%w: user %s is not in group %s", agent.ErrNotFound, memberID, id)
	}
	return err
}
