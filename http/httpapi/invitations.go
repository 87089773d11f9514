package httpapi

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/apitype"
)

// Invitations is what the invitation handlers need of the tenancy
// family. *tenancy.Service implements it.
type Invitations interface {
	ListMyInvitations(ctx context.Context, userID string) ([]tenancy.InvitationView, error)
	AcceptInvitation(ctx context.Context, userID, id string) (tenancy.InvitationView, error)
	DeclineInvitation(ctx context.Context, userID, id string) (tenancy.InvitationView, error)
	RevokeInvitation(ctx context.Context, userID, id string) error
}

// GET /api/v1/users/me/invitations → the caller's pending invitations.
func (s *Server) listMyInvitations(ctx *fasthttp.RequestCtx) error {
	list, err := s.deps.Tenancy.ListMyInvitations(s.opCtx, principal(ctx).UserID)
	if err != nil {
		return err
	}
	out := make([]apitype.Invitation, len(list))
	for i, v := range list {
		out[i] = invitationOf(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// POST /api/v1/invitations/{id}/accept → 200 invitation; the grant is made.
func (s *Server) acceptInvitation(ctx *fasthttp.RequestCtx) error {
	v, err := s.deps.Tenancy.AcceptInvitation(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(v.ID, "")
	noteAudit(ctx).set("target_id", v.TargetID)
	noteAudit(ctx).set("role", v.Role)
	return writeJSON(ctx, fasthttp.StatusOK, invitationOf(v))
}

// POST /api/v1/invitations/{id}/decline → 200 invitation.
func (s *Server) declineInvitation(ctx *fasthttp.RequestCtx) error {
	v, err := s.deps.Tenancy.DeclineInvitation(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(v.ID, "")
	return writeJSON(ctx, fasthttp.StatusOK, invitationOf(v))
}

// DELETE /api/v1/invitations/{id} → 204 (the inviter or the target's admins).
func (s *Server) revokeInvitation(ctx *fasthttp.RequestCtx) error {
	id := pathParam(ctx, "id")
	if err := s.deps.Tenancy.RevokeInvitation(s.opCtx, principal(ctx).UserID, id); err != nil {
		return err
	}
	noteAudit(ctx).resource(id, "")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func invitationOf(v tenancy.InvitationView) apitype.Invitation {
	return apitype.Invitation{
		ID: v.ID, Kind: v.Kind, TargetID: v.TargetID, TargetName: v.TargetName, Email: v.Email, UserID: v.UserID,
		Role: v.Role, Status: v.Status, InvitedBy: v.InvitedBy, CreatedAt: v.CreatedAt.UTC(),
	}
}

// writeInvitation answers an add of a member that made an invitation.
func writeInvitation(ctx *fasthttp.RequestCtx, v *tenancy.InvitationView) error {
	noteAudit(ctx).set("invitation_id", v.ID)
	noteAudit(ctx).set("role", v.Role)
	return writeJSON(ctx, fasthttp.StatusCreated, invitationOf(*v))
}
