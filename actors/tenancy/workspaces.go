package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// WorkspaceView is a workspace with the caller's role in it.
type WorkspaceView struct {
	Workspace persist.Workspace
	Role      string
}

// WorkspaceMember is a grant of a workspace: to a user (User set) or a
// group (Group set).
type WorkspaceMember struct {
	Role  string
	User  *persist.User
	Group *persist.Group
	// Invitation is set instead of User when the add made an invitation
	// that the invitee has yet to accept.
	Invitation *InvitationView
}

// MemberRef names the subject of a workspace grant: a user by id or
// email, or a group by id.
type MemberRef struct {
	UserRef
	GroupID string
}

// CreateWorkspace creates a workspace of userID's own (orgID empty) or of
// an organization, which needs its admin or owner role. The creator gets
// the admin role.
func (s *Service) CreateWorkspace(ctx context.Context, userID, name, orgID string) (WorkspaceView, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return WorkspaceView{}, err
	}
	if orgID != "" {
		if _, _, err := s.orgAccess(userID, orgID, persist.OrgAdmin); err != nil {
			return WorkspaceView{}, err
		}
	}
	ws, err := s.store.CreateWorkspace(ctx, persist.Workspace{
		ID: agent.NewID(agent.PrefixWorkspace), Name: name, OrganizationID: orgID,
	}, userID)
	if err != nil {
		return WorkspaceView{}, storeErr(err, "")
	}
	return WorkspaceView{Workspace: ws, Role: persist.WorkspaceAdmin}, nil
}

// ListWorkspaces returns the workspaces userID has a role in.
func (s *Service) ListWorkspaces(_ context.Context, userID string) ([]WorkspaceView, error) {
	list, err := s.store.ReachableWorkspaces(userID)
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceView, len(list))
	for i, w := range list {
		out[i] = WorkspaceView{Workspace: w.Workspace, Role: w.Role}
	}
	return out, nil
}

// workspaceAccess returns workspace id with userID's role if it is at
// least need (see Access.Authorize).
func (s *Service) workspaceAccess(userID, id, need string) (WorkspaceView, error) {
	role, err := s.role(userID, id, need)
	if err != nil {
		return WorkspaceView{}, err
	}
	ws, err := s.store.Workspace(id)
	if err != nil {
		return WorkspaceView{}, NotFound(err, "workspace "+id)
	}
	return WorkspaceView{Workspace: ws, Role: role}, nil
}

// GetWorkspace returns a workspace userID has a role in.
func (s *Service) GetWorkspace(_ context.Context, userID, id string) (WorkspaceView, error) {
	return s.workspaceAccess(userID, id, persist.WorkspaceViewer)
}

// UpdateWorkspace renames a workspace (its admins).
func (s *Service) UpdateWorkspace(ctx context.Context, userID, id string, name *string) (WorkspaceView, error) {
	v, err := s.workspaceAccess(userID, id, persist.WorkspaceAdmin)
	if err != nil {
		return v, err
	}
	var clean string
	if name != nil {
		if clean, err = cleanName("name", *name); err != nil {
			return v, err
		}
	}
	ws, err := s.store.UpdateWorkspace(ctx, id, func(w *persist.Workspace) error {
		if name != nil {
			w.Name = clean
		}
		return nil
	})
	return WorkspaceView{Workspace: ws, Role: v.Role}, storeErr(err, "")
}

// DeleteWorkspace deletes a workspace (its admins) with everything in it:
// its jobs are disarmed and their runs interrupted, its running turns are
// interrupted, then its sessions, files, jobs, workspace-scoped provider
// settings and grants are removed in one store transaction. A personal
// workspace cannot be deleted (agent.ErrConflict).
func (s *Service) DeleteWorkspace(ctx context.Context, userID, id string) (persist.DeletedWorkspace, error) {
	v, err := s.workspaceAccess(userID, id, persist.WorkspaceAdmin)
	if err != nil {
		return persist.DeletedWorkspace{}, err
	}
	if v.Workspace.Personal {
		return persist.DeletedWorkspace{}, fmt.Errorf("%w: a personal workspace cannot be deleted", agent.ErrConflict)
	}
	contents, err := s.store.WorkspaceContents(id)
	if err != nil {
		return persist.DeletedWorkspace{}, err
	}
	byActors := s.runtime().EndWorkspace(ctx, contents)
	out, err := s.store.DeleteWorkspace(ctx, id)
	if err != nil {
		return out, storeErr(err, "a personal workspace cannot be deleted")
	}
	out.Sessions += byActors
	s.runtime().ScopeDeleted(persist.QuotaWorkspace, id)
	return out, nil
}

// ListWorkspaceMembers returns a workspace's grants (to anyone with a
// role in it). Organization admins and owners, who are admins of every
// workspace of their organization without a grant, are not listed.
func (s *Service) ListWorkspaceMembers(_ context.Context, userID, id string) ([]WorkspaceMember, error) {
	if _, err := s.workspaceAccess(userID, id, persist.WorkspaceViewer); err != nil {
		return nil, err
	}
	grants, err := s.store.WorkspaceGrants(id)
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceMember, 0, len(grants))
	for _, g := range grants {
		m, err := s.memberOf(g)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Service) memberOf(g persist.WorkspaceGrant) (WorkspaceMember, error) {
	m := WorkspaceMember{Role: g.Role}
	if persist.IsGroupSubject(g.SubjectID) {
		grp, err := s.store.Group(g.SubjectID)
		if err != nil {
			return m, err
		}
		m.Group = &grp
		return m, nil
	}
	u, err := s.store.UserByID(g.SubjectID)
	if err != nil {
		return m, err
	}
	m.User = &u
	return m, nil
}

// subjectOf resolves a member reference to a grant subject id.
func (s *Service) subjectOf(ref MemberRef) (string, error) {
	if ref.GroupID != "" {
		if ref.ID != "" || ref.Email != "" {
			return "", fmt.Errorf("%w: name either a user (user_id or email) or a group_id", agent.ErrInvalid)
		}
		if !agent.ValidID(agent.PrefixGroup, ref.GroupID) {
			return "", fmt.Errorf("%w: group %s", agent.ErrNotFound, ref.GroupID)
		}
		return ref.GroupID, nil
	}
	u, err := s.findUser(ref.UserRef)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// grantErr maps the store's errors of a grant change.
func grantErr(err error, wsID string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, persist.ErrLastOwner):
		return fmt.Errorf("%w: the owner of workspace %s stays its admin", agent.ErrConflict, wsID)
	case errors.Is(err, persist.ErrConflict):
		return fmt.Errorf("%w: the member already has a role in workspace %s; change it instead", agent.ErrConflict, wsID)
	case errors.Is(err, persist.ErrInvalid):
		return fmt.Errorf("%w: in an organization's workspace, members must be users or groups of that organization; groups can only be granted roles in an organization's workspace", agent.ErrInvalid)
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("%w: no such member", agent.ErrNotFound)
	}
	return err
}

// AddWorkspaceMember gives a user or a group a role in a workspace (its
// admins).
func (s *Service) AddWorkspaceMember(ctx context.Context, userID, id string, ref MemberRef, role string) (WorkspaceMember, error) {
	if !persist.ValidWorkspaceRole(role) {
		return WorkspaceMember{}, fmt.Errorf("%w: role must be admin, editor or viewer", agent.ErrInvalid)
	}
	v, err := s.workspaceAccess(userID, id, persist.WorkspaceAdmin)
	if err != nil {
		return WorkspaceMember{}, err
	}
	direct, err := s.isServerAdmin(userID)
	if err != nil {
		return WorkspaceMember{}, err
	}
	// A group, or anyone in an organization's workspace (who must be of
	// that organization, which they joined by consent), is granted
	// directly; anyone else is invited.
	if direct && ref.GroupID == "" && ref.ID == "" && v.Workspace.OrganizationID == "" {
		if _, err := s.findUser(ref.UserRef); errors.Is(err, agent.ErrNotFound) {
			direct = false
		}
	}
	if !direct && ref.GroupID == "" && v.Workspace.OrganizationID == "" {
		inv, err := s.invite(ctx, userID, persist.InvitationWorkspace, id, v.Workspace.Name, ref.UserRef, role)
		if err != nil {
			return WorkspaceMember{}, err
		}
		return WorkspaceMember{Role: role, Invitation: &inv}, nil
	}
	if org := v.Workspace.OrganizationID; org != "" && ref.GroupID == "" {
		// Only the organization's members may be granted: an outsider
		// and an unknown user get the same answer.
		if _, err := s.orgMember(org, ref.UserRef); err != nil {
			return WorkspaceMember{}, err
		}
	}
	subject, err := s.subjectOf(ref)
	if err != nil {
		return WorkspaceMember{}, err
	}
	if _, err := s.store.SetWorkspaceGrant(ctx, id, subject, role, true); err != nil {
		return WorkspaceMember{}, grantErr(err, id)
	}
	return s.memberOf(persist.WorkspaceGrant{WorkspaceID: id, SubjectID: subject, Role: role})
}

// UpdateWorkspaceMember changes the role of a user or group in a
// workspace (its admins). The owner of a workspace outside any
// organization stays its admin (agent.ErrConflict).
func (s *Service) UpdateWorkspaceMember(ctx context.Context, userID, id, memberID, role string) (WorkspaceMember, error) {
	if !persist.ValidWorkspaceRole(role) {
		return WorkspaceMember{}, fmt.Errorf("%w: role must be admin, editor or viewer", agent.ErrInvalid)
	}
	if _, err := s.workspaceAccess(userID, id, persist.WorkspaceAdmin); err != nil {
		return WorkspaceMember{}, err
	}
	if _, err := s.store.SetWorkspaceGrant(ctx, id, memberID, role, false); err != nil {
		return WorkspaceMember{}, grantErr(err, id)
	}
	return s.memberOf(persist.WorkspaceGrant{WorkspaceID: id, SubjectID: memberID, Role: role})
}

// RemoveWorkspaceMember removes a user's or group's grant (its admins;
// anyone may remove their own). The owner of a workspace outside any
// organization cannot be removed (agent.ErrConflict).
func (s *Service) RemoveWorkspaceMember(ctx context.Context, userID, id, memberID string) error {
	need := persist.WorkspaceAdmin
	if memberID == userID {
		need = persist.WorkspaceViewer
	}
	if _, err := s.workspaceAccess(userID, id, need); err != nil {
		return err
	}
	return grantErr(s.store.RemoveWorkspaceGrant(ctx, id, memberID), id)
}
