package persist

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Workspaces, their grants and role resolution. Buckets (schema version 4,
// see migrateTenancyBuckets):
//
//	members            userID|workspaceID -> role   (direct user grants; the reverse of ws_grants)
//	ws_grants          workspaceID|subjectID -> role (subject: a user or a group id)
//	group_grants       groupID|workspaceID -> role  (the reverse of ws_grants for groups)
//	workspaces_by_org  orgID|workspaceID -> ""
//
// A user's role in a workspace is the highest of: their direct grant, the
// grants of the groups they belong to, and WorkspaceAdmin when the
// workspace belongs to an organization they own or administer. Every
// workspace, session, file, job and workspace setting check goes through
// AuthorizeWorkspace (or WorkspaceRole), so the rule lives here only.
var (
	bucketWSGrants        = []byte("ws_grants")
	bucketGroupGrants     = []byte("group_grants")
	bucketWorkspacesByOrg = []byte("workspaces_by_org")
)

// Roles of a user in a workspace, lowest first: a viewer reads, an editor
// also runs queries, uploads, answers permission and prompt requests and
// schedules jobs, an admin also manages members and settings.
const (
	WorkspaceViewer = "viewer"
	WorkspaceEditor = "editor"
	WorkspaceAdmin  = "admin"
)

// workspaceRank orders workspace roles; 0 is no role.
func workspaceRank(role string) int {
	switch role {
	case WorkspaceViewer:
		return 1
	case WorkspaceEditor:
		return 2
	case WorkspaceAdmin:
		return 3
	}
	return 0
}

// ValidWorkspaceRole reports whether role is viewer, editor or admin.
func ValidWorkspaceRole(role string) bool { return workspaceRank(role) > 0 }

// RoleAllows reports whether a workspace role have suffices for need.
func RoleAllows(have, need string) bool {
	return workspaceRank(have) > 0 && workspaceRank(have) >= workspaceRank(need)
}

// maxRole returns the higher of two workspace roles.
func maxRole(a, b string) string {
	if workspaceRank(b) > workspaceRank(a) {
		return b
	}
	return a
}

// WorkspaceGrant is a role in a workspace given to a user or a group.
type WorkspaceGrant struct {
	WorkspaceID string `json:"workspace_id"`
	// SubjectID is a user id ("usr_…") or a group id ("grp_…").
	SubjectID string `json:"subject_id"`
	Role      string `json:"role"`
}

// IsGroupSubject reports whether a grant's subject id names a group.
func IsGroupSubject(id string) bool { return strings.HasPrefix(id, idPrefixGroup+"_") }

// AuthorizeWorkspace returns userID's role in workspaceID if it is at
// least need. A workspace the user has no role in, or that does not
// exist, is ErrNotFound (so that ids do not leak across tenants); a role
// below need is ErrForbidden.
func (s *Store) AuthorizeWorkspace(userID, workspaceID, need string) (string, error) {
	role, err := s.WorkspaceRole(userID, workspaceID)
	if err != nil {
		return "", err
	}
	if role == "" {
		return "", fmt.Errorf("persist: workspace %s: %w", workspaceID, ErrNotFound)
	}
	if !RoleAllows(role, need) {
		return role, fmt.Errorf("persist: workspace %s needs the %s role, the user is %s: %w", workspaceID, need, article(role), ErrForbidden)
	}
	return role, nil
}

// article returns role with "a" or "an" before it.
func article(role string) string {
	if role != "" && strings.ContainsRune("aeiou", rune(role[0])) {
		return "an " + role
	}
	return "a " + role
}

// WorkspaceRole returns userID's role in workspaceID, or "" if they have
// none or the workspace does not exist.
func (s *Store) WorkspaceRole(userID, workspaceID string) (string, error) {
	if checkID("user id", userID) != nil || checkID("workspace id", workspaceID) != nil {
		return "", nil
	}
	role := ""
	err := s.View(func(tx *Tx) error {
		var err error
		role, err = tx.workspaceRole(userID, workspaceID)
		return err
	})
	return role, err
}

// workspaceRole resolves direct, group and organization grants.
func (tx *Tx) workspaceRole(userID, workspaceID string) (string, error) {
	v := tx.bucket(bucketMembers).Get(key(userID, workspaceID))
	role := ""
	if v != nil {
		role = memberRole(v)
	} else if has(tx.bucket(bucketMembers), key(userID, workspaceID)) {
		role = WorkspaceAdmin
	}
	if role == WorkspaceAdmin {
		return role, nil
	}
	grants := tx.bucket(bucketWSGrants)
	for _, g := range tx.userGroups(userID) {
		if r := grants.Get(key(workspaceID, g)); r != nil {
			role = maxRole(role, string(r))
		}
	}
	if role == WorkspaceAdmin {
		return role, nil
	}
	ws, err := tx.workspace(workspaceID)
	if err != nil {
		return "", nil // a membership of a missing workspace grants nothing
	}
	if ws.OrganizationID != "" && orgAdmin(tx.orgRole(ws.OrganizationID, userID)) {
		return WorkspaceAdmin, nil
	}
	return role, nil
}

// memberRole reads a members value. Before schema version 4 memberships
// had no role and were all owners of personal workspaces.
func memberRole(v []byte) string {
	if len(v) == 0 {
		return WorkspaceAdmin
	}
	return string(v)
}

// userGroups returns the ids of the groups userID belongs to.
func (tx *Tx) userGroups(userID string) []string {
	var out []string
	prefix := prefixKey(userID)
	c := tx.bucket(bucketGroupMembersByUser).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// ReachableWorkspace is a workspace with the caller's role in it.
type ReachableWorkspace struct {
	Workspace
	Role string
}

// ReachableWorkspaces returns the workspaces userID has a role in, with
// that role, oldest first.
func (s *Store) ReachableWorkspaces(userID string) ([]ReachableWorkspace, error) {
	var out []ReachableWorkspace
	err := s.View(func(tx *Tx) error {
		roles := map[string]string{}
		prefix := prefixKey(userID)
		c := tx.bucket(bucketMembers).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := string(k[len(prefix):])
			roles[id] = maxRole(roles[id], memberRole(v))
		}
		gg := tx.bucket(bucketGroupGrants)
		for _, g := range tx.userGroups(userID) {
			gp := prefixKey(g)
			gc := gg.Cursor()
			for k, v := gc.Seek(gp); k != nil && bytes.HasPrefix(k, gp); k, v = gc.Next() {
				id := string(k[len(gp):])
				roles[id] = maxRole(roles[id], string(v))
			}
		}
		oc := tx.bucket(bucketOrgMembersByUser).Cursor()
		byOrg := tx.bucket(bucketWorkspacesByOrg)
		for k, v := oc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = oc.Next() {
			if !orgAdmin(string(v)) {
				continue
			}
			op := prefixKey(string(k[len(prefix):]))
			wc := byOrg.Cursor()
			for wk, _ := wc.Seek(op); wk != nil && bytes.HasPrefix(wk, op); wk, _ = wc.Next() {
				roles[string(wk[len(op):])] = WorkspaceAdmin
			}
		}
		for id, role := range roles {
			ws, err := tx.workspace(id)
			if err != nil {
				continue
			}
			out = append(out, ReachableWorkspace{Workspace: ws, Role: role})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b ReachableWorkspace) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// DefaultWorkspaceFor returns the workspace userID's requests go to when
// they name none: their chosen default if they still have a role in it,
// else their personal workspace.
func (s *Store) DefaultWorkspaceFor(userID string) (string, error) {
	id := ""
	err := s.View(func(tx *Tx) error {
		u, err := tx.user(userID)
		if err != nil {
			return err
		}
		if role, err := tx.workspaceRole(userID, u.DefaultWorkspaceID); err == nil && role != "" {
			id = u.DefaultWorkspaceID
			return nil
		}
		id, err = tx.personalWorkspace(userID)
		return err
	})
	return id, err
}

// personalWorkspace returns the id of userID's personal workspace.
func (tx *Tx) personalWorkspace(userID string) (string, error) {
	prefix := prefixKey(userID)
	c := tx.bucket(bucketMembers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ws, err := tx.workspace(string(k[len(prefix):]))
		if err == nil && ws.Personal && ws.OwnerID == userID {
			return ws.ID, nil
		}
	}
	return "", fmt.Errorf("persist: personal workspace of %s: %w", userID, ErrNotFound)
}

// CreateWorkspace stores a workspace that is not a personal one and gives
// adminID the admin role in it. An empty ID is minted; OwnerID becomes
// adminID. A workspace of an organization (OrganizationID set) needs the
// organization to exist (ErrNotFound); so does adminID.
func (s *Store) CreateWorkspace(ctx context.Context, ws Workspace, adminID string) (Workspace, error) {
	if ws.ID == "" {
		ws.ID = newID(idPrefixWorkspace)
	}
	var out Workspace
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.createWorkspace(ws, adminID)
		return err
	})
	return out, err
}

func (tx *Tx) createWorkspace(ws Workspace, adminID string) (Workspace, error) {
	if err := checkID("workspace id", ws.ID); err != nil {
		return Workspace{}, err
	}
	if _, err := tx.user(adminID); err != nil {
		return Workspace{}, err
	}
	workspaces := tx.bucket(bucketWorkspaces)
	if workspaces.Get([]byte(ws.ID)) != nil {
		return Workspace{}, fmt.Errorf("persist: workspace %s exists: %w", ws.ID, ErrConflict)
	}
	if ws.OrganizationID != "" {
		if _, err := tx.organization(ws.OrganizationID); err != nil {
			return Workspace{}, err
		}
		if err := tx.bucket(bucketWorkspacesByOrg).Put(key(ws.OrganizationID, ws.ID), nil); err != nil {
			return Workspace{}, err
		}
	}
	t := now()
	if ws.CreatedAt.IsZero() {
		ws.CreatedAt = t
	}
	ws.CreatedAt = normTime(ws.CreatedAt)
	ws.UpdatedAt = ws.CreatedAt
	ws.Personal = false
	ws.OwnerID = adminID
	if err := putJSON(workspaces, []byte(ws.ID), ws); err != nil {
		return Workspace{}, err
	}
	return ws, tx.putGrant(ws.ID, adminID, WorkspaceAdmin)
}

// UpdateWorkspace applies fn to the stored workspace and stores the
// result. fn may change the name only; the rest is kept.
func (s *Store) UpdateWorkspace(ctx context.Context, id string, fn func(*Workspace) error) (Workspace, error) {
	var out Workspace
	err := s.Update(ctx, func(tx *Tx) error {
		ws, err := tx.workspace(id)
		if err != nil {
			return err
		}
		next := ws
		if err := fn(&next); err != nil {
			return err
		}
		ws.Name = next.Name
		ws.UpdatedAt = now()
		out = ws
		return putJSON(tx.bucket(bucketWorkspaces), []byte(id), ws)
	})
	return out, err
}

// WorkspaceContents names what a workspace holds, for its deletion.
type WorkspaceContents struct {
	SessionIDs []string
	JobIDs     []string
}

// WorkspaceContents returns the sessions and jobs of a workspace.
func (s *Store) WorkspaceContents(id string) (WorkspaceContents, error) {
	var c WorkspaceContents
	err := s.View(func(tx *Tx) error {
		c.SessionIDs = tx.workspaceSessions(id)
		c.JobIDs = tx.workspaceJobs(id)
		return nil
	})
	return c, err
}

func (tx *Tx) workspaceSessions(id string) []string {
	var out []string
	prefix := prefixKey(id)
	c := tx.bucket(bucketIdxTime).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if rest := k[len(prefix):]; len(rest) > 8 {
			out = append(out, string(rest[8:]))
		}
	}
	return out
}

func (tx *Tx) workspaceJobs(id string) []string {
	var out []string
	prefix := prefixKey(id)
	c := tx.bucket(bucketJobsByWorkspace).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// DeletedWorkspace counts what DeleteWorkspace removed.
type DeletedWorkspace struct {
	Sessions, Files, Jobs, Settings int
}

// DeleteWorkspace removes a workspace with everything in it, in one
// transaction: its sessions (records, snapshots, search index), files
// (their blobs go once nothing refers to them), jobs and their runs,
// workspace-scoped provider settings and MCP servers, grants and quota records. Users
// whose default it was fall back to their personal workspace. A personal
// workspace cannot be deleted (ErrConflict).
func (s *Store) DeleteWorkspace(ctx context.Context, id string) (DeletedWorkspace, error) {
	var out DeletedWorkspace
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.deleteWorkspace(id)
		return err
	})
	return out, err
}

func (tx *Tx) deleteWorkspace(id string) (DeletedWorkspace, error) {
	var out DeletedWorkspace
	ws, err := tx.workspace(id)
	if err != nil {
		return out, err
	}
	if ws.Personal {
		return out, fmt.Errorf("persist: workspace %s is a personal workspace: %w", id, ErrConflict)
	}
	for _, sid := range tx.workspaceSessions(id) {
		if err := tx.DeleteSession(sid); err != nil {
			return out, err
		}
		out.Sessions++
	}
	var fileIDs []string
	prefix := prefixKey(id)
	fc := tx.bucket(bucketFilesByPath).Cursor()
	for k, v := fc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = fc.Next() {
		fileIDs = append(fileIDs, string(v))
	}
	for _, fid := range fileIDs {
		if err := tx.DeleteFile(fid); err != nil {
			return out, err
		}
		out.Files++
	}
	if err := tx.deleteWorkspaceCorpora(id); err != nil {
		return out, err
	}
	for _, jid := range tx.workspaceJobs(id) {
		if err := tx.DeleteJob(jid); err != nil {
			return out, err
		}
		out.Jobs++
	}
	var settings []string
	sp := prefixKey(ScopeWorkspace, id)
	sc := tx.bucket(bucketProviderSettingsByOwner).Cursor()
	for k, _ := sc.Seek(sp); k != nil && bytes.HasPrefix(k, sp); k, _ = sc.Next() {
		settings = append(settings, string(k[len(sp):]))
	}
	for _, pid := range settings {
		if err := tx.DeleteProviderSetting(pid); err != nil {
			return out, err
		}
		out.Settings++
	}
	if err := tx.deleteWorkspaceMCPServers(id); err != nil {
		return out, err
	}
	if err := tx.deleteWorkspaceSkills(id); err != nil {
		return out, err
	}
	if err := tx.deletePlansWhere(id, func(Plan) bool { return true }); err != nil {
		return out, err
	}
	for _, g := range tx.workspaceGrants(id) {
		if err := tx.deleteGrant(id, g.SubjectID); err != nil {
			return out, err
		}
	}
	if ws.OrganizationID != "" {
		if err := tx.bucket(bucketWorkspacesByOrg).Delete(key(ws.OrganizationID, id)); err != nil {
			return out, err
		}
	}
	if err := tx.deleteQuotaRecords(QuotaWorkspace, id); err != nil {
		return out, err
	}
	if _, err := tx.deleteWorkspaceMemories(id); err != nil {
		return out, err
	}
	if err := tx.resetDefaults(id); err != nil {
		return out, err
	}
	return out, tx.bucket(bucketWorkspaces).Delete([]byte(id))
}

// resetDefaults points every user whose default workspace is id back to
// their personal workspace.
func (tx *Tx) resetDefaults(id string) error {
	users := tx.bucket(bucketUsers)
	var fix []User
	err := users.ForEach(func(k, v []byte) error {
		var u User
		if _, err := getJSON(users, k, &u); err != nil {
			return err
		}
		if u.DefaultWorkspaceID == id {
			fix = append(fix, u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range fix {
		personal, err := tx.personalWorkspace(u.ID)
		if err != nil {
			return err
		}
		u.DefaultWorkspaceID = personal
		if err := putJSON(users, []byte(u.ID), u); err != nil {
			return err
		}
	}
	return nil
}

// WorkspaceGrants returns the grants of a workspace, users first, each
// group in id order.
func (s *Store) WorkspaceGrants(id string) ([]WorkspaceGrant, error) {
	var out []WorkspaceGrant
	err := s.View(func(tx *Tx) error {
		if _, err := tx.workspace(id); err != nil {
			return err
		}
		out = tx.workspaceGrants(id)
		return nil
	})
	slices.SortStableFunc(out, func(a, b WorkspaceGrant) int {
		return cmp.Compare(boolInt(IsGroupSubject(a.SubjectID)), boolInt(IsGroupSubject(b.SubjectID)))
	})
	return out, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (tx *Tx) workspaceGrants(id string) []WorkspaceGrant {
	var out []WorkspaceGrant
	prefix := prefixKey(id)
	c := tx.bucket(bucketWSGrants).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out = append(out, WorkspaceGrant{WorkspaceID: id, SubjectID: string(k[len(prefix):]), Role: string(v)})
	}
	return out
}

// SetWorkspaceGrant gives subjectID (a user or a group) role in workspace
// id, or changes the role it has. It returns the role it had ("" if
// none). create false refuses a subject without a grant (ErrNotFound), so
// that a change cannot add; create true refuses one that has a grant
// (ErrConflict), so that an addition cannot silently change a role.
//
// Rules, checked in the transaction: the subject exists (ErrNotFound); in
// an organization's workspace a user must be a member of the organization
// and a group one of its groups (ErrInvalid); a group may be granted only
// in an organization's workspace (ErrInvalid); the owner of a workspace
// outside any organization stays its admin (ErrConflict).
func (s *Store) SetWorkspaceGrant(ctx context.Context, id, subjectID, role string, create bool) (string, error) {
	if !ValidWorkspaceRole(role) {
		return "", fmt.Errorf("persist: workspace role %q: %w", role, ErrInvalid)
	}
	old := ""
	err := s.Update(ctx, func(tx *Tx) error {
		ws, err := tx.workspace(id)
		if err != nil {
			return err
		}
		if err := tx.checkSubject(ws, subjectID); err != nil {
			return err
		}
		cur := tx.bucket(bucketWSGrants).Get(key(id, subjectID))
		switch {
		case create && cur != nil:
			return fmt.Errorf("persist: %s already has a role in workspace %s: %w", subjectID, id, ErrConflict)
		case !create && cur == nil:
			return fmt.Errorf("persist: %s has no role in workspace %s: %w", subjectID, id, ErrNotFound)
		}
		old = string(cur)
		if ws.OrganizationID == "" && subjectID == ws.OwnerID && role != WorkspaceAdmin {
			return fmt.Errorf("persist: the owner of workspace %s stays its admin: %w", id, ErrLastOwner)
		}
		return tx.putGrant(id, subjectID, role)
	})
	return old, err
}

// checkSubject checks that subjectID may hold a grant in ws.
func (tx *Tx) checkSubject(ws Workspace, subjectID string) error {
	if IsGroupSubject(subjectID) {
		g, err := tx.group(subjectID)
		if err != nil {
			return err
		}
		if ws.OrganizationID == "" || g.OrgID != ws.OrganizationID {
			return fmt.Errorf("persist: group %s is not a group of the workspace's organization: %w", subjectID, ErrInvalid)
		}
		return nil
	}
	if _, err := tx.user(subjectID); err != nil {
		return err
	}
	if ws.OrganizationID != "" && tx.orgRole(ws.OrganizationID, subjectID) == "" {
		return fmt.Errorf("persist: user %s is not a member of organization %s: %w", subjectID, ws.OrganizationID, ErrInvalid)
	}
	return nil
}

// RemoveWorkspaceGrant removes subjectID's grant in workspace id
// (ErrNotFound if it has none). The owner of a workspace outside any
// organization cannot be removed (ErrConflict).
func (s *Store) RemoveWorkspaceGrant(ctx context.Context, id, subjectID string) error {
	return s.Update(ctx, func(tx *Tx) error {
		ws, err := tx.workspace(id)
		if err != nil {
			return err
		}
		if tx.bucket(bucketWSGrants).Get(key(id, subjectID)) == nil {
			return fmt.Errorf("persist: %s has no role in workspace %s: %w", subjectID, id, ErrNotFound)
		}
		if ws.OrganizationID == "" && subjectID == ws.OwnerID {
			return fmt.Errorf("persist: the owner of workspace %s cannot be removed: %w", id, ErrLastOwner)
		}
		return tx.deleteGrant(id, subjectID)
	})
}

// putGrant writes a grant and its reverse entry.
func (tx *Tx) putGrant(wsID, subjectID, role string) error {
	if err := tx.bucket(bucketWSGrants).Put(key(wsID, subjectID), []byte(role)); err != nil {
		return err
	}
	if IsGroupSubject(subjectID) {
		return tx.bucket(bucketGroupGrants).Put(key(subjectID, wsID), []byte(role))
	}
	return tx.bucket(bucketMembers).Put(key(subjectID, wsID), []byte(role))
}

// deleteGrant removes a grant and its reverse entry.
func (tx *Tx) deleteGrant(wsID, subjectID string) error {
	if err := tx.bucket(bucketWSGrants).Delete(key(wsID, subjectID)); err != nil {
		return err
	}
	if IsGroupSubject(subjectID) {
		return tx.bucket(bucketGroupGrants).Delete(key(subjectID, wsID))
	}
	return tx.bucket(bucketMembers).Delete(key(subjectID, wsID))
}
