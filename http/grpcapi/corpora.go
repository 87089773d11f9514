package grpcapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Corpora is what CorpusService needs of the knowledge family: the same
// calls REST's corpora routes make. Every method checks the user's role in
// the corpus's workspace (a corpus of a workspace they have no role in is
// not found). *knowledge.Service implements it.
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
	Subscribe(ctx context.Context, userID, corpusID string, after uint64) (*knowledge.Subscription, error)
	Search(ctx context.Context, userID, corpusID string, req knowledge.SearchRequest) (knowledge.SearchResult, error)
}

// maxCorpusListLimit caps a corpus listing's limit, as REST does.
const maxCorpusListLimit = 100

// corpusService translates CorpusService to Corpora.
type corpusService struct {
	seshatv1connect.UnimplementedCorpusServiceHandler
	s  *Server
	rt Corpora
}

func (s *Server) corpusService() seshatv1connect.CorpusServiceHandler {
	if s.deps.Corpora == nil {
		return seshatv1connect.UnimplementedCorpusServiceHandler{}
	}
	return corpusService{s: s, rt: s.deps.Corpora}
}

func (h corpusService) CreateCorpus(ctx context.Context, req *connect.Request[seshatv1.CreateCorpusRequest]) (*connect.Response[seshatv1.CreateCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	nc := knowledge.NewCorpus{Name: m.Name, Description: m.Description, WorkspaceID: m.WorkspaceId}
	if cs := m.ChunkingStrategy; cs != nil {
		// Zero is the proto's unset: the default, as REST's absent field.
		nc.MaxChunkTokens, nc.OverlapTokens = setInt(cs.MaxChunkSizeTokens), setInt(cs.ChunkOverlapTokens)
	}
	c, err := h.rt.CreateCorpus(ctx, p.UserID, nc)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateCorpusResponse{Corpus: corpusOf(c)}), nil
}

func setInt(v int32) *int {
	if v == 0 {
		return nil
	}
	n := int(v)
	return &n
}

func (h corpusService) ListCorpora(ctx context.Context, req *connect.Request[seshatv1.ListCorporaRequest]) (*connect.Response[seshatv1.ListCorporaResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Limit < 0 || m.Limit > maxCorpusListLimit {
		return nil, apierr.Invalid("limit must be a number from 1 to 100")
	}
	list, next, err := h.rt.ListCorpora(ctx, p.UserID, m.WorkspaceId, int(m.Limit), m.Cursor)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListCorporaResponse{NextCursor: next, Data: make([]*seshatv1.Corpus, len(list))}
	for i, c := range list {
		out.Data[i] = corpusOf(c)
	}
	return connect.NewResponse(out), nil
}

func (h corpusService) GetCorpus(ctx context.Context, req *connect.Request[seshatv1.GetCorpusRequest]) (*connect.Response[seshatv1.GetCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	c, err := h.rt.Corpus(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetCorpusResponse{Corpus: corpusOf(c)}), nil
}

func (h corpusService) UpdateCorpus(ctx context.Context, req *connect.Request[seshatv1.UpdateCorpusRequest]) (*connect.Response[seshatv1.UpdateCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	c, err := h.rt.UpdateCorpus(ctx, p.UserID, m.Id, m.Name, m.Description)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateCorpusResponse{Corpus: corpusOf(c)}), nil
}

func (h corpusService) DeleteCorpus(ctx context.Context, req *connect.Request[seshatv1.DeleteCorpusRequest]) (*connect.Response[seshatv1.DeleteCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteCorpus(ctx, p.UserID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteCorpusResponse{}), nil
}

func (h corpusService) AddCorpusFiles(ctx context.Context, req *connect.Request[seshatv1.AddCorpusFilesRequest]) (*connect.Response[seshatv1.AddCorpusFilesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.AddFiles(ctx, p.UserID, req.Msg.Id, req.Msg.FileIds)
	if err != nil {
		return nil, err
	}
	noteJob(ctx, j)
	return connect.NewResponse(&seshatv1.AddCorpusFilesResponse{Job: ingestJobOf(j)}), nil
}

func (h corpusService) ListCorpusFiles(ctx context.Context, req *connect.Request[seshatv1.ListCorpusFilesRequest]) (*connect.Response[seshatv1.ListCorpusFilesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.Files(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListCorpusFilesResponse{Data: make([]*seshatv1.CorpusFile, len(list))}
	for i, f := range list {
		out.Data[i] = corpusFileOf(f)
	}
	return connect.NewResponse(out), nil
}

func (h corpusService) GetCorpusFile(ctx context.Context, req *connect.Request[seshatv1.GetCorpusFileRequest]) (*connect.Response[seshatv1.GetCorpusFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	f, err := h.rt.File(ctx, p.UserID, req.Msg.Id, req.Msg.FileId)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetCorpusFileResponse{File: corpusFileOf(f)}), nil
}

func (h corpusService) DeleteCorpusFile(ctx context.Context, req *connect.Request[seshatv1.DeleteCorpusFileRequest]) (*connect.Response[seshatv1.DeleteCorpusFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.RemoveFile(ctx, p.UserID, req.Msg.Id, req.Msg.FileId); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteCorpusFileResponse{}), nil
}

func (h corpusService) RetryCorpusFile(ctx context.Context, req *connect.Request[seshatv1.RetryCorpusFileRequest]) (*connect.Response[seshatv1.RetryCorpusFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.RetryFile(ctx, p.UserID, req.Msg.Id, req.Msg.FileId)
	if err != nil {
		return nil, err
	}
	noteJob(ctx, j)
	return connect.NewResponse(&seshatv1.RetryCorpusFileResponse{Job: ingestJobOf(j)}), nil
}

func (h corpusService) ListIngestionJobs(ctx context.Context, req *connect.Request[seshatv1.ListIngestionJobsRequest]) (*connect.Response[seshatv1.ListIngestionJobsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.Jobs(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListIngestionJobsResponse{Data: make([]*seshatv1.IngestionJob, len(list))}
	for i, j := range list {
		out.Data[i] = ingestJobOf(j)
	}
	return connect.NewResponse(out), nil
}

func (h corpusService) GetIngestionJob(ctx context.Context, req *connect.Request[seshatv1.GetIngestionJobRequest]) (*connect.Response[seshatv1.GetIngestionJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.Job(ctx, p.UserID, req.Msg.Id, req.Msg.JobId)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetIngestionJobResponse{Job: ingestJobOf(j)}), nil
}

func (h corpusService) CancelIngestionJob(ctx context.Context, req *connect.Request[seshatv1.CancelIngestionJobRequest]) (*connect.Response[seshatv1.CancelIngestionJobResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.CancelJob(ctx, p.UserID, req.Msg.Id, req.Msg.JobId)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CancelIngestionJobResponse{Job: ingestJobOf(j)}), nil
}

func (h corpusService) ReindexCorpus(ctx context.Context, req *connect.Request[seshatv1.ReindexCorpusRequest]) (*connect.Response[seshatv1.ReindexCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.rt.Reindex(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	noteJob(ctx, j)
	return connect.NewResponse(&seshatv1.ReindexCorpusResponse{Job: ingestJobOf(j)}), nil
}

func (h corpusService) SearchCorpus(ctx context.Context, req *connect.Request[seshatv1.SearchCorpusRequest]) (*connect.Response[seshatv1.SearchCorpusResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.rt.Search(ctx, p.UserID, m.Id, knowledge.SearchRequest{
		Query: m.Query, MaxResults: int(m.MaxNumResults), Ranker: m.Ranker, ScoreThreshold: m.ScoreThreshold,
	})
	if err != nil {
		return nil, err
	}
	out := &seshatv1.SearchCorpusResponse{Data: make([]*seshatv1.SearchCorpusResult, len(res.Hits)), Ranker: res.Ranker, Warnings: res.Warnings}
	for i, x := range res.Hits {
		out.Data[i] = &seshatv1.SearchCorpusResult{ChunkId: x.ChunkID, FileId: x.FileID, Path: x.Path, Score: x.Score,
			Text: x.Text, Start: int64(x.Start), End: int64(x.End)}
	}
	return connect.NewResponse(out), nil
}

// Messages of the status that ends a corpus's event stream.
const msgCorpusGone = "the corpus was deleted"

// WatchCorpus sends the corpus's numbered file changes after the cursor,
// then live ones, until the client leaves (its subscription ends, nothing
// else), the corpus goes (NotFound), the client falls behind (Aborted,
// stream_dropped: watch again after the last id), a send waits past
// StreamWriteTimeout, or the server shuts down (Unavailable). When
// events after the cursor are no longer kept, a resync message comes
// first, as REST's runtime resync event.
func (h corpusService) WatchCorpus(ctx context.Context, req *connect.Request[seshatv1.WatchCorpusRequest], out *connect.ServerStream[seshatv1.WatchCorpusResponse]) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	sub, err := h.rt.Subscribe(ctx, p.UserID, req.Msg.Id, req.Msg.After)
	if err != nil {
		return err
	}
	defer sub.Close()
	send := func(ev knowledge.Event) error {
		var fe knowledge.FileEvent
		if err := json.Unmarshal(ev.Data, &fe); err != nil {
			return err
		}
		setWriteDeadline(ctx, h.s.cfg.StreamWriteTimeout)
		return out.Send(&seshatv1.WatchCorpusResponse{Id: ev.ID, FileId: fe.FileID, Status: fe.Status, Stage: fe.Stage,
			ChunkCount: int32(fe.ChunkCount), LastError: ingestErrorOf(fe.LastError)})
	}
	if sub.Resync {
		setWriteDeadline(ctx, h.s.cfg.StreamWriteTimeout)
		if err := out.Send(&seshatv1.WatchCorpusResponse{Resync: true}); err != nil {
			return err
		}
	}
	for _, ev := range sub.Replay {
		if err := send(ev); err != nil {
			return err
		}
	}
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				if why := sub.Cut(); why != "" {
					return withInfo(connect.NewError(connect.CodeUnauthenticated, errors.New(why)),
						apierr.CodeUnauthorized, requestIDFrom(ctx), nil)
				}
				if sub.Gone() {
					return withInfo(connect.NewError(connect.CodeNotFound, errors.New(msgCorpusGone)),
						apierr.CodeNotFound, requestIDFrom(ctx), nil)
				}
				return withInfo(connect.NewError(connect.CodeAborted, errors.New(msgStreamDropped)),
					apierr.CodeStreamDropped, requestIDFrom(ctx), nil)
			}
			if err := send(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-h.s.baseCtx.Done():
			return agent.ErrClosed
		}
	}
}

func corpusOf(c knowledge.CorpusView) *seshatv1.Corpus {
	fc := c.FileCounts
	return &seshatv1.Corpus{
		Id: c.ID, WorkspaceId: c.WorkspaceID, Name: c.Name, Description: c.Description, Status: c.Status,
		FileCounts: &seshatv1.FileCounts{InProgress: int32(fc.InProgress), Completed: int32(fc.Completed), Failed: int32(fc.Failed),
			Cancelled: int32(fc.Cancelled), Total: int32(fc.Total)},
		ChunkCount: int64(c.ChunkCount), UsageBytes: c.UsageBytes,
		ChunkingStrategy: &seshatv1.ChunkingStrategy{MaxChunkSizeTokens: int32(c.MaxChunkTokens), ChunkOverlapTokens: int32(c.ChunkOverlapTokens)},
		Embedder: &seshatv1.CorpusEmbedder{Provider: c.Embedder.Provider, Model: c.Embedder.Model,
			Dimensions: int32(c.Embedder.Dimensions), Fingerprint: c.Embedder.Fingerprint},
		CreatedAt: timestamp(c.CreatedAt), UpdatedAt: timestamp(c.UpdatedAt),
	}
}

func ingestErrorOf(e *persist.IngestError) *seshatv1.CorpusFileError {
	if e == nil {
		return nil
	}
	return &seshatv1.CorpusFileError{Code: e.Code, Message: e.Message}
}

func corpusFileOf(f persist.CorpusFile) *seshatv1.CorpusFile {
	return &seshatv1.CorpusFile{
		CorpusId: f.CorpusID, FileId: f.FileID, Path: f.Path, Sha256: f.SHA256, Status: f.Status, Stage: f.Stage,
		ChunkCount: int32(f.ChunkCount), LastError: ingestErrorOf(f.LastError),
		CreatedAt: timestamp(f.CreatedAt), UpdatedAt: timestamp(f.UpdatedAt),
	}
}

func ingestJobOf(j persist.IngestJob) *seshatv1.IngestionJob {
	fc := j.Counts()
	out := &seshatv1.IngestionJob{
		Id: j.ID, CorpusId: j.CorpusID, Status: j.Status,
		FileCounts: &seshatv1.FileCounts{InProgress: int32(fc.InProgress), Completed: int32(fc.Completed), Failed: int32(fc.Failed),
			Cancelled: int32(fc.Cancelled), Total: int32(fc.Total)},
		Files:     make([]*seshatv1.IngestionFile, len(j.Files)),
		CreatedAt: timestamp(j.CreatedAt), StartedAt: timestamp(j.StartedAt), FinishedAt: timestamp(j.FinishedAt),
	}
	for i, f := range j.Files {
		out.Files[i] = &seshatv1.IngestionFile{FileId: f.FileID, Status: f.Status, LastError: ingestErrorOf(f.LastError)}
	}
	return out
}

// noteJob adds the ingestion job a call started to its audit entry, as
// REST's acceptedJob does.
func noteJob(ctx context.Context, j persist.IngestJob) {
	noteAudit(ctx).set("ingestion_job_id", j.ID)
	noteAudit(ctx).set("files", strconv.Itoa(len(j.Files)))
}
