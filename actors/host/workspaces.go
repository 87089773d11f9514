package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/jobs"
	"github.com/seshat-host/seshat/actors/session"
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
func (h *Host) CreateWorkspace(ctx context.Context, userID, name, orgID string) (WorkspaceView, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return WorkspaceView{}, err
	}
	if orgID != "" {
		if _, _, err := h.orgAccess(userID, orgID, persist.OrgAdmin); err != nil {
			return WorkspaceView{}, err
		}
	}
	ws, err := h.cfg.Store.CreateWorkspace(ctx, persist.Workspace{
		ID: agent.NewID(agent.PrefixWorkspace), Name: name, OrganizationID: orgID,
	}, userID)
	if err != nil {
		return WorkspaceView{}, storeErr(err, "")
	}
	return WorkspaceView{Workspace: ws, Role: persist.WorkspaceAdmin}, nil
}

// ListWorkspaces returns the workspaces userID has a role in.
func (h *Host) ListWorkspaces(_ context.Context, userID string) ([]WorkspaceView, error) {
	list, err := h.cfg.Store.ReachableWorkspaces(userID)
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
// least need (see member).
func (h *Host) workspaceAccess(userID, id, need string) (WorkspaceView, error) {
	if !agent.ValidID(agent.PrefixWorkspace, id) {
		return WorkspaceView{}, fmt.Errorf("%w: workspace %s", agent.ErrNotFound, id)
	}
	role, err := h.cfg.Store.AuthorizeWorkspace(userID, id, need)
	if err != nil {
		return WorkspaceView{}, workspaceErr(err, id, need)
	}
	ws, err := h.cfg.Store.Workspace(id)
	if err != nil {
		return WorkspaceView{}, workspaceErr(err, id, need)
	}
	return WorkspaceView{Workspace: ws, Role: role}, nil
}

// GetWorkspace returns a workspace userID has a role in.
func (h *Host) GetWorkspace(_ context.Context, userID, id string) (WorkspaceView, error) {
	return h.workspaceAccess(userID, id, persist.WorkspaceViewer)
}

// UpdateWorkspace renames a workspace (its admins).
func (h *Host) UpdateWorkspace(ctx context.Context, userID, id string, name *string) (WorkspaceView, error) {
	v, err := h.workspaceAccess(userID, id, persist.WorkspaceAdmin)
	if err != nil {
		return v, err
	}
	var clean string
	if name != nil {
		if clean, err = cleanName("name", *name); err != nil {
			return v, err
		}
	}
	ws, err := h.cfg.Store.UpdateWorkspace(ctx, id, func(w *persist.Workspace) error {
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
func (h *Host) DeleteWorkspace(ctx context.Context, userID, id string) (persist.DeletedWorkspace, error) {
	v, err := h.workspaceAccess(userID, id, persist.WorkspaceAdmin)
	if err != nil {
		return persist.DeletedWorkspace{}, err
	}
	if v.Workspace.Personal {
		return persist.DeletedWorkspace{}, fmt.Errorf("%w: a personal workspace cannot be deleted", agent.ErrConflict)
	}
	contents, err := h.cfg.Store.WorkspaceContents(id)
	if err != nil {
		return persist.DeletedWorkspace{}, err
	}
	for _, jid := range contents.JobIDs {
		if _, err := h.jobsCall(ctx, &jobs.Remove{JobID: jid}); err != nil && !errors.Is(err, errJobsStopped) {
			h.log.Warn("stop the actor of a job of a deleted workspace", "job_id", jid, "err", err)
		}
	}
	byActors := 0
	for _, sid := range contents.SessionIDs {
		if !h.isLive(sid) {
			continue
		}
		// The actor interrupts a running turn, ends its streams and
		// deletes the session; the store sweep below finds it gone.
		_, err := h.request(ctx, sid, &session.Delete{})
		switch {
		case err == nil:
			byActors++
		case !errors.Is(err, persist.ErrNotFound) && !errors.Is(err, agent.ErrNotFound):
			h.log.Warn("delete a session of a deleted workspace", "session_id", sid, "err", err)
		}
	}
	out, err := h.cfg.Store.DeleteWorkspace(ctx, id)
	if err != nil {
		return out, storeErr(err, "a personal workspace cannot be deleted")
	}
	out.Sessions += byActors
	h.quotas.forget(quotaScope{persist.QuotaWorkspace, id})
	return out, nil
}

// isLive reports whether session id has an actor in memory.
func (h *Host) isLive(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.live[id]
	return ok
}

// ListWorkspaceMembers returns a workspace's grants (to anyone with a
// role in it). Organization admins and owners, who are admins of every
// workspace of their organization without a grant, are not listed.
func (h *Host) ListWorkspaceMembers(_ context.Context, userID, id string) ([]WorkspaceMember, error) {
	if _, err := h.workspaceAccess(userID, id, persist.WorkspaceViewer); err != nil {
		return nil, err
	}
	grants, err := h.cfg.Store.WorkspaceGrants(id)
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceMember, 0, len(grants))
	for _, g := range grants {
		m, err := h.memberOf(g)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (h *Host) memberOf(g persist.WorkspaceGrant) (WorkspaceMember, error) {
	m := WorkspaceMember{Role: g.Role}
	if persist.IsGroupSubject(g.SubjectID) {
		grp, err := h.cfg.Store.Group(g.SubjectID)
		if err != nil {
			return m, err
		}
		m.Group = &grp
		return m, nil
	}
	u, err := h.cfg.Store.UserByID(g.SubjectID)
	if err != nil {
		return m, err
	}
	m.User = &u
	return m, nil
}

// subjectOf resolves a member reference to a grant subject id.
func (h *Host) subjectOf(ref MemberRef) (string, error) {
	if ref.GroupID != "" {
		if ref.ID != "" || ref.Email != "" {
			return "", fmt.Errorf("%w: name either a user (user_id or email) or a group_id", agent.ErrInvalid)
		}
		if !agent.ValidID(agent.PrefixGroup, ref.GroupID) {
			return "", fmt.Errorf("%w: group %s", agent.ErrNotFound, ref.GroupID)
		}
		return ref.GroupID, nil
	}
	u, err := h.findUser(ref.UserRef)
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
func (h *Host) AddWorkspaceMember(ctx context.Context, userID, id string, ref MemberRef, role string) (WorkspaceMember, error) {
	if !persist.ValidWorkspaceRole(role) {
		return WorkspaceMember{}, fmt.Errorf("%w: role must be admin, editor or viewer", agent.ErrInvalid)
	}
	if _, err := h.workspaceAccess(userID, id, persist.WorkspaceAdmin); err != nil {
		return WorkspaceMember{}, err
	}
	subject, err := h.subjectOf(ref)
	if err != nil {
		return WorkspaceMember{}, err
	}
	if _, err := h.cfg.Store.SetWorkspaceGrant(ctx, id, subject, role, true); err != nil {
		return WorkspaceMember{}, grantErr(err, id)
	}
	return h.memberOf(persist.WorkspaceGrant{WorkspaceID: id, SubjectID: subject, Role: role})
}

// UpdateWorkspaceMember changes the role of a user or group in a
// workspace (its admins). The owner of a workspace outside any
// organization stays its admin (agent.ErrConflict).
func (h *Host) UpdateWorkspaceMember(ctx context.Context, userID, id, memberID, role string) (WorkspaceMember, error) {
	if !persist.ValidWorkspaceRole(role) {
		return WorkspaceMember{}, fmt.Errorf("%w: role must be admin, editor or viewer", agent.ErrInvalid)
	}
	if _, err := h.workspaceAccess(userID, id, persist.WorkspaceAdmin); err != nil {
		return WorkspaceMember{}, err
	}
	if _, err := h.cfg.Store.SetWorkspaceGrant(ctx, id, memberID, role, false); err != nil {
		return WorkspaceMember{}, grantErr(err, id)
	}
	return h.memberOf(persist.WorkspaceGrant{WorkspaceID: id, SubjectID: memberID, Role: role})
}

// RemoveWorkspaceMember removes a user's or group's grant (its admins;
// anyone may remove their own). The owner of a workspace outside any
// organization cannot be removed (agent.ErrConflict).
func (h *Host) RemoveWorkspaceMember(ctx context.Context, userID, id, memberID string) error {
	need := persist.WorkspaceAdmin
	if memberID == userID {
		need = persist.WorkspaceViewer
	}
	if _, err := h.workspaceAccess(userID, id, need); err != nil {
		return err
	}
	return grantErr(h.cfg.Store.RemoveWorkspaceGrant(ctx, id, memberID), id)
}
