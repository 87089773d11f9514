package tenancy

import (
	"context"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// ListAudit returns audit entries for a caller: a server admin (serverRole
// persist.RoleAdmin) sees every entry; anyone else must name an
// organization they own or administer in q.OrganizationID and sees that
// organization's entries only. An organization the caller does not belong
// to is agent.ErrNotFound; a plain member, or no organization named, is
// agent.ErrForbidden.
func (s *Service) ListAudit(_ context.Context, userID, serverRole string, q persist.AuditQuery) ([]persist.AuditEntry, string, error) {
	if serverRole != persist.RoleAdmin {
		if q.OrganizationID == "" {
			return nil, "", fmt.Errorf("%w: the audit log is for server admins; organization admins name their organization_id", agent.ErrForbidden)
		}
		if _, _, err := s.orgAccess(userID, q.OrganizationID, persist.OrgAdmin); err != nil {
			return nil, "", err
		}
	}
	if q.Limit < 0 || q.Limit > 500 {
		return nil, "", fmt.Errorf("%w: limit must be from 1 to 500", agent.ErrInvalid)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return nil, "", fmt.Errorf("%w: to is before from", agent.ErrInvalid)
	}
	// A cursor the listing never handed out is persist.ErrBadCursor,
	// which the API answers as 400 invalid_cursor.
	return s.store.ListAudit(q)
}

// VerifyAudit re-walks the audit chain (for server admins).
func (s *Service) VerifyAudit(_ context.Context) (persist.AuditVerification, error) {
	return s.store.VerifyAudit()
}

// Place returns the workspace and organization a resource id belongs
// to, as far as the store knows them ("" for what it does not).
func (a *Access) Place(id string) (workspaceID, orgID string) {
	st := a.store
	prefix, _, _ := strings.Cut(id, "_")
	switch prefix {
	case agent.PrefixOrg:
		return "", id
	case agent.PrefixGroup:
		if g, err := st.Group(id); err == nil {
			return "", g.OrgID
		}
		return "", ""
	case agent.PrefixWorkspace:
		workspaceID = id
	case agent.PrefixSession:
		if r, err := st.Session(id); err == nil {
			workspaceID = r.WorkspaceID
		}
	case agent.PrefixFile:
		if f, err := st.File(id); err == nil {
			workspaceID = f.WorkspaceID
		}
	case agent.PrefixJob:
		if j, err := st.Job(id); err == nil {
			workspaceID = j.WorkspaceID
		}
	case "pset":
		if ps, err := st.ProviderSetting(id); err == nil {
			workspaceID = ps.WorkspaceID
		}
	case "corp":
		if c, err := st.Corpus(id); err == nil {
			workspaceID = c.WorkspaceID
		}
	case "agent":
		if p, err := st.Agent(id); err == nil {
			workspaceID = p.WorkspaceID
		}
	case agent.PrefixPlan:
		if p, err := st.Plan(id); err == nil {
			workspaceID = p.WorkspaceID
		}
	case agent.PrefixMemory:
		if m, err := st.Memory(id); err == nil {
			workspaceID = m.WorkspaceID
		}
	case agent.PrefixMCP:
		if m, err := st.MCPServer(id); err == nil {
			workspaceID = m.WorkspaceID
		}
	case agent.PrefixSkill:
		if sk, err := st.Skill(id); err == nil {
			workspaceID = sk.WorkspaceID
		}
	}
	if workspaceID == "" {
		return "", ""
	}
	if ws, err := st.Workspace(workspaceID); err == nil {
		return workspaceID, ws.OrganizationID
	}
	return workspaceID, ""
}
