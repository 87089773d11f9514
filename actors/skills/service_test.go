package skills_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/skills"
	"github.com/seshat-host/seshat/actors/skills/skillstest"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

type fixture struct {
	store        *persist.Store
	svc          *skills.Service
	admin, other persist.User
}

func newFixture(t testing.TB, cfg skills.Config) fixture {
	t.Helper()
	store := persisttest.Open(t)
	cfg.Store = store
	cfg.WorkDir = t.TempDir()
	svc, err := skills.New(cfg)
	require.NoError(t, err)
	mk := func(email string) persist.User {
		u, err := store.CreateUser(t.Context(), persist.User{Email: email, Name: "U"}, persist.Workspace{Name: "Personal"})
		require.NoError(t, err)
		return u
	}
	return fixture{store: store, svc: svc, admin: mk("admin@example.com"), other: mk("other@example.com")}
}

func upload(t *testing.T, f fixture, c skills.Caller, ws string, files map[string]string) (persist.Skill, error) {
	t.Helper()
	data := skillstest.Zip(t, files)
	return f.svc.Upload(t.Context(), c, ws, "skill.zip", bytes.NewReader(data), int64(len(data)))
}

func TestUploadScopesAndTenancy(t *testing.T) {
	f := newFixture(t, skills.Config{})
	ctx := t.Context()
	admin := skills.Caller{UserID: f.admin.ID, Admin: true}
	member := skills.Caller{UserID: f.other.ID}
	md := skillstest.Manifest("notes", "Take notes.", "Write them down.")

	sk, err := upload(t, f, member, f.other.DefaultWorkspaceID, map[string]string{"notes/SKILL.md": md, "notes/ref.md": "R"})
	require.NoError(t, err)
	require.Equal(t, persist.SkillScopeWorkspace, sk.Scope)
	require.Equal(t, "Write them down.", sk.Body)
	require.Len(t, sk.Files, 2)

	_, err = upload(t, f, member, "", map[string]string{"notes/SKILL.md": md})
	require.ErrorIs(t, err, agent.ErrForbidden, "global skills are for server admins")
	_, err = upload(t, f, member, f.admin.DefaultWorkspaceID, map[string]string{"notes/SKILL.md": md})
	require.ErrorIs(t, err, agent.ErrNotFound, "another user's workspace is not found")
	_, err = upload(t, f, member, f.other.DefaultWorkspaceID, map[string]string{"notes/SKILL.md": md})
	require.ErrorIs(t, err, agent.ErrConflict, "a name is unique in its scope")

	g, err := f.svc.CreateFromFields(ctx, admin, "", "notes", "Global notes.", "Global body.")
	require.NoError(t, err)
	require.Equal(t, persist.SkillScopeGlobal, g.Scope)
	_, err = f.svc.CreateFromFields(ctx, admin, "", "Bad_Name", "d", "")
	require.ErrorIs(t, err, agent.ErrInvalid)

	got, err := f.svc.Get(ctx, member, g.ID)
	require.NoError(t, err)
	require.Equal(t, "Global body.", got.Body)
	_, err = f.svc.Get(ctx, skills.Caller{UserID: f.admin.ID}, sk.ID)
	require.ErrorIs(t, err, agent.ErrNotFound, "a workspace skill of another tenant is not found")
	list, err := f.svc.List(ctx, member, "")
	require.NoError(t, err)
	require.Equal(t, []string{sk.ID, g.ID}, []string{list[0].ID, list[1].ID})

	data, file, err := f.svc.File(ctx, member, sk.ID, "ref.md")
	require.NoError(t, err)
	require.Equal(t, "R", string(data))
	require.Equal(t, int64(1), file.Size)
	_, _, err = f.svc.File(ctx, member, sk.ID, "../ref.md")
	require.ErrorIs(t, err, agent.ErrNotFound)

	_, err = f.svc.SetEnabled(ctx, member, g.ID, false)
	require.ErrorIs(t, err, agent.ErrForbidden, "members do not change global skills")
	off, err := f.svc.SetEnabled(ctx, member, sk.ID, false)
	require.NoError(t, err)
	require.False(t, off.Enabled)
	missing, err := f.svc.Missing(ctx, f.other.DefaultWorkspaceID, []string{"notes", "nope"})
	require.NoError(t, err)
	require.Equal(t, []string{"nope"}, missing, "a disabled workspace skill leaves the global one of its name")

	require.NoError(t, f.svc.Delete(ctx, member, sk.ID))
	require.ErrorIs(t, f.svc.Delete(ctx, member, sk.ID), agent.ErrNotFound)
}

func setup(ws string) turn.Setup {
	return turn.Setup{SessionID: "sess_1", TurnID: "turn_1", WorkspaceID: ws, UserID: "usr_1"}
}

func run(t *testing.T, tl tool.Tool, input any) (string, error) {
	t.Helper()
	raw, err := json.Marshal(input)
	require.NoError(t, err)
	return tl.Run(t.Context(), tool.Call{Input: raw, Progress: func(string) {}})
}

func TestCatalogueFitsItsBudgetAndSaysWhatItLeftOut(t *testing.T) {
	list := make([]persist.Skill, 50)
	for i := range list {
		list[i] = persist.Skill{Name: fmt.Sprintf("skill-%02d", i), Description: strings.Repeat("word ", 20)}
	}
	text, shown := skills.Catalogue(list, 1_000_000)
	require.Equal(t, 50, shown)
	require.NotContains(t, text, "more skills are not listed")
	for _, budget := range []int{600, 1000, 2500, 4000} {
		text, shown := skills.Catalogue(list, budget)
		require.LessOrEqual(t, len([]rune(text)), budget)
		require.Positive(t, shown)
		require.Less(t, shown, 50)
		require.Contains(t, text, fmt.Sprintf("(%d more skills are not listed", 50-shown))
		require.Contains(t, text, "- skill-00: ", "the first in rank is listed")
		require.NotContains(t, text, fmt.Sprintf("- skill-%02d:", shown), "listing stops in rank order")
	}
	text, shown = skills.Catalogue(list, 10)
	require.Zero(t, shown)
	require.Empty(t, text)
}

func TestExtensionRanksProfileThenWorkspaceThenGlobal(t *testing.T) {
	var profile []string
	f := newFixture(t, skills.Config{Budget: 700, Profiles: func(_ context.Context, agentID string, version int) ([]string, error) {
		if agentID == "agent_1" && version == 2 {
			return profile, nil
		}
		return nil, nil
	}})
	ctx := t.Context()
	admin := skills.Caller{UserID: f.admin.ID, Admin: true}
	ws := f.admin.DefaultWorkspaceID
	ext := f.svc.Extension()

	c, err := ext.Prepare(ctx, setup(ws))
	require.NoError(t, err)
	require.Empty(t, c.Tools, "no skills: no tools")
	require.Empty(t, c.System)

	for i := range 6 {
		_, err := f.svc.CreateFromFields(ctx, admin, "", fmt.Sprintf("global-%d", i), "A global skill with a description that takes some room.", "global body")
		require.NoError(t, err)
	}
	for i := range 3 {
		_, err := f.svc.CreateFromFields(ctx, admin, ws, fmt.Sprintf("local-%d", i), "A workspace skill.", fmt.Sprintf("local body %d", i))
		require.NoError(t, err)
	}
	c, err = ext.Prepare(ctx, setup(ws))
	require.NoError(t, err)
	require.Len(t, c.Tools, 2)
	require.LessOrEqual(t, len([]rune(c.System)), 700)
	require.Contains(t, c.System, "- local-0: A workspace skill.")
	require.Less(t, strings.Index(c.System, "local-2"), strings.Index(c.System, "global-0"), "workspace skills rank before global ones")
	require.Len(t, c.Events, 1)
	ev := c.Events[0].Runtime
	require.Equal(t, agent.RuntimeSkillsTruncated, ev.Type)
	require.Equal(t, 9, ev.Total)
	require.Less(t, ev.Shown, 9)
	require.Equal(t, ev.Shown, strings.Count(c.System, "\n- "), "shown counts the listed skills")

	load := c.Tools[0]
	out, err := run(t, load, map[string]string{"name": "global-5"})
	require.NoError(t, err, "load_skill loads a skill the catalogue had no room for")
	require.Contains(t, out, "global body")

	st := setup(ws)
	st.Context = agent.TurnContext{AgentID: "agent_1", AgentVersion: 2}
	profile = []string{"global-3", "local-1", "missing"}
	c, err = ext.Prepare(ctx, st)
	require.NoError(t, err)
	require.Empty(t, c.Events, "the profile's two skills fit")
	require.Less(t, strings.Index(c.System, "global-3"), strings.Index(c.System, "local-1"), "a profile's order wins")
	require.NotContains(t, c.System, "local-0")
	_, err = run(t, c.Tools[0], map[string]string{"name": "local-0"})
	require.ErrorIs(t, err, agent.ErrNotFound, "a profile narrows what load_skill loads")
}

func TestToolsReadInstructionsAndFilesAndRunNothing(t *testing.T) {
	f := newFixture(t, skills.Config{})
	ctx := t.Context()
	member := skills.Caller{UserID: f.other.ID}
	ws := f.other.DefaultWorkspaceID
	_, err := upload(t, f, member, ws, map[string]string{
		"csv/SKILL.md":         skillstest.Manifest("csv", "Work with CSV files.", "Run scripts/clean.sh, then read ref/format.md."),
		"csv/scripts/clean.sh": "#!/bin/sh\ntouch /tmp/ran-a-skill-script\n",
		"csv/ref/format.md":    "Comma separated.",
		"csv/logo.png":         "\x89PNG\r\n\x1a\n\xff\xfe",
	})
	require.NoError(t, err)
	c, err := f.svc.Extension().Prepare(ctx, setup(ws))
	require.NoError(t, err)
	load, readFile := c.Tools[0], c.Tools[1]
	require.Equal(t, skills.ToolLoad, load.Spec().Name)
	require.True(t, load.ReadOnly())
	require.False(t, load.NeedsApproval())
	require.True(t, readFile.ReadOnly())

	out, err := run(t, load, map[string]string{"name": "csv"})
	require.NoError(t, err)
	require.Contains(t, out, "Run scripts/clean.sh")
	require.Contains(t, out, "- scripts/clean.sh (")
	require.Contains(t, out, "- ref/format.md (16 bytes)")

	out, err = run(t, readFile, map[string]string{"name": "csv", "path": "ref/format.md"})
	require.NoError(t, err)
	require.Equal(t, "Comma separated.", out)
	out, err = run(t, readFile, map[string]string{"name": "csv", "path": "scripts/clean.sh"})
	require.NoError(t, err)
	require.Contains(t, out, "touch /tmp/ran-a-skill-script", "a script is read as text, never run")
	out, err = run(t, readFile, map[string]string{"name": "csv", "path": "logo.png"})
	require.NoError(t, err)
	require.Contains(t, out, "binary file")
	_, err = run(t, readFile, map[string]string{"name": "csv", "path": "nope.md"})
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = run(t, load, map[string]string{"name": "other"})
	require.ErrorIs(t, err, agent.ErrNotFound)

	// Another workspace's turn sees none of it.
	c, err = f.svc.Extension().Prepare(ctx, setup(f.admin.DefaultWorkspaceID))
	require.NoError(t, err)
	require.Empty(t, c.Tools)
}

func TestSyncFromAFileRepository(t *testing.T) {
	f := newFixture(t, skills.Config{MaxBytes: 1 << 20})
	ctx := t.Context()
	admin := skills.Caller{UserID: f.admin.ID, Admin: true}
	repo := skillstest.NewRepo(t)
	first := repo.Commit("main", map[string]string{
		"README.md":                 "not a skill",
		"skills/pdf/SKILL.md":       skillstest.Manifest("pdf", "Read PDFs.", "v1"),
		"skills/pdf/ref.md":         "ref",
		"skills/csv/SKILL.md":       skillstest.Manifest("csv", "CSV.", "csv"),
		"skills/broken/SKILL.md":    skillstest.Manifest("other-name", "Mismatch.", ""),
		"skills/linked/SKILL.md":    skillstest.Manifest("linked", "Has a link.", ""),
		"skills/linked/passwd":      skillstest.LinkPrefix + "/etc/passwd",
		"skills/.hidden/x/SKILL.md": skillstest.Manifest("x", "hidden", ""),
		"other/ignored/SKILL.md":    skillstest.Manifest("ignored", "outside the path", ""),
	})

	_, err := f.svc.CreateRepository(ctx, skills.Caller{UserID: f.other.ID}, skills.RepositoryInput{Name: "r", URL: repo.URL()})
	require.ErrorIs(t, err, agent.ErrForbidden)
	for _, bad := range []string{"http://example.com/x.git", "ssh://git@example.com/x.git", "file://relative/x", "https://127.0.0.1/x.git"} {
		_, err = f.svc.CreateRepository(ctx, admin, skills.RepositoryInput{Name: "r", URL: bad})
		require.ErrorIs(t, err, agent.ErrInvalid, bad)
	}
	r, err := f.svc.CreateRepository(ctx, admin, skills.RepositoryInput{Name: "team skills", URL: repo.URL(), Path: "skills"})
	require.NoError(t, err)
	require.Equal(t, skills.DefaultRef, r.Ref)

	res, err := f.svc.Sync(ctx, admin, r.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"csv", "pdf"}, res.Added)
	require.Len(t, res.Errors, 2)
	require.Equal(t, "broken", res.Errors[0].Path)
	require.Contains(t, res.Errors[0].Error, "name_folder")
	require.Equal(t, "linked", res.Errors[1].Path)
	require.Contains(t, res.Errors[1].Error, "link")
	require.Equal(t, first, res.Repository.LastCommit)
	require.Equal(t, 2, res.Repository.SkillCount)

	pdf, err := f.store.SkillByName("", "pdf")
	require.NoError(t, err)
	require.Equal(t, persist.SkillSource{Type: persist.SkillSourceRepository, RepositoryID: r.ID, Path: "pdf", Commit: first}, pdf.Source)
	require.ErrorIs(t, f.svc.Delete(ctx, admin, pdf.ID), agent.ErrConflict, "synced skills are read-only")

	again, err := f.svc.Sync(ctx, admin, r.ID)
	require.NoError(t, err)
	require.Empty(t, again.Added)
	require.Empty(t, again.Updated, "an unchanged repository updates nothing")

	second := repo.Commit("main", map[string]string{
		"skills/pdf/SKILL.md": skillstest.Manifest("pdf", "Read PDFs.", "v2"),
		"skills/new/SKILL.md": skillstest.Manifest("new", "New.", ""),
	})
	res, err = f.svc.Sync(ctx, admin, r.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"new"}, res.Added)
	require.Equal(t, []string{"pdf"}, res.Updated)
	require.Equal(t, []string{"csv"}, res.Removed)
	require.Empty(t, res.Errors)
	require.Equal(t, second, res.Repository.LastCommit)
	got, err := f.svc.Get(ctx, admin, pdf.ID)
	require.NoError(t, err)
	require.Equal(t, "v2", got.Body)

	missing, err := f.svc.CreateRepository(ctx, admin, skills.RepositoryInput{Name: "gone", URL: "file://" + t.TempDir() + "/none.git"})
	require.NoError(t, err)
	_, err = f.svc.Sync(ctx, admin, missing.ID)
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	stored, err := f.svc.Repository(ctx, admin, missing.ID)
	require.NoError(t, err)
	require.NotEmpty(t, stored.LastError)

	badRef, err := f.svc.CreateRepository(ctx, admin, skills.RepositoryInput{Name: "ref", URL: repo.URL(), Ref: "nope"})
	require.NoError(t, err)
	_, err = f.svc.Sync(ctx, admin, badRef.ID)
	require.ErrorAs(t, err, &ue)
	require.Contains(t, ue.Msg, "neither a branch nor a tag")

	require.NoError(t, f.svc.DeleteRepository(ctx, admin, r.ID))
	_, err = f.store.SkillByName("", "pdf")
	require.ErrorIs(t, err, persist.ErrNotFound, "a repository's skills go with it")
}

// TestHTTPSSyncGoesThroughTheFence stores a repository whose https URL
// names a loopback address (as a record written before a policy change
// could) and checks that the sync's connection is refused by the fence.
func TestHTTPSSyncGoesThroughTheFence(t *testing.T) {
	f := newFixture(t, skills.Config{})
	ctx := t.Context()
	admin := skills.Caller{UserID: f.admin.ID, Admin: true}
	r, err := f.store.CreateSkillRepository(ctx, persist.SkillRepository{ID: agent.NewID(agent.PrefixSkillRepo), Name: "local", URL: "https://127.0.0.1:9/x.git", Ref: "main"})
	require.NoError(t, err)
	_, err = f.svc.Sync(ctx, admin, r.ID)
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Contains(t, ue.Msg, "outbound fence")
	stored, err := f.svc.Repository(ctx, admin, r.ID)
	require.NoError(t, err)
	require.Contains(t, stored.LastError, "outbound fence")
}
