package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/actors/knowledge/knowledgetest"
	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// uploadFile uploads a workspace file and returns it.
func (s *testServer) uploadFile(t testing.TB, token, name, ctype string, data []byte, fields map[string]string) apitype.File {
	t.Helper()
	return created[apitype.File](t, s.upload(t, token, name, ctype, data, fields), http.StatusCreated)
}

// corpusFiles lists a corpus's files by file id.
func (s *testServer) corpusFiles(t testing.TB, token, corpusID string) map[string]apitype.CorpusFile {
	t.Helper()
	list := created[apitype.List[apitype.CorpusFile]](t, s.get(t, "/api/v1/corpora/"+corpusID+"/files", token), http.StatusOK)
	out := map[string]apitype.CorpusFile{}
	for _, f := range list.Data {
		out[f.FileID] = f
	}
	return out
}

func terminal(status string) bool { return status != "in_progress" }

// waitIngested follows the corpus's event stream until none of the
// corpus's files is in progress, checking that the events are numbered one
// by one, and returns the files and the last event id.
func (s *testServer) waitIngested(t testing.TB, token, corpusID string) (map[string]apitype.CorpusFile, uint64) {
	t.Helper()
	st := s.openStream(t, http.MethodGet, "/api/v1/corpora/"+corpusID+"/events", token, nil, nil)
	defer st.Close()
	var last uint64
	for {
		files := s.corpusFiles(t, token, corpusID)
		busy := false
		for _, f := range files {
			busy = busy || !terminal(f.Status)
		}
		if !busy {
			return files, last
		}
		ev := st.MustNext()
		if ev.Name != "corpus" {
			continue
		}
		id := eventID(t, ev)
		if last != 0 {
			require.Equal(t, last+1, id, "corpus events are numbered one by one")
		}
		last = id
		var ce apitype.CorpusEvent
		require.NoError(t, json.Unmarshal(ev.Data, &ce))
		require.NotEmpty(t, ce.FileID)
	}
}

// zipBomb is a DOCX whose document.xml inflates past the extractor's cap.
func zipBomb(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	w, err := zw.Create("word/document.xml")
	require.NoError(t, err)
	_, err = io.WriteString(w, `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>`)
	require.NoError(t, err)
	block := bytes.Repeat([]byte("a"), 1<<20)
	for range 130 {
		_, err = w.Write(block)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

const falconText = "# Falcons\n\nThe peregrine falcon is the fastest bird: it dives at over 300 km/h to strike its prey in mid-air.\n\n" +
	"## Nesting\n\nPeregrines nest on cliff ledges and, in cities, on tall buildings and cathedral towers.\n"

// TestKnowledgeOverHTTP walks the knowledge family end to end: files of
// every kind into a corpus, ingestion followed on the event stream, the
// bad files failing alone, search with every ranker, and streamed turns
// that retrieve before the model call and through search_corpus.
func TestKnowledgeOverHTTP(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_MAX_UPLOAD_BYTES": "2097152", "SESHAT_SSE_KEEPALIVE": "100ms"})
	alice := srv.register(t, "alice@example.com", "password1")
	a := alice.Token
	post := func(path string, body any) response { t.Helper(); return srv.call(t, http.MethodPost, path, a, body) }

	requireAPIError(t, srv.upload(t, a, "huge.txt", "text/plain", bytes.Repeat([]byte("x"), 2<<20+1), nil), 413, "body_too_large")

	md := srv.uploadFile(t, a, "falcons.md", "", []byte(falconText), nil)
	page := srv.uploadFile(t, a, "owls.html", "text/html", []byte(`<html><head><title>Owls</title><script>var hidden = "xylophone";</script></head>`+
		`<body><h1>Owls</h1><p>The barn owl hunts at night by sound alone, hearing voles under snow.</p></body></html>`), nil)
	pdf := srv.uploadFile(t, a, "report.pdf", "application/pdf", knowledgetest.PDF("Annual report", "Quarterly revenue grew by twelve percent in the northern region."), nil)
	docx := srv.uploadFile(t, a, "notes.docx", "", knowledgetest.DOCX("# Meeting notes", "The committee approved the new kestrel nesting boxes."), nil)
	bad := srv.uploadFile(t, a, "broken.pdf", "application/pdf", []byte("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\nthis is not a pdf at all"), nil)
	png := srv.uploadFile(t, a, "pixel.png", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), nil)
	bomb := srv.uploadFile(t, a, "bomb.docx", "", zipBomb(t), nil)
	good := []string{md.ID, page.ID, pdf.ID, docx.ID}

	var corp apitype.Corpus
	t.Run("create and validate", func(t *testing.T) {
		requireAPIError(t, post("/api/v1/corpora", map[string]any{"name": "x", "colour": "red"}), 400, "invalid_field")
		requireAPIError(t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: " "}), 400, "invalid_request")
		tooSmall := 50
		requireAPIError(t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "x", ChunkingStrategy: &apitype.ChunkingStrategyRequest{MaxChunkSizeTokens: &tooSmall}}), 400, "invalid_request")
		size, overlap := 200, 101
		requireAPIError(t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "x", ChunkingStrategy: &apitype.ChunkingStrategyRequest{MaxChunkSizeTokens: &size, ChunkOverlapTokens: &overlap}}), 400, "invalid_request")

		overlap = 40
		corp = created[apitype.Corpus](t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "Birds", Description: "field notes",
			ChunkingStrategy: &apitype.ChunkingStrategyRequest{MaxChunkSizeTokens: &size, ChunkOverlapTokens: &overlap}}), 201)
		require.True(t, strings.HasPrefix(corp.ID, "corp_"))
		require.Equal(t, alice.User.DefaultWorkspaceID, corp.WorkspaceID)
		require.Equal(t, "empty", corp.Status)
		require.Equal(t, apitype.ChunkingStrategy{MaxChunkSizeTokens: 200, ChunkOverlapTokens: 40}, corp.ChunkingStrategy)
		require.Equal(t, "builtin", corp.Embedder.Provider)

		def := created[apitype.Corpus](t, post("/api/v1/corpora", apitype.CreateCorpusRequest{Name: "Defaults"}), 201)
		require.Equal(t, apitype.ChunkingStrategy{MaxChunkSizeTokens: 800, ChunkOverlapTokens: 400}, def.ChunkingStrategy)
		list := created[apitype.CorpusList](t, srv.get(t, "/api/v1/corpora?limit=1", a), 200)
		require.Len(t, list.Data, 1)
		require.Equal(t, def.ID, list.Data[0].ID, "newest first")
		next := created[apitype.CorpusList](t, srv.get(t, "/api/v1/corpora?limit=1&cursor="+list.NextCursor, a), 200)
		require.Equal(t, corp.ID, next.Data[0].ID)
		require.Empty(t, next.NextCursor)
		renamed := created[apitype.Corpus](t, srv.call(t, http.MethodPatch, "/api/v1/corpora/"+def.ID, a, apitype.UpdateCorpusRequest{Name: new("Scratch")}), 200)
		require.Equal(t, "Scratch", renamed.Name)
		require.Equal(t, 204, srv.call(t, http.MethodDelete, "/api/v1/corpora/"+def.ID, a, nil).Status)
		requireAPIError(t, srv.get(t, "/api/v1/corpora/"+def.ID, a), 404, "not_found")
	})

	var events uint64
	t.Run("ingest a batch: every file's outcome, the bad ones alone failing", func(t *testing.T) {
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/files", apitype.AddCorpusFilesRequest{}), 400, "invalid_request")
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/files", apitype.AddCorpusFilesRequest{FileIDs: []string{"file_nope"}}), 404, "not_found")
		ids := append(slices.Clone(good), bad.ID, png.ID, bomb.ID)
		job := created[apitype.IngestJob](t, post("/api/v1/corpora/"+corp.ID+"/files", apitype.AddCorpusFilesRequest{FileIDs: ids}), 202)
		require.True(t, strings.HasPrefix(job.ID, "ing_"))
		require.Len(t, job.Files, len(ids))
		require.Equal(t, len(ids), job.FileCounts.Total)

		files, last := srv.waitIngested(t, a, corp.ID)
		events = last
		require.Len(t, files, len(ids))
		for _, id := range good {
			f := files[id]
			require.Equal(t, "completed", f.Status, "%s: %+v", f.Path, f.LastError)
			require.Equal(t, "done", f.Stage)
			require.Positive(t, f.ChunkCount, f.Path)
			require.Nil(t, f.LastError)
			require.Len(t, f.SHA256, 64)
		}
		for id, code := range map[string]string{bad.ID: "extraction_failed", png.ID: "unsupported_type", bomb.ID: "too_large"} {
			f := files[id]
			require.Equal(t, "failed", f.Status, f.Path)
			require.NotNil(t, f.LastError, f.Path)
			require.Equal(t, code, f.LastError.Code, "%s: %s", f.Path, f.LastError.Message)
			require.NotEmpty(t, f.LastError.Message)
		}
		one := created[apitype.CorpusFile](t, srv.get(t, "/api/v1/corpora/"+corp.ID+"/files/"+pdf.ID, a), 200)
		require.Equal(t, "report.pdf", one.Path)

		job = created[apitype.IngestJob](t, srv.get(t, "/api/v1/corpora/"+corp.ID+"/jobs/"+job.ID, a), 200)
		require.Equal(t, "completed", job.Status)
		require.Equal(t, apitype.FileCounts{Completed: 4, Failed: 3, Total: 7}, job.FileCounts)
		require.NotNil(t, job.StartedAt)
		require.NotNil(t, job.FinishedAt)
		jobs := created[apitype.List[apitype.IngestJob]](t, srv.get(t, "/api/v1/corpora/"+corp.ID+"/jobs", a), 200)
		require.Len(t, jobs.Data, 1)

		c := created[apitype.Corpus](t, srv.get(t, "/api/v1/corpora/"+corp.ID, a), 200)
		require.Equal(t, "completed", c.Status)
		require.Equal(t, apitype.FileCounts{Completed: 4, Failed: 3, Total: 7}, c.FileCounts)
		require.Positive(t, c.ChunkCount)
		require.Positive(t, c.UsageBytes)
	})

	t.Run("re-attach with Last-Event-ID", func(t *testing.T) {
		require.Greater(t, events, uint64(2))
		st := srv.openStream(t, http.MethodGet, "/api/v1/corpora/"+corp.ID+"/events", a, nil, map[string]string{"Last-Event-ID": fmt.Sprint(events - 2)})
		ev := st.Until(func(ev eventstream.Event) bool { return ev.Name == "corpus" })
		require.Equal(t, events-1, eventID(t, ev))
		ev = st.MustNext()
		require.Equal(t, events, eventID(t, ev))
		st.Close()
		resp := srv.get(t, "/api/v1/corpora/"+corp.ID+"/events?after=x", a)
		requireAPIError(t, resp, 400, "invalid_request")
	})

	search := func(q apitype.SearchCorpusRequest) apitype.SearchCorpusResponse {
		t.Helper()
		return created[apitype.SearchCorpusResponse](t, post("/api/v1/corpora/"+corp.ID+"/search", q), 200)
	}
	t.Run("search with every ranker", func(t *testing.T) {
		for _, tc := range []struct{ query, path string }{
			{"how fast does the peregrine falcon dive", "falcons.md"},
			{"barn owl hunting voles under snow", "owls.html"},
			{"quarterly revenue northern region", "report.pdf"},
			{"committee approved kestrel nesting boxes", "notes.docx"},
		} {
			for _, ranker := range []string{"auto", "bm25", "vector", "hybrid"} {
				res := search(apitype.SearchCorpusRequest{Query: tc.query, Ranker: ranker, MaxNumResults: 3})
				require.NotEmpty(t, res.Data, "%s / %s", tc.query, ranker)
				require.Equal(t, tc.path, res.Data[0].Path, "%s / %s: %+v", tc.query, ranker, res.Data)
				require.Empty(t, res.Warnings)
				want := ranker
				if ranker == "auto" {
					want = "hybrid"
				}
				require.Equal(t, want, res.Ranker)
				for _, h := range res.Data {
					require.True(t, h.Score >= 0 && h.Score <= 1, "score %v", h.Score)
					require.True(t, strings.HasPrefix(h.ChunkID, "chk_"))
					require.Less(t, h.Start, h.End)
					require.NotEmpty(t, h.Text)
				}
			}
		}
		res := search(apitype.SearchCorpusRequest{Query: "xylophone", Ranker: "bm25"})
		require.Empty(t, res.Data, "a page's script is not its visible text")
		high := 0.999
		res = search(apitype.SearchCorpusRequest{Query: "falcon", Ranker: "bm25", ScoreThreshold: &high})
		require.Empty(t, res.Data)
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/search", apitype.SearchCorpusRequest{Query: "x", MaxNumResults: 51}), 400, "invalid_request")
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/search", apitype.SearchCorpusRequest{Query: "x", Ranker: "magic"}), 400, "invalid_request")
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/search", apitype.SearchCorpusRequest{Query: ""}), 400, "invalid_request")
	})

	t.Run("a streamed query retrieves before the model call", func(t *testing.T) {
		st := srv.stream(t, a, apitype.QueryRequest{Prompt: "@sources\nHow fast does the peregrine falcon dive?", CorpusID: corp.ID})
		evs := st.Rest()
		require.Equal(t, "session", runtimeType(evs[0]))
		rag := slices.IndexFunc(evs, isRuntime("rag_results"))
		text := slices.IndexFunc(evs, func(ev eventstream.Event) bool { return ev.Name == "" })
		require.Positive(t, rag)
		require.Greater(t, text, rag, "rag_results comes before the first text")
		re := decodeRuntime(t, evs[rag])
		require.Equal(t, corp.ID, re.CorpusID)
		require.NotEmpty(t, re.Results)
		require.Equal(t, "falcons.md", re.Results[0].Path)
		require.Equal(t, md.ID, re.Results[0].FileID)

		done := decodeDone(t, evs[len(evs)-1])
		require.True(t, strings.HasPrefix(done.Content, "sources: falcons.md"), done.Content)
		require.Len(t, done.RAGResults, len(re.Results))
		for i, r := range done.RAGResults {
			require.Equal(t, "prefetch", r.Source)
			require.Equal(t, corp.ID, r.CorpusID)
			require.Equal(t, re.Results[i].ChunkID, r.ChunkID)
			require.NotEmpty(t, r.Text)
		}
		require.Contains(t, done.RAGResults[0].Text, "peregrine")

		// Without a corpus, the mock says so.
		require.Equal(t, "sources: none", srv.query(t, a, apitype.QueryRequest{Prompt: "@sources\nfalcons"}).Content)
	})

	t.Run("a session's corpora and the search_corpus tool", func(t *testing.T) {
		requireAPIError(t, post("/api/v1/sessions", apitype.CreateSessionRequest{CorpusIDs: []string{"corp_nope"}}), 404, "not_found")
		sess := created[apitype.Session](t, post("/api/v1/sessions", apitype.CreateSessionRequest{CorpusIDs: []string{corp.ID}}), 201)
		require.Equal(t, []string{corp.ID}, sess.CorpusIDs)
		res := srv.query(t, a, apitype.QueryRequest{SessionID: sess.ID,
			Prompt: `@tool search_corpus {"query":"quarterly revenue","max_num_results":2}`})
		require.Len(t, res.ToolResults, 1)
		require.False(t, res.ToolResults[0].IsError, res.ToolResults[0].Content)
		require.Contains(t, res.ToolResults[0].Content, "[1] report.pdf")
		require.Contains(t, res.Content, "tool search_corpus returned:")
		var tool []apitype.RAGResult
		for _, r := range res.RAGResults {
			if r.Source == "tool" {
				tool = append(tool, r)
			}
		}
		require.NotEmpty(t, tool)
		require.LessOrEqual(t, len(tool), 2)
		require.Equal(t, "report.pdf", tool[0].Path)
		requireAPIError(t, post("/api/v1/query", apitype.QueryRequest{Prompt: "hi", CorpusID: "corp_nope"}), 404, "not_found")
	})

	t.Run("remove, retry, reindex, cancel, delete", func(t *testing.T) {
		require.Equal(t, 204, srv.call(t, http.MethodDelete, "/api/v1/corpora/"+corp.ID+"/files/"+md.ID, a, nil).Status)
		res := search(apitype.SearchCorpusRequest{Query: "peregrine falcon", Ranker: "bm25"})
		for _, h := range res.Data {
			require.NotEqual(t, md.ID, h.FileID, "a removed file's chunks leave search at once")
		}
		requireAPIError(t, srv.get(t, "/api/v1/corpora/"+corp.ID+"/files/"+md.ID, a), 404, "not_found")
		requireAPIError(t, post("/api/v1/corpora/"+corp.ID+"/files/"+pdf.ID+"/retry", nil), 409, "conflict")

		retry := created[apitype.IngestJob](t, post("/api/v1/corpora/"+corp.ID+"/files/"+bad.ID+"/retry", nil), 202)
		require.Len(t, retry.Files, 1)
		files, _ := srv.waitIngested(t, a, corp.ID)
		require.Equal(t, "failed", files[bad.ID].Status, "a bad file fails again, alone")
		cancelled := created[apitype.IngestJob](t, post("/api/v1/corpora/"+corp.ID+"/jobs/"+retry.ID+"/cancel", nil), 200)
		require.Equal(t, "failed", cancelled.Status, "a finished job stays as it ended")

		re := created[apitype.IngestJob](t, post("/api/v1/corpora/"+corp.ID+"/reindex", nil), 202)
		require.Len(t, re.Files, 6)
		srv.waitIngested(t, a, corp.ID)
		require.Equal(t, "report.pdf", search(apitype.SearchCorpusRequest{Query: "quarterly revenue"}).Data[0].Path)

		require.Equal(t, 204, srv.call(t, http.MethodDelete, "/api/v1/corpora/"+corp.ID, a, nil).Status)
		requireAPIError(t, srv.get(t, "/api/v1/corpora/"+corp.ID, a), 404, "not_found")
		require.Equal(t, 200, srv.get(t, "/api/v1/files/"+pdf.ID, a).Status, "the files stay")
	})
}

// TestKnowledgeTenancy checks that a corpus is its workspace's: viewers
// search, editors change, and everyone else gets 404 wherever they name it.
func TestKnowledgeTenancy(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_SSE_KEEPALIVE": "100ms"})
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")
	carol := srv.register(t, "carol@example.com", "password1")
	a, b, c := alice.Token, bob.Token, carol.Token

	ws := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", a, apitype.CreateWorkspaceRequest{Name: "Shared"}), 201).ID
	created[apitype.Member](t, srv.call(t, "POST", "/api/v1/workspaces/"+ws+"/members", a, apitype.AddMemberRequest{UserID: bob.User.ID, Role: "viewer"}), 201)

	f := srv.uploadFile(t, a, "falcons.md", "", []byte(falconText), map[string]string{"workspace_id": ws})
	corp := created[apitype.Corpus](t, srv.call(t, "POST", "/api/v1/corpora", a, apitype.CreateCorpusRequest{Name: "Birds", WorkspaceID: ws}), 201)
	created[apitype.IngestJob](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/files", a, apitype.AddCorpusFilesRequest{FileIDs: []string{f.ID}}), 202)
	srv.waitIngested(t, a, corp.ID)
	q := apitype.SearchCorpusRequest{Query: "peregrine"}

	// bob, a viewer: reads and searches, changes nothing.
	require.Equal(t, 200, srv.get(t, "/api/v1/corpora/"+corp.ID, b).Status)
	require.NotEmpty(t, created[apitype.SearchCorpusResponse](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/search", b, q), 200).Data)
	requireAPIError(t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/reindex", b, nil), 403, "forbidden")
	requireAPIError(t, srv.call(t, "DELETE", "/api/v1/corpora/"+corp.ID, b, nil), 403, "forbidden")
	requireAPIError(t, srv.call(t, "POST", "/api/v1/corpora", b, apitype.CreateCorpusRequest{Name: "x", WorkspaceID: ws}), 403, "forbidden")

	// carol, a stranger: 404 everywhere.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/corpora/" + corp.ID},
		{"PATCH", "/api/v1/corpora/" + corp.ID},
		{"DELETE", "/api/v1/corpora/" + corp.ID},
		{"GET", "/api/v1/corpora/" + corp.ID + "/files"},
		{"GET", "/api/v1/corpora/" + corp.ID + "/jobs"},
		{"GET", "/api/v1/corpora/" + corp.ID + "/events"},
		{"POST", "/api/v1/corpora/" + corp.ID + "/search"},
		{"POST", "/api/v1/corpora/" + corp.ID + "/reindex"},
	} {
		var body any
		switch r.method {
		case "PATCH":
			body = apitype.UpdateCorpusRequest{Name: new("mine")}
		case "POST":
			body = q
		}
		if r.path == "/api/v1/corpora/"+corp.ID+"/reindex" {
			body = nil
		}
		requireAPIError(t, srv.call(t, r.method, r.path, c, body), 404, "not_found")
	}
	list := created[apitype.CorpusList](t, srv.get(t, "/api/v1/corpora", c), 200)
	require.Empty(t, list.Data)
	requireAPIError(t, srv.get(t, "/api/v1/corpora?workspace_id="+ws, c), 404, "not_found")
	requireAPIError(t, srv.call(t, "POST", "/api/v1/query", c, apitype.QueryRequest{Prompt: "@sources\nfalcon", CorpusID: corp.ID}), 404, "not_found")
	requireAPIError(t, srv.call(t, "POST", "/api/v1/sessions", c, apitype.CreateSessionRequest{CorpusIDs: []string{corp.ID}}), 404, "not_found")
	resp := srv.do(t, request{Method: "POST", Path: "/api/v1/query/stream", Token: c, Body: apitype.QueryRequest{Prompt: "x", CorpusID: corp.ID}})
	requireAPIError(t, resp, 404, "not_found")

	// carol's own corpus may not take alice's file.
	mine := created[apitype.Corpus](t, srv.call(t, "POST", "/api/v1/corpora", c, apitype.CreateCorpusRequest{Name: "Mine"}), 201)
	requireAPIError(t, srv.call(t, "POST", "/api/v1/corpora/"+mine.ID+"/files", c, apitype.AddCorpusFilesRequest{FileIDs: []string{f.ID}}), 404, "not_found")
	// A corpus of another workspace of the caller does not serve a turn
	// of this one.
	requireAPIError(t, srv.call(t, "POST", "/api/v1/query", a, apitype.QueryRequest{Prompt: "x", CorpusID: corp.ID}), 404, "not_found")
	res := srv.query(t, a, apitype.QueryRequest{Prompt: "@sources\nperegrine falcon", CorpusID: corp.ID, WorkspaceID: ws})
	require.Equal(t, "sources: falcons.md", res.Content)
}

// embeddingsUpstream is an OpenAI-compatible /v1/embeddings server whose
// vectors are the builtin embedder's, so that ranking works. While block
// is set, requests other than the dimension probe hang until the client
// goes, as a stuck upstream would.
type embeddingsUpstream struct {
	*httptest.Server
	block atomic.Bool
	calls atomic.Int64
}

func newEmbeddingsUpstream(t testing.TB) *embeddingsUpstream {
	u := &embeddingsUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if req.URL.Path != "/v1/embeddings" || req.Header.Get("Authorization") != "Bearer sk-embed" ||
			json.NewDecoder(req.Body).Decode(&body) != nil {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		u.calls.Add(1)
		if u.block.Load() && !slices.Equal(body.Input, []string{"dimension probe"}) {
			<-req.Context().Done()
			return
		}
		vecs, _ := knowledge.Builtin{}.Embed(req.Context(), body.Input)
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: body.Model}
		for i, v := range vecs {
			out.Data = append(out.Data, item{"embedding", i, v})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(u.Close)
	return u
}

// TestKnowledgeSettings sets the embedder and the storage settings: a
// changed embedder marks corpora needs_reindex and search says so instead
// of mixing vectors; a reindex brings hybrid search back.
func TestKnowledgeSettings(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_SSE_KEEPALIVE": "100ms"})
	admin := srv.register(t, "admin@example.com", "password1").Token
	member := srv.register(t, "member@example.com", "password1").Token
	up := newEmbeddingsUpstream(t)

	e := created[apitype.EmbedderSettings](t, srv.get(t, "/api/v1/settings/embedder", member), 200)
	require.Equal(t, "builtin", e.Provider)
	require.Equal(t, 256, e.Dimensions)
	require.Equal(t, "ok", e.Status)
	builtinPrint := e.Fingerprint

	f := srv.uploadFile(t, admin, "falcons.md", "", []byte(falconText), nil)
	corp := created[apitype.Corpus](t, srv.call(t, "POST", "/api/v1/corpora", admin, apitype.CreateCorpusRequest{Name: "Birds"}), 201)
	created[apitype.IngestJob](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/files", admin, apitype.AddCorpusFilesRequest{FileIDs: []string{f.ID}}), 202)
	srv.waitIngested(t, admin, corp.ID)

	base := up.URL + "/v1"
	put := apitype.EmbedderSettingsRequest{Provider: "openai", BaseURL: &base, APIKey: new("sk-embed"), Model: new("test-embed")}
	requireAPIError(t, srv.call(t, "PUT", "/api/v1/settings/embedder", member, put), 403, "forbidden")
	e = created[apitype.EmbedderSettings](t, srv.call(t, "PUT", "/api/v1/settings/embedder", admin, put), 200)
	require.Equal(t, "openai", e.Provider)
	require.Equal(t, 256, e.Dimensions, "the dimension is probed")
	require.True(t, e.APIKeySet)
	require.Equal(t, "ok", e.Status)
	require.NotEqual(t, builtinPrint, e.Fingerprint)
	got := srv.get(t, "/api/v1/settings/embedder", admin)
	require.NotContains(t, string(got.Body), "sk-embed")
	other := "https://embeddings.example.com/v1"
	requireAPIError(t, srv.call(t, "PUT", "/api/v1/settings/embedder", admin, apitype.EmbedderSettingsRequest{Provider: "openai", BaseURL: &other}), 400, "secret_required")
	test := created[apitype.EmbedderTestResult](t, srv.call(t, "POST", "/api/v1/settings/embedder/test", admin, nil), 200)
	require.True(t, test.OK, test.Error)
	require.Equal(t, 256, test.Dimensions)

	c := created[apitype.Corpus](t, srv.get(t, "/api/v1/corpora/"+corp.ID, admin), 200)
	require.Equal(t, "needs_reindex", c.Status)
	res := created[apitype.SearchCorpusResponse](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/search", admin, apitype.SearchCorpusRequest{Query: "peregrine falcon"}), 200)
	require.Equal(t, "bm25", res.Ranker)
	require.Equal(t, []string{"embedder_mismatch"}, res.Warnings)
	require.Equal(t, "falcons.md", res.Data[0].Path, "lexical search still answers")

	created[apitype.IngestJob](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/reindex", admin, nil), 202)
	srv.waitIngested(t, admin, corp.ID)
	c = created[apitype.Corpus](t, srv.get(t, "/api/v1/corpora/"+corp.ID, admin), 200)
	require.Equal(t, "completed", c.Status)
	require.Equal(t, e.Fingerprint, c.Embedder.Fingerprint)
	res = created[apitype.SearchCorpusResponse](t, srv.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/search", admin, apitype.SearchCorpusRequest{Query: "peregrine falcon"}), 200)
	require.Equal(t, "hybrid", res.Ranker)
	require.Empty(t, res.Warnings)
	require.Positive(t, up.calls.Load())

	// Storage: real usage; retention and limits kept in the store.
	requireAPIError(t, srv.get(t, "/api/v1/settings/storage", member), 403, "forbidden")
	st := created[apitype.StorageSettings](t, srv.get(t, "/api/v1/settings/storage", admin), 200)
	require.Positive(t, st.Usage.DBBytes)
	require.Positive(t, st.Usage.BlobBytes)
	require.Positive(t, st.Usage.IndexBytes)
	require.Equal(t, 1, st.Usage.Files)
	require.Equal(t, c.ChunkCount, st.Usage.Chunks)
	require.Equal(t, int64(50<<20), st.Limits.MaxUploadBytes)
	require.Equal(t, 100, st.Retention.JobRuns)
	st = created[apitype.StorageSettings](t, srv.call(t, "PATCH", "/api/v1/settings/storage", admin, apitype.StorageSettingsRequest{
		Retention: &apitype.StorageRetentionRequest{Audit: new("720h"), JobRuns: new(10)},
		Limits:    &apitype.StorageLimitsRequest{MaxUploadBytes: new(int64(1 << 20))},
	}), 200)
	require.Equal(t, "720h0m0s", st.Retention.Audit)
	require.Equal(t, 10, st.Retention.JobRuns)
	require.Equal(t, int64(1<<20), st.Limits.MaxUploadBytes)
	requireAPIError(t, srv.call(t, "PATCH", "/api/v1/settings/storage", admin, apitype.StorageSettingsRequest{Retention: &apitype.StorageRetentionRequest{Audit: new("soon")}}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "PATCH", "/api/v1/settings/storage", admin, apitype.StorageSettingsRequest{Limits: &apitype.StorageLimitsRequest{MaxUploadBytes: new(int64(0))}}), 400, "invalid_request")

	// The stored limits win over the environment's at the next start.
	require.NoError(t, srv.Stop())
	srv = startServer(t, srv.DataDir, map[string]string{"SESHAT_SSE_KEEPALIVE": "100ms"})
	requireAPIError(t, srv.upload(t, admin, "big.txt", "text/plain", bytes.Repeat([]byte("x"), 1<<20+1), nil), 413, "body_too_large")
	e = created[apitype.EmbedderSettings](t, srv.get(t, "/api/v1/settings/embedder", admin), 200)
	require.Equal(t, "openai", e.Provider, "the embedder setting survives a restart")
}

// waitStage polls until a corpus file reaches stage.
func (s *testServer) waitStage(t testing.TB, token, corpusID, fileID, stage string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp := s.get(t, "/api/v1/corpora/"+corpusID+"/files/"+fileID, token)
		var f apitype.CorpusFile
		return resp.Status == 200 && json.Unmarshal(resp.Body, &f) == nil && f.Stage == stage
	}, 30*time.Second, 20*time.Millisecond)
}

// TestKnowledgeIngestionSurvivesKill kills the server (SIGKILL) while
// files are being ingested: after the restart none is left in progress. A
// file resumes; one that was cut by every run it was resumed in fails
// with "interrupted" instead of stopping every start.
func TestKnowledgeIngestionSurvivesKill(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	up := newEmbeddingsUpstream(t)
	s, cmd := startProcess(t, bin, dir)
	tok := s.register(t, "kill@example.com", "password123").Token
	base := up.URL + "/v1"
	created[apitype.EmbedderSettings](t, s.call(t, "PUT", "/api/v1/settings/embedder", tok,
		apitype.EmbedderSettingsRequest{Provider: "openai", BaseURL: &base, APIKey: new("sk-embed"), Model: new("test-embed")}), 200)
	corp := created[apitype.Corpus](t, s.call(t, "POST", "/api/v1/corpora", tok, apitype.CreateCorpusRequest{Name: "Birds"}), 201)
	add := func(s *testServer, name, text string) string {
		f := s.uploadFile(t, tok, name, "", []byte(text), nil)
		created[apitype.IngestJob](t, s.call(t, "POST", "/api/v1/corpora/"+corp.ID+"/files", tok, apitype.AddCorpusFilesRequest{FileIDs: []string{f.ID}}), 202)
		return f.ID
	}

	// A file cut while it is embedded resumes after the restart.
	up.block.Store(true)
	resumed := add(s, "falcons.md", falconText)
	s.waitStage(t, tok, corp.ID, resumed, "embedding")
	kill(t, cmd)
	up.block.Store(false)
	s, cmd = startProcess(t, bin, dir)
	files, _ := s.waitIngested(t, tok, corp.ID)
	require.Equal(t, "completed", files[resumed].Status, "%+v", files[resumed].LastError)

	// A file cut in every run fails with interrupted once it was resumed
	// the allowed number of times.
	up.block.Store(true)
	stuck := add(s, "owls.md", "# Owls\n\nThe barn owl hunts by sound alone.\n")
	s.waitStage(t, tok, corp.ID, stuck, "embedding")
	kill(t, cmd)
	s, cmd = startProcess(t, bin, dir)
	s.waitStage(t, tok, corp.ID, stuck, "embedding")
	kill(t, cmd)
	s, cmd = startProcess(t, bin, dir)
	defer kill(t, cmd)
	files = s.corpusFiles(t, tok, corp.ID)
	require.Equal(t, "failed", files[stuck].Status)
	require.Equal(t, "interrupted", files[stuck].LastError.Code)
	require.Equal(t, "completed", files[resumed].Status)
	c := created[apitype.Corpus](t, s.get(t, "/api/v1/corpora/"+corp.ID, tok), 200)
	require.Equal(t, 0, c.FileCounts.InProgress, "no file is left in progress after a start-up")
	require.Equal(t, apitype.FileCounts{Completed: 1, Failed: 1, Total: 2}, c.FileCounts)
}
