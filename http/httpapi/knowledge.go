package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/sse"
	"github.com/seshat-host/seshat/persist"
)

// Corpora is what the knowledge routes need of the knowledge family:
// corpora, their files, ingestion jobs, events and search. Every method
// checks the user's role in the corpus's workspace (a corpus of a
// workspace they have no role in is not found). *knowledge.Service
// implements it.
type Corpora interface {
	CreateCorpus(ctx context.Context, userID string, nc knowledge.NewCorpus) (knowledge.CorpusView, error)
	ListCorpora(ctx context.Context, userID, workspaceID string, limit int, cursor string) ([]knowledge.CorpusView, string, error)
	Corpus(ctx context.Context, userID, id string) (knowledge.CorpusView, error)
	UpdateCorpus(ctx context.Context, userID, id string, name, description *string) (knowledge.CorpusView, error)
	DeleteCorpus(ctx context.Context, userID, id string) error
	AddFiles(ctx context.Context, userID, corpusID string, fileIDs []string) (persist.IngestJob, error)
	Files(ctx context.Context, userID, corpusID string) ([]persist.CorpusFile, error)
	File(ctx context.Context, userID, corpusID, fileID string) (persist.CorpusFile, error)
	RemoveFile(ctx context.Context, userID, corpusID, fileID string) error
	RetryFile(ctx context.Context, userID, corpusID, fileID string) (persist.IngestJob, error)
	Reindex(ctx context.Context, userID, corpusID string) (persist.IngestJob, error)
	Jobs(ctx context.Context, userID, corpusID string) ([]persist.IngestJob, error)
	Job(ctx context.Context, userID, corpusID, jobID string) (persist.IngestJob, error)
	CancelJob(ctx context.Context, userID, corpusID, jobID string) (persist.IngestJob, error)
	// Subscribe follows a corpus's file events after the cursor; the
	// caller closes the subscription.
	Subscribe(ctx context.Context, userID, corpusID string, after uint64) (*knowledge.Subscription, error)
	Search(ctx context.Context, userID, corpusID string, req knowledge.SearchRequest) (knowledge.SearchResult, error)
}

// KnowledgeSettings is what the embedder and storage settings routes need.
// Their admin routes are checked by the route table.
type KnowledgeSettings interface {
	EmbedderSetting() (knowledge.EmbedderInfo, error)
	SetEmbedder(ctx context.Context, up knowledge.EmbedderUpdate) (knowledge.EmbedderInfo, error)
	TestEmbedder(ctx context.Context) (knowledge.EmbedderTest, error)
	Storage(ctx context.Context) (knowledge.StorageInfo, error)
	SetStorage(ctx context.Context, up knowledge.StorageUpdate) (knowledge.StorageInfo, error)
}

// Knowledge is the knowledge family as the handlers see it.
type Knowledge interface {
	Corpora
	KnowledgeSettings
}

// knowledgeFamily returns the family, or a 503 when the server runs
// without it.
func (s *Server) knowledgeFamily() (Knowledge, error) {
	if s.deps.Knowledge == nil {
		return nil, &Error{Status: fasthttp.StatusServiceUnavailable, Code: CodeOverloaded, Msg: "corpora are not configured"}
	}
	return s.deps.Knowledge, nil
}

// POST /api/v1/corpora → 201 corpus.
func (s *Server) createCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.CreateCorpusRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	nc := knowledge.NewCorpus{Name: req.Name, Description: req.Description, WorkspaceID: req.WorkspaceID}
	if cs := req.ChunkingStrategy; cs != nil {
		nc.MaxChunkTokens, nc.OverlapTokens = cs.MaxChunkSizeTokens, cs.ChunkOverlapTokens
	}
	c, err := k.CreateCorpus(s.opCtx, principal(ctx).UserID, nc)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(c.ID, c.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, corpusOf(c))
}

// GET /api/v1/corpora?workspace_id=&limit=&cursor= → 200 {data, next_cursor}.
func (s *Server) listCorpora(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	limit := 0
	if l := string(args.Peek("limit")); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 100 {
			return invalid("limit must be a number from 1 to 100")
		}
	}
	list, next, err := k.ListCorpora(s.opCtx, principal(ctx).UserID, string(args.Peek("workspace_id")), limit, string(args.Peek("cursor")))
	if err != nil {
		return err
	}
	out := apitype.CorpusList{Data: make([]apitype.Corpus, len(list)), NextCursor: next}
	for i, c := range list {
		out.Data[i] = corpusOf(c)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/corpora/{id} → 200 corpus.
func (s *Server) getCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	c, err := k.Corpus(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, corpusOf(c))
}

// PATCH /api/v1/corpora/{id} {name?, description?} → 200 corpus.
func (s *Server) updateCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.UpdateCorpusRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	c, err := k.UpdateCorpus(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.Name, req.Description)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(c.ID, c.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusOK, corpusOf(c))
}

// DELETE /api/v1/corpora/{id} → 204: its chunks and index go, the files
// stay.
func (s *Server) deleteCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	if err := k.DeleteCorpus(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// POST /api/v1/corpora/{id}/files {file_ids} → 202 ingestion job.
func (s *Server) addCorpusFiles(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.AddCorpusFilesRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	j, err := k.AddFiles(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), req.FileIDs)
	if err != nil {
		return err
	}
	return s.acceptedJob(ctx, j)
}

// acceptedJob answers 202 with an ingestion job the request started.
func (s *Server) acceptedJob(ctx *fasthttp.RequestCtx, j persist.IngestJob) error {
	noteAudit(ctx).set("ingestion_job_id", j.ID)
	noteAudit(ctx).set("files", strconv.Itoa(len(j.Files)))
	return writeJSON(ctx, fasthttp.StatusAccepted, ingestJobOf(j))
}

// GET /api/v1/corpora/{id}/files → 200 {data: [corpus file]}.
func (s *Server) listCorpusFiles(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	list, err := k.Files(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.CorpusFile, len(list))
	for i, f := range list {
		out[i] = corpusFileOf(f)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/corpora/{id}/files/{file_id} → 200 corpus file.
func (s *Server) getCorpusFile(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	f, err := k.File(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), pathParam(ctx, "file_id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, corpusFileOf(f))
}

// DELETE /api/v1/corpora/{id}/files/{file_id} → 204: its chunks leave
// search at once.
func (s *Server) removeCorpusFile(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	if err := k.RemoveFile(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), pathParam(ctx, "file_id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// POST /api/v1/corpora/{id}/files/{file_id}/retry → 202 ingestion job.
func (s *Server) retryCorpusFile(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	j, err := k.RetryFile(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), pathParam(ctx, "file_id"))
	if err != nil {
		return err
	}
	return s.acceptedJob(ctx, j)
}

// POST /api/v1/corpora/{id}/reindex → 202 ingestion job.
func (s *Server) reindexCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	j, err := k.Reindex(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return s.acceptedJob(ctx, j)
}

// GET /api/v1/corpora/{id}/jobs → 200 {data: [ingestion job]} newest
// first.
func (s *Server) listIngestJobs(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	list, err := k.Jobs(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := make([]apitype.IngestJob, len(list))
	for i, j := range list {
		out[i] = ingestJobOf(j)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/corpora/{id}/jobs/{job_id} → 200 ingestion job.
func (s *Server) getIngestJob(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	j, err := k.Job(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), pathParam(ctx, "job_id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, ingestJobOf(j))
}

// POST /api/v1/corpora/{id}/jobs/{job_id}/cancel → 200 ingestion job.
func (s *Server) cancelIngestJob(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	j, err := k.CancelJob(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), pathParam(ctx, "job_id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, ingestJobOf(j))
}

// POST /api/v1/corpora/{id}/search → 200 {data, ranker, warnings}.
func (s *Server) searchCorpus(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.SearchCorpusRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	res, err := k.Search(s.baseCtx, principal(ctx).UserID, pathParam(ctx, "id"), knowledge.SearchRequest{
		Query: req.Query, MaxResults: req.MaxNumResults, Ranker: req.Ranker, ScoreThreshold: req.ScoreThreshold,
	})
	if err != nil {
		return err
	}
	out := apitype.SearchCorpusResponse{Data: make([]apitype.SearchHit, len(res.Hits)), Ranker: res.Ranker, Warnings: res.Warnings}
	for i, h := range res.Hits {
		out.Data[i] = apitype.SearchHit{ChunkID: h.ChunkID, FileID: h.FileID, Path: h.Path, Score: h.Score, Text: h.Text, Start: h.Start, End: h.End}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// Messages of the `error` event that ends a corpus's event stream.
const msgCorpusGone = "the corpus was deleted"

// GET /api/v1/corpora/{id}/events: numbered `event: corpus` changes after
// Last-Event-ID (or ?after=), then live. The stream follows the corpus
// until the client leaves, the corpus goes (`event: error`), the client
// falls behind (`event: error`; re-attach with Last-Event-ID) or the server
// shuts down. It is written as the turns' streams are: the same writer,
// keepalive, rolling write deadline and open-stream caps.
func (s *Server) corpusEvents(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	after, err := parseCursor(ctx)
	if err != nil {
		return err
	}
	sub, err := k.Subscribe(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"), after)
	if err != nil {
		return err
	}
	setNativeSSEHead(ctx)
	_ = ctx.SetWriteDeadline(time.Time{})
	setDeadline := ctx.Conn().SetWriteDeadline
	done := s.baseCtx.Done()
	log, cfg := s.log, s.cfg.SSE
	ctx.SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer sub.Close()
		defer func() {
			if r := recover(); r != nil {
				log.Error("stream writer panic", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		w := sse.NewWriter(bw, setDeadline, cfg)
		write := func(w *sse.Writer, ev knowledge.Event) error { return w.Event(ev.ID, "corpus", ev.Data) }
		if err := w.Comment("connected"); err != nil {
			return
		}
		if sub.Resync {
			if err := w.Unnumbered("runtime", []byte(`{"type":"resync"}`)); err != nil {
				return
			}
		}
		for _, ev := range sub.Replay {
			if err := write(w, ev); err != nil {
				return
			}
		}
		if err := w.Flush(); err != nil {
			return
		}
		var msg string
		switch err := sse.Pump(done, w, sub.C, write); {
		case err == sse.ErrShutdown:
			msg = msgShuttingDown
		case err != nil:
			return // the client is gone
		case sub.Cut() != "":
			msg = sub.Cut()
		case sub.Gone():
			msg = msgCorpusGone
		default:
			msg = msgStreamDropped
		}
		data, _ := json.Marshal(apitype.StreamError{Error: msg})
		if w.Unnumbered("error", data) == nil {
			_ = w.Flush()
		}
	})
	return nil
}

// GET /api/v1/settings/embedder → 200 settings.
func (s *Server) getEmbedderSettings(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	e, err := k.EmbedderSetting()
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, embedderOf(e))
}

// PUT /api/v1/settings/embedder (admin) → 200 settings. An openai
// embedder's dimension is probed before it is stored.
func (s *Server) putEmbedderSettings(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.EmbedderSettingsRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	if req.APIKey != nil && *req.APIKey == "" {
		req.APIKey = nil // an empty key keeps the stored one
	}
	e, err := k.SetEmbedder(s.baseCtx, knowledge.EmbedderUpdate{
		Provider: req.Provider, BaseURL: req.BaseURL, APIKey: req.APIKey, Model: req.Model,
		Dimensions: req.Dimensions, BatchSize: req.BatchSize,
	})
	if err != nil {
		return err
	}
	noteAudit(ctx).set("provider", e.Provider)
	noteAudit(ctx).set("fingerprint", e.Fingerprint)
	return writeJSON(ctx, fasthttp.StatusOK, embedderOf(e))
}

// POST /api/v1/settings/embedder/test (admin) → 200 {ok, dimensions,
// latency_ms, error}.
func (s *Server) testEmbedder(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	t, err := k.TestEmbedder(s.baseCtx)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.EmbedderTestResult{OK: t.OK, Dimensions: t.Dimensions, LatencyMS: t.Latency.Milliseconds(), Error: t.Error})
}

// GET /api/v1/settings/storage (admin) → 200 {usage, retention, limits}.
func (s *Server) getStorageSettings(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	st, err := k.Storage(s.opCtx)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, storageOf(st))
}

// PATCH /api/v1/settings/storage (admin) {retention?, limits?} → 200.
func (s *Server) updateStorageSettings(ctx *fasthttp.RequestCtx) error {
	k, err := s.knowledgeFamily()
	if err != nil {
		return err
	}
	var req apitype.StorageSettingsRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	var up knowledge.StorageUpdate
	if r := req.Retention; r != nil {
		if r.Audit != nil {
			d, err := time.ParseDuration(*r.Audit)
			if err != nil {
				return invalid(`retention.audit must be a duration such as "2160h" ("0" keeps entries forever)`)
			}
			up.AuditRetention = &d
		}
		up.JobRunHistory = r.JobRuns
	}
	if l := req.Limits; l != nil {
		up.MaxUploadBytes, up.DefaultUserStoredBytes = l.MaxUploadBytes, l.DefaultUserStoredBytes
	}
	st, err := k.SetStorage(s.opCtx, up)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, storageOf(st))
}

func corpusOf(c knowledge.CorpusView) apitype.Corpus {
	fc := c.FileCounts
	return apitype.Corpus{
		ID: c.ID, WorkspaceID: c.WorkspaceID, Name: c.Name, Description: c.Description, Status: c.Status,
		FileCounts: apitype.FileCounts{InProgress: fc.InProgress, Completed: fc.Completed, Failed: fc.Failed, Cancelled: fc.Cancelled, Total: fc.Total},
		ChunkCount: c.ChunkCount, UsageBytes: c.UsageBytes,
		ChunkingStrategy: apitype.ChunkingStrategy{MaxChunkSizeTokens: c.MaxChunkTokens, ChunkOverlapTokens: c.ChunkOverlapTokens},
		Embedder: apitype.EmbedderRef{Provider: c.Embedder.Provider, Model: c.Embedder.Model,
			Dimensions: c.Embedder.Dimensions, Fingerprint: c.Embedder.Fingerprint},
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
}

func ingestErrorOf(e *persist.IngestError) *apitype.IngestError {
	if e == nil {
		return nil
	}
	return &apitype.IngestError{Code: e.Code, Message: e.Message}
}

func corpusFileOf(f persist.CorpusFile) apitype.CorpusFile {
	return apitype.CorpusFile{
		CorpusID: f.CorpusID, FileID: f.FileID, Path: f.Path, SHA256: f.SHA256, Status: f.Status, Stage: f.Stage,
		ChunkCount: f.ChunkCount, LastError: ingestErrorOf(f.LastError), CreatedAt: f.CreatedAt.UTC(), UpdatedAt: f.UpdatedAt.UTC(),
	}
}

func ingestJobOf(j persist.IngestJob) apitype.IngestJob {
	fc := j.Counts()
	out := apitype.IngestJob{
		ID: j.ID, CorpusID: j.CorpusID, Status: j.Status,
		FileCounts: apitype.FileCounts{InProgress: fc.InProgress, Completed: fc.Completed, Failed: fc.Failed, Cancelled: fc.Cancelled, Total: fc.Total},
		Files:      make([]apitype.IngestJobFile, len(j.Files)), CreatedAt: j.CreatedAt.UTC(),
	}
	for i, f := range j.Files {
		out.Files[i] = apitype.IngestJobFile{FileID: f.FileID, Status: f.Status, LastError: ingestErrorOf(f.LastError)}
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt.UTC()
		out.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	return out
}

func embedderOf(e knowledge.EmbedderInfo) apitype.EmbedderSettings {
	return apitype.EmbedderSettings{
		Provider: e.Provider, BaseURL: e.BaseURL, Model: e.Model, Dimensions: e.Dimensions, BatchSize: e.BatchSize,
		APIKeySet: e.APIKeySet, Fingerprint: e.Fingerprint, Status: e.Status, LastError: e.LastError,
	}
}

func storageOf(st knowledge.StorageInfo) apitype.StorageSettings {
	u := st.Usage
	return apitype.StorageSettings{
		Usage: apitype.StorageUsage{
			DBBytes: u.DBBytes, BlobBytes: u.BlobBytes, IndexBytes: st.IndexBytes, Sessions: u.Sessions, Messages: u.Messages,
			Files: u.Files, Chunks: u.Chunks, Memories: u.Memories, AuditEntries: u.AuditEntries,
		},
		Retention: apitype.StorageRetention{Audit: st.Settings.AuditRetention.String(), JobRuns: st.Settings.JobRunHistory},
		Limits:    apitype.StorageLimits{MaxUploadBytes: st.Settings.MaxUploadBytes, DefaultUserStoredBytes: st.Settings.DefaultUserStoredBytes},
	}
}
