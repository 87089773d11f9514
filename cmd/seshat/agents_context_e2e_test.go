package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/skills/skillstest"
	"github.com/seshat-host/seshat/http/apitype"
)

// TestAgentProfilesContextEndToEnd checks what a profile names beyond its
// tools: its corpora, its skills, its memory setting and its system
// prompt, each as a turn sees it.
func TestAgentProfilesContextEndToEnd(t *testing.T) {
	srv := startServer(t, "", nil)
	member := srv.register(t, "member@example.com", "password1")
	m := member.Token
	ws := member.User.DefaultWorkspaceID
	post := func(path string, body any) response { t.Helper(); return srv.call(t, http.MethodPost, path, m, body) }
	query := func(body map[string]any) apitype.QueryResponse {
		t.Helper()
		return created[apitype.QueryResponse](t, post("/api/v1/query", body), 200)
	}

	t.Run("a profile's corpora are retrieved from; the request's corpus wins", func(t *testing.T) {
		md := srv.uploadFile(t, m, "falcons.md", "", []byte(falconText), nil)
		birds := created[apitype.Corpus](t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "Birds"}), 201)
		created[apitype.IngestJob](t, post("/api/v1/corpora/"+birds.ID+"/files", apitype.AddCorpusFilesRequest{FileIDs: []string{md.ID}}), 202)
		files, _ := srv.waitIngested(t, m, birds.ID)
		require.Equal(t, "completed", files[md.ID].Status)
		other := srv.uploadFile(t, m, "owls.md", "", []byte("# Owls\n\nThe barn owl hunts at night by sound alone, hearing voles under snow.\n"), nil)
		owls := created[apitype.Corpus](t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "Owls"}), 201)
		created[apitype.IngestJob](t, post("/api/v1/corpora/"+owls.ID+"/files", apitype.AddCorpusFilesRequest{FileIDs: []string{other.ID}}), 202)
		files, _ = srv.waitIngested(t, m, owls.ID)
		require.Equal(t, "completed", files[other.ID].Status)

		created[apitype.Agent](t, post("/api/v1/agents", map[string]any{"slug": "birder", "workspace_id": ws, "corpus_ids": []string{birds.ID}}), 201)
		plain := query(map[string]any{"prompt": "@sources\nHow fast does the peregrine falcon dive?"})
		require.Empty(t, plain.RAGResults, "no corpus without the profile")
		res := query(map[string]any{"prompt": "@sources\nHow fast does the peregrine falcon dive?", "agent_slug": "birder"})
		require.NotEmpty(t, res.RAGResults, res.Content)
		for _, r := range res.RAGResults {
			require.Equal(t, birds.ID, r.CorpusID)
		}
		require.True(t, strings.HasPrefix(res.Content, "sources: falcons.md"), res.Content)

		res = query(map[string]any{"prompt": "@sources\nHow does the barn owl hunt?", "agent_slug": "birder", "corpus_id": owls.ID})
		require.NotEmpty(t, res.RAGResults, res.Content)
		for _, r := range res.RAGResults {
			require.Equal(t, owls.ID, r.CorpusID, "the request's corpus_id wins over the profile's")
		}
	})

	t.Run("a profile's skills are the turn's catalogue", func(t *testing.T) {
		for name, body := range map[string]string{"csv-tools": "Split on commas.", "pdf-tools": "Read page by page."} {
			archive := skillstest.Zip(t, map[string]string{name + "/SKILL.md": skillstest.Manifest(name, "Work with "+name+" files.", body)})
			created[apitype.Skill](t, srv.uploadSkill(t, m, name+".zip", archive, ws), 201)
		}
		created[apitype.Agent](t, post("/api/v1/agents", map[string]any{"slug": "csv-only", "workspace_id": ws, "skills": []string{"csv-tools"}}), 201)

		sys := query(map[string]any{"prompt": "@system", "agent_slug": "csv-only"})
		require.Contains(t, sys.Content, "csv-tools")
		require.NotContains(t, sys.Content, "pdf-tools", "the profile names its skills: the workspace's others are not listed")
		res := query(map[string]any{"prompt": `@tool load_skill {"name":"csv-tools"}`, "agent_slug": "csv-only"})
		require.Len(t, res.ToolResults, 1)
		require.False(t, res.ToolResults[0].IsError, res.ToolResults[0].Content)
		require.Contains(t, res.ToolResults[0].Content, "Split on commas.")
		res = query(map[string]any{"prompt": `@tool load_skill {"name":"pdf-tools"}`, "agent_slug": "csv-only"})
		require.Len(t, res.ToolResults, 1)
		require.True(t, res.ToolResults[0].IsError, "a skill outside the profile's list is not loaded")

		sys = query(map[string]any{"prompt": "@system"})
		require.Contains(t, sys.Content, "csv-tools", "without a profile the workspace's skills are listed")
		require.Contains(t, sys.Content, "pdf-tools")
	})

	t.Run("a profile's memory setting goes to its sessions", func(t *testing.T) {
		created[apitype.Agent](t, post("/api/v1/agents", map[string]any{"slug": "forgetful", "workspace_id": ws,
			"memory": map[string]any{"extract": "off", "inject": false}}), 201)
		sess := created[apitype.Session](t, post("/api/v1/sessions", map[string]any{"agent_slug": "forgetful"}), 201)
		got := created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+sess.ID, m), 200)
		require.NotNil(t, got.Memory)
		require.Equal(t, apitype.SessionMemory{Extract: "off", Inject: false}, *got.Memory)

		own := created[apitype.Session](t, post("/api/v1/sessions", map[string]any{"agent_slug": "forgetful",
			"memory": map[string]any{"extract": "auto", "inject": true}}), 201)
		got = created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+own.ID, m), 200)
		require.NotNil(t, got.Memory)
		require.Equal(t, apitype.SessionMemory{Extract: "auto", Inject: true}, *got.Memory, "the request's memory setting wins")

		res := query(map[string]any{"prompt": "hello", "agent_slug": "forgetful"})
		got = created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+res.SessionID, m), 200)
		require.NotNil(t, got.Memory, "a query's new session takes the profile's memory setting")
		require.Equal(t, apitype.SessionMemory{Extract: "off", Inject: false}, *got.Memory)

		created[apitype.Agent](t, post("/api/v1/agents", map[string]any{"slug": "recalling", "workspace_id": ws,
			"memory": map[string]any{"extract": "off"}}), 201)
		sess = created[apitype.Session](t, post("/api/v1/sessions", map[string]any{"agent_slug": "recalling"}), 201)
		got = created[apitype.Session](t, srv.get(t, "/api/v1/sessions/"+sess.ID, m), 200)
		require.Equal(t, &apitype.SessionMemory{Extract: "off", Inject: true}, got.Memory, "an omitted inject is true")
	})

	t.Run("a session keeps the system prompt of its version", func(t *testing.T) {
		prof := created[apitype.Agent](t, post("/api/v1/agents", map[string]any{"slug": "writer", "workspace_id": ws, "system_prompt": "You write haiku."}), 201)
		old := created[apitype.Session](t, post("/api/v1/sessions", map[string]any{"agent_slug": "writer"}), 201)
		require.Contains(t, query(map[string]any{"prompt": "@system", "session_id": old.ID}).Content, "You write haiku.")

		v2 := created[apitype.Agent](t, srv.call(t, http.MethodPatch, "/api/v1/agents/"+prof.ID, m, map[string]any{"system_prompt": "You write sonnets."}), 200)
		require.Equal(t, 2, v2.Version)

		sys := query(map[string]any{"prompt": "@system", "session_id": old.ID}).Content
		require.Contains(t, sys, "You write haiku.", "the session keeps version 1")
		require.NotContains(t, sys, "sonnets")
		fresh := created[apitype.Session](t, post("/api/v1/sessions", map[string]any{"agent_slug": "writer"}), 201)
		require.Equal(t, 2, fresh.AgentVersion)
		sys = query(map[string]any{"prompt": "@system", "session_id": fresh.ID}).Content
		require.Contains(t, sys, "You write sonnets.", "a new session uses version 2")
		require.NotContains(t, sys, "haiku")
		sys = query(map[string]any{"prompt": "@system", "agent_slug": "writer"}).Content
		require.Contains(t, sys, "You write sonnets.", "a query naming the profile uses its current version")
	})
}
