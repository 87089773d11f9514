package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// ListAudit returns audit entries for a caller: a server admin (serverRole
// persist.RoleAdmin) sees every entry; anyone else must name an
// organization they own or administer in q.OrganizationID and sees that
// organization's entries only. An organization the caller does not belong
// to is agent.ErrNotFound; a plain member, or no organization named, is
// agent.ErrForbidden.
func (h *Host) ListAudit(_ context.Context, userID, serverRole string, q persist.AuditQuery) ([]persist.AuditEntry, string, error) {
	if serverRole != persist.RoleAdmin {
		if q.OrganizationID == "" {
			return nil, "", fmt.Errorf("%w: the audit log is for server admins; organization admins name their organization_id", agent.ErrForbidden)
		}
		if _, _, err := h.orgAccess(userID, q.OrganizationID, persist.OrgAdmin); err != nil {
			return nil, "", err
		}
	}
	if q.Limit < 0 || q.Limit > 500 {
		return nil, "", fmt.Errorf("%w: limit must be from 1 to 500", agent.ErrInvalid)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return nil, "", fmt.Errorf("%w: to is before from", agent.ErrInvalid)
	}
	out, next, err := h.cfg.Store.ListAudit(q)
	if errors.Is(err, persist.ErrInvalid) {
		return nil, "", fmt.Errorf("%w: malformed cursor", agent.ErrInvalid)
	}
	return out, next, err
}

// VerifyAudit re-walks the audit chain (for server admins).
func (h *Host) VerifyAudit(_ context.Context) (persist.AuditVerification, error) {
	return h.cfg.Store.VerifyAudit()
}
