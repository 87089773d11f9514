package persist

import (
	"bytes"
	"encoding/json"
)

// checkTenancy verifies the buckets of organizations, groups, grants and
// stored-byte counters: every forward entry has its reverse, every subject
// exists, every organization keeps an owner, and the counters equal the
// sizes of the files.
func (tx *Tx) checkTenancy(p *problems) {
	members, grants, groupGrants := tx.bucket(bucketMembers), tx.bucket(bucketWSGrants), tx.bucket(bucketGroupGrants)
	each(grants, func(k, v []byte) {
		ws, subject, _ := bytes.Cut(k, []byte{0})
		if !ValidWorkspaceRole(string(v)) {
			p.add("grant %q: bad role %q", k, v)
		}
		if _, err := tx.workspace(string(ws)); err != nil {
			p.add("grant %q names a missing workspace", k)
		}
		reverse := members
		if IsGroupSubject(string(subject)) {
			reverse = groupGrants
			if _, err := tx.group(string(subject)); err != nil {
				p.add("grant %q names a missing group", k)
			}
		}
		if r := reverse.Get(key(string(subject), string(ws))); !bytes.Equal(r, v) {
			p.add("grant %q: reverse entry holds %q", k, r)
		}
	})
	for _, b := range []struct{ name, bucket []byte }{{[]byte("members"), bucketMembers}, {[]byte("group_grants"), bucketGroupGrants}} {
		each(tx.bucket(b.bucket), func(k, v []byte) {
			subject, ws, _ := bytes.Cut(k, []byte{0})
			if g := grants.Get(key(string(ws), string(subject))); !bytes.Equal(g, v) {
				p.add("%s %q: grant holds %q", b.name, k, g)
			}
		})
	}

	orgMembers, byUser := tx.bucket(bucketOrgMembers), tx.bucket(bucketOrgMembersByUser)
	owners := map[string]int{}
	each(orgMembers, func(k, v []byte) {
		org, user, _ := bytes.Cut(k, []byte{0})
		if !ValidOrgRole(string(v)) {
			p.add("organization member %q: bad role %q", k, v)
		}
		if v := byUser.Get(key(string(user), string(org))); !bytes.Equal(v, orgMembers.Get(k)) {
			p.add("organization member %q: reverse entry holds %q", k, v)
		}
		if string(v) == OrgOwner {
			owners[string(org)]++
		}
	})
	each(byUser, func(k, v []byte) {
		user, org, _ := bytes.Cut(k, []byte{0})
		if !bytes.Equal(orgMembers.Get(key(string(org), string(user))), v) {
			p.add("organization membership %q has no forward entry", k)
		}
	})
	each(tx.bucket(bucketOrgs), func(k, v []byte) {
		if owners[string(k)] == 0 {
			p.add("organization %s has no owner", k)
		}
	})

	gm, gmByUser := tx.bucket(bucketGroupMembers), tx.bucket(bucketGroupMembersByUser)
	each(gm, func(k, v []byte) {
		group, user, _ := bytes.Cut(k, []byte{0})
		g, err := tx.group(string(group))
		if err != nil {
			p.add("group member %q names a missing group", k)
			return
		}
		if tx.orgRole(g.OrgID, string(user)) == "" {
			p.add("group member %q is not a member of organization %s", k, g.OrgID)
		}
		if !has(gmByUser, key(string(user), string(group))) {
			p.add("group member %q has no reverse entry", k)
		}
	})
	each(gmByUser, func(k, v []byte) {
		user, group, _ := bytes.Cut(k, []byte{0})
		if !has(gm, key(string(group), string(user))) {
			p.add("group membership %q has no forward entry", k)
		}
	})
	each(tx.bucket(bucketWorkspacesByOrg), func(k, v []byte) {
		org, ws, _ := bytes.Cut(k, []byte{0})
		w, err := tx.workspace(string(ws))
		if err != nil || w.OrganizationID != string(org) {
			p.add("organization workspace entry %q does not match its workspace", k)
		}
	})

	counts := map[string]int64{}
	each(tx.bucket(bucketFiles), func(k, v []byte) {
		var f File
		if json.Unmarshal(v, &f) != nil {
			return
		}
		counts[string(key(QuotaWorkspace, f.WorkspaceID))] += f.Size
		if ws, err := tx.workspace(f.WorkspaceID); err == nil && ws.OrganizationID != "" {
			counts[string(key(QuotaOrganization, ws.OrganizationID))] += f.Size
		}
		if f.CreatedBy != "" {
			counts[string(key(QuotaUser, f.CreatedBy))] += f.Size
		}
	})
	each(tx.bucket(bucketStoredBytes), func(k, v []byte) {
		if n := int64(readU64(v)); n != counts[string(k)] {
			p.add("stored bytes of %q: counter %d, files %d", k, n, counts[string(k)])
		}
		delete(counts, string(k))
	})
	for k, n := range counts {
		if n != 0 {
			p.add("stored bytes of %q: no counter for %d bytes", k, n)
		}
	}
}
