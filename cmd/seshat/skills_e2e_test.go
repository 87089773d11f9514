package main

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/skills/skillstest"
	"github.com/seshat-host/seshat/http/apitype"
)

// uploadSkill posts an archive to POST /api/v1/skills.
func (s *testServer) uploadSkill(t testing.TB, token, filename string, content []byte, workspaceID string) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if workspaceID != "" {
		require.NoError(t, mw.WriteField("workspace_id", workspaceID))
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", "application/octet-stream")
	part, err := mw.CreatePart(h)
	require.NoError(t, err)
	_, err = part.Write(content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return s.do(t, request{Method: http.MethodPost, Path: "/api/v1/skills", Token: token, Body: buf.Bytes(),
		Header: map[string]string{"Content-Type": mw.FormDataContentType()}})
}

func TestSkillsEndToEnd(t *testing.T) {
	// A budget that holds the catalogue's header and about one skill, so
	// that three skills do not fit.
	srv := startServer(t, "", map[string]string{"SESHAT_SKILLS_BUDGET": "420", "SESHAT_SKILL_MAX_BYTES": "1048576"})
	root := srv.register(t, "root@example.com", "password1")
	member := srv.register(t, "member@example.com", "password1")
	other := srv.register(t, "other@example.com", "password1")
	m, a := member.Token, root.Token
	ws := member.User.DefaultWorkspaceID

	var csv apitype.Skill
	t.Run("a zip upload is checked and stored", func(t *testing.T) {
		archive := skillstest.Zip(t, map[string]string{
			"csv-tools/SKILL.md":         "---\nname: csv-tools\ndescription: Clean and summarise CSV files.\nlicense: MIT\nmetadata:\n  author: team\n---\nRead ref/format.md first, then run scripts/clean.py.\n",
			"csv-tools/ref/format.md":    "Columns are comma separated.",
			"csv-tools/scripts/clean.py": "import os\nos.system('touch /tmp/skill-script-ran')\n",
		})
		csv = created[apitype.Skill](t, srv.uploadSkill(t, m, "csv-tools.zip", archive, ws), 201)
		require.True(t, strings.HasPrefix(csv.ID, "skill_"), csv.ID)
		require.Equal(t, "csv-tools", csv.Name)
		require.Equal(t, "workspace", csv.Scope)
		require.Equal(t, ws, csv.WorkspaceID)
		require.Equal(t, "upload", csv.Source.Type)
		require.Equal(t, "MIT", csv.License)
		require.Equal(t, map[string]string{"author": "team"}, csv.Metadata)
		require.True(t, csv.Enabled)
		require.Len(t, csv.Files, 3)
		require.Contains(t, *csv.Body, "Read ref/format.md first")

		resp := srv.get(t, "/api/v1/skills/"+csv.ID+"/files/ref/format.md", m)
		require.Equal(t, 200, resp.Status)
		require.Equal(t, "Columns are comma separated.", string(resp.Body))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		requireAPIError(t, srv.get(t, "/api/v1/skills/"+csv.ID+"/files/nope.md", m), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/skills/"+csv.ID, other.Token), 404, "not_found")
		requireAPIError(t, srv.uploadSkill(t, m, "csv-tools.zip", archive, ws), 409, "conflict")
		requireAPIError(t, srv.uploadSkill(t, m, "csv-tools.zip", archive, ""), 403, "forbidden")
		requireAPIError(t, srv.uploadSkill(t, other.Token, "csv-tools.zip", archive, ws), 404, "not_found")
	})

	t.Run("hostile and invalid archives are a 400 naming the rule", func(t *testing.T) {
		md := skillstest.Manifest("evil", "Evil.", "")
		for _, tc := range []struct {
			name, file string
			data       []byte
			says       string
		}{
			{"zip bomb", "evil.zip", skillstest.ZipBomb(t, "evil/zeros.bin", 64<<20), "(size)"},
			{"traversal", "evil.zip", skillstest.Zip(t, map[string]string{"evil/SKILL.md": md, "evil/../../x": "x"}), "(path)"},
			{"zip symlink", "evil.zip", skillstest.Zip(t, map[string]string{"evil/SKILL.md": md, "evil/pw": skillstest.LinkPrefix + "/etc/passwd"}), "(link)"},
			{"tar symlink", "evil.tar.gz", skillstest.TarGz(t, map[string]string{"evil/SKILL.md": md, "evil/pw": skillstest.LinkPrefix + "/etc/passwd"}), "(link)"},
			{"name rule", "Evil.zip", skillstest.Zip(t, map[string]string{"Evil/SKILL.md": skillstest.Manifest("Evil", "E.", "")}), "(name)"},
			{"name equals folder", "evil.zip", skillstest.Zip(t, map[string]string{"evil/SKILL.md": skillstest.Manifest("other", "E.", "")}), "(name_folder)"},
			{"no front matter", "evil.zip", skillstest.Zip(t, map[string]string{"evil/SKILL.md": "# Evil"}), "(front_matter)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := requireAPIError(t, srv.uploadSkill(t, m, tc.file, tc.data, ws), 400, "invalid_request")
				require.Contains(t, e.Error, tc.says)
			})
		}
		list := created[apitype.List[apitype.Skill]](t, srv.get(t, "/api/v1/skills?workspace_id="+ws, m), 200)
		require.Len(t, list.Data, 1, "nothing of a refused upload is stored")
	})

	var notes apitype.Skill
	t.Run("a skill given as fields", func(t *testing.T) {
		notes = created[apitype.Skill](t, srv.call(t, http.MethodPost, "/api/v1/skills", a,
			apitype.CreateSkillRequest{Name: "meeting-notes", Description: "Write meeting notes.", Body: "Use headings."}), 201)
		require.Equal(t, "global", notes.Scope)
		requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/skills", a, map[string]any{"name": "x", "description": "d", "colour": "red"}), 400, "invalid_field")
		e := requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/skills", a, apitype.CreateSkillRequest{Name: "x", Description: strings.Repeat("d", 1025)}), 400, "invalid_request")
		require.Contains(t, e.Error, "(description)")
	})

	repo := skillstest.NewRepo(t)
	var srepo apitype.SkillRepository
	t.Run("a file:// repository syncs into global skills", func(t *testing.T) {
		commit := repo.Commit("main", map[string]string{
			"skills/pdf/SKILL.md":    skillstest.Manifest("pdf", "Extract text and tables from PDF files.", "Open the PDF with the reader, page by page."),
			"skills/pdf/forms.md":    "Fill forms field by field.",
			"skills/broken/SKILL.md": skillstest.Manifest("not-broken", "Mismatched.", ""),
		})
		requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/skills/repositories", m, apitype.CreateSkillRepositoryRequest{Name: "r", URL: repo.URL()}), 403, "forbidden")
		srepo = created[apitype.SkillRepository](t, srv.call(t, http.MethodPost, "/api/v1/skills/repositories", a,
			apitype.CreateSkillRepositoryRequest{Name: "team", URL: repo.URL(), Path: "skills"}), 201)
		require.True(t, strings.HasPrefix(srepo.ID, "srepo_"), srepo.ID)
		require.Equal(t, "main", srepo.Ref)
		require.Nil(t, srepo.LastSyncedAt)
		requireAPIError(t, srv.call(t, http.MethodPost, "/api/v1/skills/repositories", a, apitype.CreateSkillRepositoryRequest{Name: "r", URL: "http://example.com/x.git"}), 400, "invalid_request")

		res := created[apitype.SkillSyncResult](t, srv.call(t, http.MethodPost, "/api/v1/skills/repositories/"+srepo.ID+"/sync", a, nil), 200)
		require.Equal(t, []string{"pdf"}, res.Added)
		require.Equal(t, []string{}, res.Updated)
		require.Equal(t, []string{}, res.Removed)
		require.Len(t, res.Errors, 1)
		require.Equal(t, "broken", res.Errors[0].Path)
		require.Contains(t, res.Errors[0].Error, "name_folder")
		require.Equal(t, commit, res.Repository.LastCommit)
		require.Equal(t, 1, res.Repository.SkillCount)
		require.NotNil(t, res.Repository.LastSyncedAt)

		list := created[apitype.List[apitype.SkillRepository]](t, srv.get(t, "/api/v1/skills/repositories", a), 200)
		require.Len(t, list.Data, 1)
		requireAPIError(t, srv.get(t, "/api/v1/skills/repositories", m), 403, "forbidden")
	})

	var pdf apitype.Skill
	t.Run("the member lists workspace and global skills", func(t *testing.T) {
		list := created[apitype.List[apitype.Skill]](t, srv.get(t, "/api/v1/skills", m), 200)
		names := []string{}
		for _, s := range list.Data {
			names = append(names, s.Name)
			if s.Name == "pdf" {
				pdf = s
			}
			require.Nil(t, s.Body, "listings carry no instructions")
		}
		require.Equal(t, []string{"csv-tools", "meeting-notes", "pdf"}, names)
		require.Equal(t, "repository", pdf.Source.Type)
		require.Equal(t, srepo.ID, pdf.Source.RepositoryID)
		requireAPIError(t, srv.call(t, http.MethodDelete, "/api/v1/skills/"+pdf.ID, a, nil), 409, "conflict")
		requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/skills/"+pdf.ID, m, apitype.UpdateSkillRequest{Enabled: new(false)}), 403, "forbidden")
	})

	t.Run("a mock turn loads a synced skill and reads an uploaded one's file", func(t *testing.T) {
		st := srv.stream(t, m, apitype.QueryRequest{Prompt: `@tool load_skill {"name":"pdf"}`})
		trunc := decodeRuntime(t, st.Until(isRuntime("skills_truncated")))
		require.Equal(t, 3, trunc.Total)
		require.Less(t, trunc.Shown, 3, "the catalogue did not fit its budget, and the turn said so")
		done := decodeDone(t, st.Until(isEnd))
		require.Len(t, done.ToolResults, 1)
		require.False(t, done.ToolResults[0].IsError, done.ToolResults[0].Content)
		require.Contains(t, done.ToolResults[0].Content, "Open the PDF with the reader, page by page.")
		require.Contains(t, done.ToolResults[0].Content, "- forms.md (")
		require.Contains(t, done.Content, "tool load_skill returned: Skill pdf:")

		q := srv.query(t, m, apitype.QueryRequest{Prompt: `@tool read_skill_file {"name":"csv-tools","path":"scripts/clean.py"}`})
		require.Len(t, q.ToolResults, 1)
		require.False(t, q.ToolResults[0].IsError)
		require.Contains(t, q.ToolResults[0].Content, "touch /tmp/skill-script-ran", "a script is read, never run")

		q = srv.query(t, other.Token, apitype.QueryRequest{Prompt: `@tool load_skill {"name":"csv-tools"}`})
		require.True(t, q.ToolResults[0].IsError, "another workspace's skill is not loaded")
	})

	t.Run("a disabled skill leaves the catalogue", func(t *testing.T) {
		off := created[apitype.Skill](t, srv.call(t, http.MethodPatch, "/api/v1/skills/"+csv.ID, m, apitype.UpdateSkillRequest{Enabled: new(false)}), 200)
		require.False(t, off.Enabled)
		q := srv.query(t, m, apitype.QueryRequest{Prompt: `@tool load_skill {"name":"csv-tools"}`})
		require.True(t, q.ToolResults[0].IsError)
		requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/skills/"+csv.ID, m, map[string]any{}), 400, "invalid_request")
	})

	t.Run("deleting the repository removes its skills", func(t *testing.T) {
		resp := srv.call(t, http.MethodDelete, "/api/v1/skills/repositories/"+srepo.ID, a, nil)
		require.Equal(t, 204, resp.Status, "%s", resp.Body)
		requireAPIError(t, srv.get(t, "/api/v1/skills/"+pdf.ID, m), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/skills/repositories/"+srepo.ID, a), 404, "not_found")
		resp = srv.call(t, http.MethodDelete, "/api/v1/skills/"+csv.ID, m, nil)
		require.Equal(t, 204, resp.Status, "%s", resp.Body)
		resp = srv.call(t, http.MethodDelete, "/api/v1/skills/"+notes.ID, m, nil)
		requireAPIError(t, resp, 403, "forbidden")
	})
}
