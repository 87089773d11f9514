package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Membership needs consent: an admin of a workspace or an organization who
// is not a server admin adds someone by inviting them, and the grant is
// made only when the invitee accepts. The answer is the same whether or
// not an account has the email typed, and it names the invitee only as
// the inviter did.

// InvitationView is an invitation with the name of its target.
type InvitationView struct {
	persist.Invitation
	TargetName string
}

// isServerAdmin reports whether userID is a server admin.
func (s *Service) isServerAdmin(userID string) (bool, error) {
	u, err := s.store.UserByID(userID)
	if errors.Is(err, persist.ErrNotFound) {
		return false, nil
	}
	return err == nil && u.Role == persist.RoleAdmin, err
}

// invite records a pending invitation of ref to target.
func (s *Service) invite(ctx context.Context, userID, kind, targetID, targetName string, ref UserRef, role string) (InvitationView, error) {
	inv := persist.Invitation{Kind: kind, TargetID: targetID, Role: role, InvitedBy: userID}
	switch {
	case ref.ID != "" && strings.TrimSpace(ref.Email) != "":
		return InvitationView{}, fmt.Errorf("%w: name the invitee by user_id or by email, not both", agent.ErrInvalid)
	case ref.ID != "":
		if !agent.ValidID(agent.PrefixUser, ref.ID) {
			return InvitationView{}, fmt.Errorf("%w: user_id %q is not a user id", agent.ErrInvalid, ref.ID)
		}
		inv.UserID = ref.ID
	case strings.TrimSpace(ref.Email) != "":
		// Normalised as accounts' emails are, so that the invitation
		// reaches the account (or the registration) a look-alike
		// spelling means, and a refused look-alike is refused here too.
		email, err := s.emails(ref.Email)
		if err != nil {
			return InvitationView{}, err
		}
		if len(email) > 254 || !strings.Contains(email, "@") {
			return InvitationView{}, fmt.Errorf("%w: email is not an email address", agent.ErrInvalid)
		}
		inv.Email = email
	default:
		return InvitationView{}, fmt.Errorf("%w: user_id or email is required", agent.ErrInvalid)
	}
	if inv.UserID == userID {
		return InvitationView{}, fmt.Errorf("%w: you cannot invite yourself", agent.ErrInvalid)
	}
	out, err := s.store.CreateInvitation(ctx, inv)
	if errors.Is(err, persist.ErrConflict) {
		return InvitationView{}, fmt.Errorf("%w: this invitee already has a pending invitation here", agent.ErrConflict)
	}
	if err != nil {
		return InvitationView{}, err
	}
	return InvitationView{Invitation: out, TargetName: targetName}, nil
}

// view adds the target's name to an invitation.
func (s *Service) invitationView(inv persist.Invitation) InvitationView {
	v := InvitationView{Invitation: inv}
	switch inv.Kind {
	case persist.InvitationWorkspace:
		if ws, err := s.store.Workspace(inv.TargetID); err == nil {
			v.TargetName = ws.Name
		}
	case persist.InvitationOrganization:
		if org, err := s.store.Organization(inv.TargetID); err == nil {
			v.TargetName = org.Name
		}
	}
	return v
}

// ListMyInvitations returns the pending invitations addressed to userID
// (by their email or their id), newest first.
func (s *Service) ListMyInvitations(_ context.Context, userID string) ([]InvitationView, error) {
	u, err := s.store.UserByID(userID)
	if err != nil {
		return nil, NotFound(err, "user "+userID)
	}
	list, err := s.store.InvitationsFor(u.Email, u.ID)
	if err != nil {
		return nil, err
	}
	out := []InvitationView{}
	for _, inv := range list {
		if inv.Status == persist.InvitationPending {
			out = append(out, s.invitationView(inv))
		}
	}
	return out, nil
}

// addressedTo returns invitation id if it is addressed to userID; any
// other is agent.ErrNotFound.
func (s *Service) addressedTo(userID, id string) (persist.Invitation, error) {
	missing := fmt.Errorf("%w: invitation %s", agent.ErrNotFound, id)
	if !agent.ValidID("inv", id) {
		return persist.Invitation{}, missing
	}
	inv, err := s.store.Invitation(id)
	if err != nil {
		return inv, NotFound(err, "invitation "+id)
	}
	u, err := s.store.UserByID(userID)
	if err != nil {
		return inv, NotFound(err, "user "+userID)
	}
	if inv.UserID != u.ID && (inv.Email == "" || !strings.EqualFold(inv.Email, u.Email)) {
		return persist.Invitation{}, missing
	}
	return inv, nil
}

func invitationErr(err error, id string) error {
	switch {
	case errors.Is(err, persist.ErrConflict):
		return fmt.Errorf("%w: invitation %s is no longer pending", agent.ErrConflict, id)
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("%w: invitation %s", agent.ErrNotFound, id)
	}
	return err
}

// AcceptInvitation makes the grant an invitation offers to userID, its
// invitee, provided the inviter may still make it.
func (s *Service) AcceptInvitation(ctx context.Context, userID, id string) (InvitationView, error) {
	inv, err := s.addressedTo(userID, id)
	if err != nil {
		return InvitationView{}, err
	}
	if inv.Status != persist.InvitationPending {
		return InvitationView{}, invitationErr(persist.ErrConflict, id)
	}
	gone := fmt.Errorf("%w: the inviter may no longer grant this role", agent.ErrConflict)
	switch inv.Kind {
	case persist.InvitationWorkspace:
		if _, err := s.role(inv.InvitedBy, inv.TargetID, persist.WorkspaceAdmin); err != nil {
			if errors.Is(err, agent.ErrNotFound) {
				return InvitationView{}, invitationErr(persist.ErrNotFound, id)
			}
			return InvitationView{}, gone
		}
		if _, err := s.store.SetWorkspaceGrant(ctx, inv.TargetID, userID, inv.Role, true); err != nil && !errors.Is(err, persist.ErrConflict) {
			return InvitationView{}, grantErr(err, inv.TargetID)
		}
	case persist.InvitationOrganization:
		_, mine, err := s.orgAccess(inv.InvitedBy, inv.TargetID, persist.OrgAdmin)
		if errors.Is(err, agent.ErrNotFound) {
			return InvitationView{}, invitationErr(persist.ErrNotFound, id)
		}
		if err != nil || (inv.Role == persist.OrgOwner && mine != persist.OrgOwner) {
			return InvitationView{}, gone
		}
		if _, err := s.store.SetOrgMember(ctx, inv.TargetID, userID, inv.Role, true); err != nil && !errors.Is(err, persist.ErrConflict) {
			return InvitationView{}, storeErr(err, "")
		}
	default:
		return InvitationView{}, invitationErr(persist.ErrNotFound, id)
	}
	out, err := s.store.SetInvitationStatus(ctx, id, persist.InvitationAccepted)
	if err != nil {
		return InvitationView{}, invitationErr(err, id)
	}
	return s.invitationView(out), nil
}

// DeclineInvitation refuses an invitation addressed to userID.
func (s *Service) DeclineInvitation(ctx context.Context, userID, id string) (InvitationView, error) {
	if _, err := s.addressedTo(userID, id); err != nil {
		return InvitationView{}, err
	}
	out, err := s.store.SetInvitationStatus(ctx, id, persist.InvitationDeclined)
	if err != nil {
		return InvitationView{}, invitationErr(err, id)
	}
	return s.invitationView(out), nil
}

// RevokeInvitation withdraws a pending invitation: its inviter, or an
// admin of its target. Anyone else gets agent.ErrNotFound.
func (s *Service) RevokeInvitation(ctx context.Context, userID, id string) error {
	missing := fmt.Errorf("%w: invitation %s", agent.ErrNotFound, id)
	if !agent.ValidID("inv", id) {
		return missing
	}
	inv, err := s.store.Invitation(id)
	if err != nil {
		return NotFound(err, "invitation "+id)
	}
	if inv.InvitedBy != userID {
		var allowed error
		if inv.Kind == persist.InvitationWorkspace {
			_, allowed = s.role(userID, inv.TargetID, persist.WorkspaceAdmin)
		} else {
			_, _, allowed = s.orgAccess(userID, inv.TargetID, persist.OrgAdmin)
		}
		if allowed != nil {
			return missing
		}
	}
	_, err = s.store.SetInvitationStatus(ctx, id, persist.InvitationRevoked)
	return invitationErr(err, id)
}

// HasPendingInvitation implements the sign-up policy's lookup.
func (s *Service) HasPendingInvitation(email string) (bool, error) {
	return s.store.HasPendingInvitation(email)
}
