package persist_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
)

func skillOf(id, name, scope, ws string, files map[string][]byte) persist.Skill {
	sk := persist.Skill{ID: id, Name: name, Description: "does " + name, Scope: scope, WorkspaceID: ws,
		Source: persist.SkillSource{Type: persist.SkillSourceUpload}, Enabled: true, Digest: "d-" + name}
	for p, b := range files {
		sk.Files = append(sk.Files, persist.SkillFile{Path: p, Size: int64(len(b))})
	}
	return sk
}

func TestSkillsScopedNamedAndDeletedWithTheirWorkspace(t *testing.T) {
	s := openEngine(t)
	u := newUser(t, s)
	ctx := t.Context()
	files := map[string][]byte{persist.SkillManifest: []byte("---\nname: pdf\n---\nbody"), "ref/a.md": []byte("A"), "empty.txt": {}}

	g, err := s.CreateSkill(ctx, skillOf("skill_g", "pdf", persist.SkillScopeGlobal, "", files), files, 0)
	require.NoError(t, err)
	require.False(t, g.CreatedAt.IsZero())
	_, err = s.CreateSkill(ctx, skillOf("skill_g2", "pdf", persist.SkillScopeGlobal, "", files), files, 0)
	require.ErrorIs(t, err, persist.ErrConflict, "a global name is unique among global skills")

	ws, err := s.CreateWorkspace(ctx, persist.Workspace{Name: "team"}, u.ID)
	require.NoError(t, err)
	w, err := s.CreateSkill(ctx, skillOf("skill_w", "pdf", persist.SkillScopeWorkspace, ws.ID, files), files, 0)
	require.NoError(t, err, "a workspace skill may share a global name")
	_, err = s.CreateSkill(ctx, skillOf("skill_w2", "zip", persist.SkillScopeWorkspace, ws.ID, files), files, 1)
	require.ErrorIs(t, err, persist.ErrConflict, "the scope cap holds")
	_, err = s.CreateSkill(ctx, skillOf("skill_x", "x", persist.SkillScopeWorkspace, "ws_missing", files), files, 0)
	require.ErrorIs(t, err, persist.ErrNotFound)
	bad := skillOf("skill_b", "b", persist.SkillScopeGlobal, "", files)
	bad.Files = bad.Files[:1]
	_, err = s.CreateSkill(ctx, bad, files, 0)
	require.ErrorIs(t, err, persist.ErrInvalid, "the file list matches the files")

	got, err := s.SkillByName(ws.ID, "pdf")
	require.NoError(t, err)
	require.Equal(t, w.ID, got.ID, "the workspace's skill shadows the global one")
	got, err = s.SkillByName(u.DefaultWorkspaceID, "pdf")
	require.NoError(t, err)
	require.Equal(t, g.ID, got.ID)
	_, err = s.SkillByName(u.DefaultWorkspaceID, "nope")
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.Skills([]string{ws.ID})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []string{"skill_w", "skill_g"}, []string{list[0].ID, list[1].ID}, "workspace skills first")

	b, err := s.SkillFileContent("skill_g", "ref/a.md")
	require.NoError(t, err)
	require.Equal(t, "A", string(b))
	b, err = s.SkillFileContent("skill_g", "empty.txt")
	require.NoError(t, err)
	require.Empty(t, b)
	_, err = s.SkillFileContent("skill_g", "nope")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.SkillFileContent("skill_nope", persist.SkillManifest)
	require.ErrorIs(t, err, persist.ErrNotFound)

	upd, err := s.UpdateSkill(ctx, "skill_g", func(sk *persist.Skill) error {
		sk.Enabled, sk.Name = false, "renamed" // the name is kept
		return nil
	})
	require.NoError(t, err)
	require.False(t, upd.Enabled)
	require.Equal(t, "pdf", upd.Name)

	_, err = s.DeleteWorkspace(ctx, ws.ID)
	require.NoError(t, err)
	_, err = s.Skill("skill_w")
	require.ErrorIs(t, err, persist.ErrNotFound, "a workspace's skills go with it")
	require.NoError(t, s.DeleteSkill(ctx, "skill_g", nil))
	require.ErrorIs(t, s.DeleteSkill(ctx, "skill_g", nil), persist.ErrNotFound)
	require.NoError(t, s.Check())
}

func synced(name, path, digest string) persist.SyncedSkill {
	files := map[string][]byte{persist.SkillManifest: []byte("---\nname: " + name + "\n---\n" + digest)}
	sk := skillOf("", name, persist.SkillScopeGlobal, "", files)
	sk.Digest = digest
	sk.Source.Path = path
	return persist.SyncedSkill{Skill: sk, Files: files}
}

func TestSkillSyncAddsUpdatesRemovesAndKeepsFailedPaths(t *testing.T) {
	s := openEngine(t)
	ctx := t.Context()
	n := 0
	newID := func() string { n++; return uniq("skill_s") }

	repo, err := s.CreateSkillRepository(ctx, persist.SkillRepository{ID: "srepo_1", Name: "r", URL: "file:///x", Ref: "main"})
	require.NoError(t, err)
	files := map[string][]byte{persist.SkillManifest: []byte("x")}
	_, err = s.CreateSkill(ctx, skillOf("skill_up", "taken", persist.SkillScopeGlobal, "", files), files, 0)
	require.NoError(t, err)

	res, err := s.ApplySkillSync(ctx, repo.ID, persist.SkillSync{Commit: "c1", Skills: []persist.SyncedSkill{
		synced("alpha", "alpha", "1"), synced("beta", "skills/beta", "1"), synced("gamma", "gamma", "1"), synced("taken", "taken", "1"),
	}, Errors: map[string]string{"broken": "SKILL.md: name is required"}}, newID)
	require.NoError(t, err)
	require.Equal(t, []string{"alpha", "beta", "gamma"}, res.Added)
	require.Empty(t, res.Updated)
	require.Equal(t, []persist.SkillSyncError{{Path: "broken", Error: "SKILL.md: name is required"},
		{Path: "taken", Error: `a global skill named "taken" exists`}}, res.Errors)
	require.Equal(t, 3, res.Repository.SkillCount)
	require.Equal(t, "c1", res.Repository.LastCommit)

	alpha, err := s.SkillByName("", "alpha")
	require.NoError(t, err)
	require.Equal(t, persist.SkillSource{Type: persist.SkillSourceRepository, RepositoryID: repo.ID, Path: "alpha", Commit: "c1"}, alpha.Source)
	_, err = s.UpdateSkill(ctx, alpha.ID, func(sk *persist.Skill) error { sk.Enabled = false; return nil })
	require.NoError(t, err)

	// alpha changes, beta stays, gamma fails (and is kept), delta is new,
	// and nothing is at beta's old sibling paths.
	res, err = s.ApplySkillSync(ctx, repo.ID, persist.SkillSync{Commit: "c2", Skills: []persist.SyncedSkill{
		synced("alpha", "alpha", "2"), synced("beta", "skills/beta", "1"), synced("delta", "delta", "1"),
	}, Errors: map[string]string{"gamma": "bad"}}, newID)
	require.NoError(t, err)
	require.Equal(t, []string{"delta"}, res.Added)
	require.Equal(t, []string{"alpha"}, res.Updated)
	require.Empty(t, res.Removed)
	again, err := s.Skill(alpha.ID)
	require.NoError(t, err)
	require.False(t, again.Enabled, "a sync keeps the enabled flag")
	require.Equal(t, "c2", again.Source.Commit)
	body, err := s.SkillFileContent(alpha.ID, persist.SkillManifest)
	require.NoError(t, err)
	require.Contains(t, string(body), "2")

	res, err = s.ApplySkillSync(ctx, repo.ID, persist.SkillSync{Commit: "c3", Skills: []persist.SyncedSkill{synced("beta", "skills/beta", "1")}}, newID)
	require.NoError(t, err)
	require.Equal(t, []string{"alpha", "delta", "gamma"}, res.Removed)
	require.Equal(t, 1, res.Repository.SkillCount)

	failed, err := s.FailSkillSync(ctx, repo.ID, "unreachable")
	require.NoError(t, err)
	require.Equal(t, "unreachable", failed.LastError)
	require.Equal(t, "c3", failed.LastCommit)

	gone, err := s.DeleteSkillRepository(ctx, repo.ID)
	require.NoError(t, err)
	require.Equal(t, 1, gone)
	_, err = s.SkillByName("", "beta")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.Skill("skill_up")
	require.NoError(t, err, "uploaded skills stay")
	repos, err := s.SkillRepositories()
	require.NoError(t, err)
	require.Empty(t, repos)
	require.NoError(t, s.Check())
}
