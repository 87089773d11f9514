package knowledge_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/actors/knowledge/knowledgetest"
	"github.com/seshat-host/seshat/persist"
)

// roles authorizes by the store's workspace roles.
type roles struct{ s *persist.Store }

func (r roles) AuthorizeWorkspace(userID, wsID, need string) error {
	_, err := r.s.AuthorizeWorkspace(userID, wsID, need)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("workspace %q: %w", wsID, agent.ErrNotFound)
	case errors.Is(err, persist.ErrForbidden):
		return fmt.Errorf("%w: %v", agent.ErrForbidden, err)
	}
	return err
}

func (r roles) DefaultWorkspace(userID string) (string, error) {
	return r.s.DefaultWorkspaceFor(userID)
}

func (r roles) Workspaces(userID string) ([]string, error) {
	list, err := r.s.ReachableWorkspaces(userID)
	out := make([]string, len(list))
	for i, w := range list {
		out[i] = w.ID
	}
	return out, err
}

type rig struct {
	t     *testing.T
	store *persist.Store
	svc   *knowledge.Service
	dir   string
	user  persist.User
}

func openStore(t *testing.T, dir string) *persist.Store {
	s, err := persist.Open(persist.Config{Dir: dir, NoSync: true, MasterKey: bytes.Repeat([]byte{7}, persist.MasterKeyBytes)})
	require.NoError(t, err)
	return s
}

func newRig(t *testing.T) *rig {
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		// protoactor's dead-letter throttle ends its goroutine one period after
		// the last dead letter; it belongs to the actor system, not the test.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, store: openStore(t, dir)}
	u, err := r.store.CreateUser(t.Context(), persist.User{Email: "a@example.com", Name: "A"}, persist.Workspace{Name: "Personal"})
	require.NoError(t, err)
	r.user = u
	r.start()
	t.Cleanup(func() {
		require.NoError(t, r.svc.Close())
		require.NoError(t, r.store.Check())
		require.NoError(t, r.store.Close())
	})
	return r
}

func (r *rig) start() {
	svc, err := knowledge.New(knowledge.Config{Store: r.store, Authorizer: roles{r.store}, IndexDir: filepath.Join(r.dir, "knowledge"),
		Idle: 200 * time.Millisecond})
	require.NoError(r.t, err)
	require.NoError(r.t, svc.Start(r.t.Context()))
	r.svc = svc
}

func (r *rig) file(path, ctype string, data []byte) persist.File {
	f, err := r.store.PutFile(r.t.Context(), persist.File{WorkspaceID: r.user.DefaultWorkspaceID, Path: path, ContentType: ctype, CreatedBy: r.user.ID},
		bytes.NewReader(data), 0)
	require.NoError(r.t, err)
	return f
}

func (r *rig) waitJob(corpusID, jobID string) persist.IngestJob {
	var j persist.IngestJob
	require.Eventually(r.t, func() bool {
		var err error
		j, err = r.svc.Job(r.t.Context(), r.user.ID, corpusID, jobID)
		require.NoError(r.t, err)
		return j.Status != persist.IngestQueued && j.Status != persist.IngestInProgress
	}, 20*time.Second, 10*time.Millisecond)
	return j
}

func TestIngestAndSearchEveryKind(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	c, err := r.svc.CreateCorpus(ctx, r.user.ID, knowledge.NewCorpus{Name: "docs"})
	require.NoError(t, err)
	require.Equal(t, knowledge.CorpusEmpty, c.Status)

	sub, err := r.svc.Subscribe(ctx, r.user.ID, c.ID, 0)
	require.NoError(t, err)
	defer sub.Close()

	files := []persist.File{
		r.file("notes/otters.md", "text/plain", []byte("# Otters\n\nSea otters hold hands while sleeping so they do not drift apart.\n")),
		r.file("web/falcon.html", "text/html", []byte("<h1>Falcons</h1><p>The peregrine falcon is the fastest bird, diving at 390 km/h.</p>")),
		r.file("reports/q3.pdf", "application/pdf", knowledgetest.PDF("Quarterly report", "Revenue from glaciers tourism doubled in the third quarter.")),
		r.file("spec/lighthouse.docx", "application/zip", knowledgetest.DOCX("# Lighthouse", "The lighthouse keeper logs every passing ship in a ledger.")),
		r.file("data/rows.csv", "text/csv", []byte("city,river\nCairo,Nile\nVienna,Danube\n")),
		r.file("images/x.png", "image/png", []byte("\x89PNG\r\n\x1a\n")),
		r.file("broken.pdf", "application/pdf", []byte("%PDF-1.4 broken")),
	}
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.ID
	}
	job, err := r.svc.AddFiles(ctx, r.user.ID, c.ID, ids)
	require.NoError(t, err)
	job = r.waitJob(c.ID, job.ID)
	require.Equal(t, persist.IngestCompleted, job.Status)
	require.Equal(t, persist.FileCounts{Completed: 5, Failed: 2, Total: 7}, job.Counts())
	outcome := map[string]persist.JobFile{}
	for _, f := range job.Files {
		outcome[f.FileID] = f
	}
	require.Equal(t, knowledge.CodeUnsupportedType, outcome[files[5].ID].LastError.Code)
	require.Equal(t, knowledge.CodeExtractionFailed, outcome[files[6].ID].LastError.Code)

	cv, err := r.svc.Corpus(ctx, r.user.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestCompleted, cv.Status)
	require.Equal(t, persist.FileCounts{Completed: 5, Failed: 2, Total: 7}, cv.FileCounts)

	for _, tc := range []struct{ q, path string }{
		{"otters sleeping holding hands", "notes/otters.md"},
		{"fastest bird diving", "web/falcon.html"},
		{"glaciers tourism revenue", "reports/q3.pdf"},
		{"lighthouse keeper ledger ships", "spec/lighthouse.docx"},
		{"Danube", "data/rows.csv"},
	} {
		for _, ranker := range []string{"bm25", "vector", "hybrid", "auto"} {
			res, err := r.svc.Search(ctx, r.user.ID, c.ID, knowledge.SearchRequest{Query: tc.q, Ranker: ranker})
			require.NoError(t, err)
			require.NotEmpty(t, res.Hits, "%s %s", ranker, tc.q)
			require.Equal(t, tc.path, res.Hits[0].Path, "%s %q", ranker, tc.q)
			require.Empty(t, res.Warnings)
			h := res.Hits[0]
			require.Greater(t, h.Score, 0.0)
			require.LessOrEqual(t, h.Score, 1.0)
			require.NotEmpty(t, h.Text)
		}
	}

	// Events: every file went through to its outcome, numbered from 1.
	var last uint64
	done := map[string]string{}
	timeout := time.After(5 * time.Second)
	for len(done) < len(files) {
		var ev knowledge.Event
		select {
		case ev = <-sub.C:
		case <-timeout:
			t.Fatalf("events so far: %v", done)
		}
		require.Equal(t, last+1, ev.ID)
		last = ev.ID
		var fe knowledge.FileEvent
		require.NoError(t, json.Unmarshal(ev.Data, &fe))
		if fe.Status != persist.IngestInProgress {
			done[fe.FileID] = fe.Status
		}
	}

	// Removing a file takes its chunks out of search at once.
	require.NoError(t, r.svc.RemoveFile(ctx, r.user.ID, c.ID, files[0].ID))
	res, err := r.svc.Search(ctx, r.user.ID, c.ID, knowledge.SearchRequest{Query: "otters", Ranker: "bm25"})
	require.NoError(t, err)
	for _, h := range res.Hits {
		require.NotEqual(t, "notes/otters.md", h.Path)
	}

	// Another user sees nothing of it.
	other, err := r.store.CreateUser(ctx, persist.User{Email: "b@example.com", Name: "B"}, persist.Workspace{Name: "Personal"})
	require.NoError(t, err)
	_, err = r.svc.Search(ctx, other.ID, c.ID, knowledge.SearchRequest{Query: "falcon"})
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = r.svc.AddFiles(ctx, r.user.ID, c.ID, []string{"file_doesnotexist"})
	require.ErrorIs(t, err, agent.ErrNotFound)

	// The index is rebuilt from the store when it is gone.
	require.NoError(t, r.svc.Close())
	require.NoError(t, removeDir(filepath.Join(r.dir, "knowledge")))
	r.start()
	res, err = r.svc.Search(ctx, r.user.ID, c.ID, knowledge.SearchRequest{Query: "fastest bird", Ranker: "hybrid"})
	require.NoError(t, err)
	require.Equal(t, "web/falcon.html", res.Hits[0].Path)
}

func TestRestartResumesOrFailsInterruptedFiles(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	c, err := r.svc.CreateCorpus(ctx, r.user.ID, knowledge.NewCorpus{Name: "docs"})
	require.NoError(t, err)
	f := r.file("a.txt", "text/plain", []byte("alpha beta gamma"))
	g := r.file("b.txt", "text/plain", []byte("delta epsilon"))
	// As a crash leaves them: in progress, one of them already resumed
	// twice.
	require.NoError(t, r.svc.Close())
	job, err := r.store.StartIngestJob(ctx, persist.IngestJob{ID: agent.NewID("ing"), CorpusID: c.ID},
		[]persist.CorpusFile{{FileID: f.ID, Path: f.Path}, {FileID: g.ID, Path: g.Path}})
	require.NoError(t, err)
	for range 2 {
		_, ok, err := r.store.SetCorpusFileStage(ctx, c.ID, g.ID, job.ID, persist.StageExtracting)
		require.NoError(t, err)
		require.True(t, ok)
	}
	r.start()
	job = r.waitJob(c.ID, job.ID)
	left, err := r.store.InProgressCorpusFiles()
	require.NoError(t, err)
	require.Empty(t, left)
	cf, err := r.svc.File(ctx, r.user.ID, c.ID, f.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestCompleted, cf.Status)
	cg, err := r.svc.File(ctx, r.user.ID, c.ID, g.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestFailed, cg.Status)
	require.Equal(t, knowledge.CodeInterrupted, cg.LastError.Code)

	// A failed file can be retried.
	j2, err := r.svc.RetryFile(ctx, r.user.ID, c.ID, g.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestCompleted, r.waitJob(c.ID, j2.ID).Status)
	_, err = r.svc.RetryFile(ctx, r.user.ID, c.ID, g.ID)
	require.ErrorIs(t, err, agent.ErrConflict)
}

// openAIEmbeddings is an OpenAI-compatible /v1/embeddings server whose
// vectors are the builtin embedder's, so that ranking works.
func openAIEmbeddings(t *testing.T, fail *int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		require.Equal(t, "/v1/embeddings", req.URL.Path)
		require.Equal(t, "Bearer sk-test", req.Header.Get("Authorization"))
		if fail != nil && *fail > 0 {
			*fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"secret upstream detail"}}`)
			return
		}
		var body struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		require.NoError(t, json.NewDecoder(req.Body).Decode(&body))
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
	t.Cleanup(srv.Close)
	return srv
}

func TestEmbedderChangeMarksNeedsReindexAndWarns(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	c, err := r.svc.CreateCorpus(ctx, r.user.ID, knowledge.NewCorpus{Name: "docs"})
	require.NoError(t, err)
	f := r.file("a.md", "text/markdown", []byte("The quick brown fox jumps over the lazy dog."))
	job, err := r.svc.AddFiles(ctx, r.user.ID, c.ID, []string{f.ID})
	require.NoError(t, err)
	r.waitJob(c.ID, job.ID)

	fails := 1
	srv := openAIEmbeddings(t, &fails)
	base, key, model := srv.URL+"/v1", "sk-test", "test-embed"
	info, err := r.svc.SetEmbedder(ctx, knowledge.EmbedderUpdate{Provider: "openai", BaseURL: &base, APIKey: &key, Model: &model})
	require.NoError(t, err)
	require.Equal(t, knowledge.EmbedderOK, info.Status, info.LastError)
	require.Equal(t, knowledge.BuiltinDimensions, info.Dimensions, "the dimension is probed")
	require.True(t, info.APIKeySet)

	cv, err := r.svc.Corpus(ctx, r.user.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, knowledge.CorpusNeedsReindex, cv.Status)
	res, err := r.svc.Search(ctx, r.user.ID, c.ID, knowledge.SearchRequest{Query: "brown fox"})
	require.NoError(t, err)
	require.Equal(t, "bm25", res.Ranker)
	require.Equal(t, []string{knowledge.WarnEmbedderMismatch}, res.Warnings)
	require.NotEmpty(t, res.Hits)

	// Moving the key elsewhere needs it again.
	other := "https://example.invalid/v1"
	_, err = r.svc.SetEmbedder(ctx, knowledge.EmbedderUpdate{Provider: "openai", BaseURL: &other})
	require.ErrorIs(t, err, knowledge.ErrSecretRequired)

	job, err = r.svc.Reindex(ctx, r.user.ID, c.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestCompleted, r.waitJob(c.ID, job.ID).Status)
	res, err = r.svc.Search(ctx, r.user.ID, c.ID, knowledge.SearchRequest{Query: "brown fox"})
	require.NoError(t, err)
	require.Equal(t, "hybrid", res.Ranker)
	require.Empty(t, res.Warnings)
	require.Equal(t, "a.md", res.Hits[0].Path)
}

func TestFencedClientRefusesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	e, err := knowledge.NewOpenAI(knowledge.OpenAIConfig{BaseURL: srv.URL, Model: "m", Client: egress.NewClient(egress.Policy{Timeout: 5 * time.Second}), Retries: -1})
	require.NoError(t, err)
	_, err = e.Embed(t.Context(), []string{"x"})
	require.ErrorIs(t, err, egress.ErrBlocked)
	require.False(t, strings.Contains(err.Error(), "secret"))
}
