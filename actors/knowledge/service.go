package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// Id prefixes of the family's records.
const (
	PrefixCorpus = "corp"
	PrefixJob    = "ing"
	PrefixChunk  = "chk"
)

// Workspace roles the family checks.
const (
	RoleViewer = persist.WorkspaceViewer
	RoleEditor = persist.WorkspaceEditor
)

// Authorizer answers whether a user may act in a workspace.
type Authorizer interface {
	// AuthorizeWorkspace returns nil if the user has at least the need
	// role in the workspace, an error wrapping agent.ErrNotFound if they
	// have none, and one wrapping agent.ErrForbidden if theirs is lower.
	AuthorizeWorkspace(userID, workspaceID, need string) error
	// DefaultWorkspace is the user's default workspace.
	DefaultWorkspace(userID string) (string, error)
	// Workspaces lists the workspaces the user may read.
	Workspaces(userID string) ([]string, error)
}

// Config configures a Service.
type Config struct {
	// Store holds corpora, files and chunks. Required.
	Store *persist.Store
	// Authorizer checks workspace roles. Required.
	Authorizer Authorizer
	// IndexDir holds the lexical indexes, one folder per corpus. Required.
	IndexDir string
	// Workers bounds the files ingested at once, over all corpora. If
	// zero, 2.
	Workers int
	// Idle is how long a corpus's ingestion actor waits without work
	// before it stops. If zero, 2m.
	Idle time.Duration
	// MaxResumes is how many times a restart resumes a file before it
	// fails with "interrupted". If zero, 2.
	MaxResumes int
	// Storage are the environment's storage settings, which the storage
	// settings route reports under the stored ones.
	Storage StorageDefaults
	// AdmitStream, if set, admits a stream of corpus events for a user
	// (the open-stream caps); release is called when it ends.
	AdmitStream func(userID string) (release func(), err error)
	// Logger receives the family's logs. If nil, none.
	Logger *slog.Logger
}

// Service runs the knowledge family.
type Service struct {
	cfg   Config
	store *persist.Store
	auth  Authorizer
	log   *slog.Logger

	sys   *actor.ActorSystem
	props *actor.Props

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	embedder atomic.Pointer[embedderBox]
	// embedClient carries the openai embedder's requests through the
	// outbound fence. Only server admins set the embedder's base_url, so
	// it may be a private address (an Ollama on the host), as API.md
	// allows for destinations a server admin set.
	embedClient *http.Client

	mu      sync.Mutex
	indexes map[string]*corpusIndex
	feeds   map[string]*feed
	closed  bool
}

type embedderBox struct{ e Embedder }

// New validates cfg and returns a Service; Start resumes ingestion.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Authorizer == nil || cfg.IndexDir == "" {
		return nil, errors.New("knowledge: Store, Authorizer and IndexDir are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 2 * time.Minute
	}
	if cfg.MaxResumes <= 0 {
		cfg.MaxResumes = 2
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "knowledge")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, store: cfg.Store, auth: cfg.Authorizer, log: log,
		ctx: ctx, cancel: cancel, sem: make(chan struct{}, cfg.Workers),
		indexes: map[string]*corpusIndex{}, feeds: map[string]*feed{},
		embedClient: egress.NewClient(egress.Policy{AllowPrivate: true, Timeout: embedTimeout}),
	}
	e, err := s.loadEmbedder()
	if err != nil {
		log.Warn("the stored embedder setting does not load; using builtin", "error", err)
		e = Builtin{}
	}
	s.embedder.Store(&embedderBox{e})
	s.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("lib", "protoactor")
	}))
	strategy := actor.NewOneForOneStrategy(10, 10*time.Second, func(any) actor.Directive { return actor.RestartDirective })
	s.props = actor.PropsFromProducer(func() actor.Actor { return &ingester{s: s} },
		actor.WithGuardian(strategy), actor.WithReceiverMiddleware(logPanics(log)))
	return s, nil
}

// Start resumes the ingestion left in progress by the last run: each such
// file starts again, or fails with "interrupted" once it was resumed
// MaxResumes times (a file that keeps killing the server stops doing so).
func (s *Service) Start(ctx context.Context) error {
	left, err := s.store.InProgressCorpusFiles()
	if err != nil {
		return err
	}
	corpora := map[string]bool{}
	for _, f := range left {
		if f.Attempts >= s.cfg.MaxResumes {
			_, _, _, err := s.store.FinishCorpusFile(ctx, f.CorpusID, f.FileID, f.JobID, persist.FileOutcome{
				Status: persist.IngestFailed,
				Error: &persist.IngestError{Code: CodeInterrupted,
					Message: fmt.Sprintf("ingestion was interrupted %d times by a server stop", f.Attempts)},
			})
			if err != nil {
				return err
			}
			continue
		}
		corpora[f.CorpusID] = true
	}
	for id := range corpora {
		s.kick(id)
	}
	if len(left) > 0 {
		s.log.Info("ingestion resumed", "files", len(left), "corpora", len(corpora))
	}
	return nil
}

// Close stops the ingestion actors and workers and closes the indexes.
// Files being ingested stay in progress and resume at the next Start.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.sys.Shutdown()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, x := range s.indexes {
		x.mu.Lock()
		errs = append(errs, x.close())
		x.mu.Unlock()
	}
	for _, f := range s.feeds {
		f.close()
	}
	return errors.Join(errs...)
}

// Embedder returns the configured embedder.
func (s *Service) Embedder() Embedder { return s.embedder.Load().e }

// index returns the search state of a corpus.
func (s *Service) index(corpusID string) *corpusIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.indexes[corpusID]
	if x == nil {
		x = &corpusIndex{corpusID: corpusID, dir: filepath.Join(s.cfg.IndexDir, corpusID)}
		s.indexes[corpusID] = x
	}
	return x
}

func (s *Service) feed(corpusID string) *feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feeds[corpusID]
	if f == nil {
		f = &feed{}
		if s.closed {
			f.closed = true
		}
		s.feeds[corpusID] = f
	}
	return f
}

func (s *Service) publish(f persist.CorpusFile) {
	s.feed(f.CorpusID).publish(FileEvent{FileID: f.FileID, Status: f.Status, Stage: f.Stage,
		ChunkCount: f.ChunkCount, LastError: f.LastError})
}

// access checks the user's role in a workspace: none is not found, a
// lower one forbidden.
func (s *Service) access(userID, wsID, need string) error {
	return s.auth.AuthorizeWorkspace(userID, wsID, need)
}

// corpusFor loads a corpus the user has at least the need role on; a
// corpus of a workspace they have no role in is not found.
func (s *Service) corpusFor(userID, id, need string) (persist.Corpus, error) {
	notFound := fmt.Errorf("corpus %q: %w", id, agent.ErrNotFound)
	if !agent.ValidID(PrefixCorpus, id) {
		return persist.Corpus{}, notFound
	}
	c, err := s.store.Corpus(id)
	if errors.Is(err, persist.ErrNotFound) {
		return persist.Corpus{}, notFound
	}
	if err != nil {
		return persist.Corpus{}, err
	}
	if err := s.access(userID, c.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.Corpus{}, notFound
		}
		return persist.Corpus{}, err
	}
	return c, nil
}

// CorpusView is a corpus with its derived status.
type CorpusView struct {
	persist.Corpus
	Status string
}

// Statuses of a corpus beyond the file statuses.
const (
	CorpusEmpty        = "empty"
	CorpusNeedsReindex = "needs_reindex"
)

func (s *Service) view(c persist.Corpus) CorpusView {
	v := CorpusView{Corpus: c}
	fc := c.FileCounts
	switch {
	case c.ChunkCount > 0 && c.Embedder.Fingerprint != s.Embedder().Ref().Fingerprint:
		v.Status = CorpusNeedsReindex
	case fc.Total == 0:
		v.Status = CorpusEmpty
	case fc.InProgress > 0:
		v.Status = persist.IngestInProgress
	case fc.Completed == 0 && fc.Failed > 0:
		v.Status = persist.IngestFailed
	default:
		v.Status = persist.IngestCompleted
	}
	return v
}

// Field caps.
const (
	maxNameRunes        = 200
	maxDescriptionRunes = 2000
	maxFilesPerJob      = 1000
)

// NewCorpus is a corpus to create.
type NewCorpus struct {
	Name, Description, WorkspaceID string
	// MaxChunkTokens and OverlapTokens are the chunking strategy; nil
	// takes the defaults.
	MaxChunkTokens, OverlapTokens *int
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: name is required", agent.ErrInvalid)
	}
	if utf8.RuneCountInString(name) > maxNameRunes {
		return fmt.Errorf("%w: name is longer than %d characters", agent.ErrInvalid, maxNameRunes)
	}
	return nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > maxDescriptionRunes {
		return fmt.Errorf("%w: description is longer than %d characters", agent.ErrInvalid, maxDescriptionRunes)
	}
	return nil
}

// CreateCorpus creates a corpus in a workspace the user edits (their
// default workspace if none is named).
func (s *Service) CreateCorpus(ctx context.Context, userID string, nc NewCorpus) (CorpusView, error) {
	if err := checkName(nc.Name); err != nil {
		return CorpusView{}, err
	}
	if err := checkDescription(nc.Description); err != nil {
		return CorpusView{}, err
	}
	maxTok, overlap := DefaultMaxChunkTokens, DefaultOverlapTokens
	if nc.MaxChunkTokens != nil {
		maxTok = *nc.MaxChunkTokens
		if nc.OverlapTokens == nil {
			overlap = min(overlap, maxTok/2)
		}
	}
	if nc.OverlapTokens != nil {
		overlap = *nc.OverlapTokens
	}
	if maxTok < MinChunkTokens || maxTok > MaxChunkTokens {
		return CorpusView{}, fmt.Errorf("%w: max_chunk_size_tokens must be between %d and %d", agent.ErrInvalid, MinChunkTokens, MaxChunkTokens)
	}
	if overlap < 0 || overlap > maxTok/2 {
		return CorpusView{}, fmt.Errorf("%w: chunk_overlap_tokens must be between 0 and half of max_chunk_size_tokens", agent.ErrInvalid)
	}
	wsID := nc.WorkspaceID
	if wsID == "" {
		var err error
		if wsID, err = s.auth.DefaultWorkspace(userID); err != nil {
			return CorpusView{}, err
		}
	}
	if err := s.access(userID, wsID, RoleEditor); err != nil {
		return CorpusView{}, err
	}
	c, err := s.store.CreateCorpus(ctx, persist.Corpus{
		ID: agent.NewID(PrefixCorpus), WorkspaceID: wsID, Name: nc.Name, Description: nc.Description,
		CreatedBy: userID, MaxChunkTokens: maxTok, ChunkOverlapTokens: overlap, Embedder: s.Embedder().Ref(),
	})
	if err != nil {
		return CorpusView{}, err
	}
	return s.view(c), nil
}

// Corpus returns a corpus the user reads.
func (s *Service) Corpus(_ context.Context, userID, id string) (CorpusView, error) {
	c, err := s.corpusFor(userID, id, RoleViewer)
	if err != nil {
		return CorpusView{}, err
	}
	return s.view(c), nil
}

// ListCorpora lists the corpora of a workspace the user reads, or of all
// of theirs, newest first: at most limit (1–100, default 20) after the
// corpus named by cursor; next is the cursor of the next page, if any.
func (s *Service) ListCorpora(_ context.Context, userID, wsID string, limit int, cursor string) ([]CorpusView, string, error) {
	var wss []string
	if wsID != "" {
		if err := s.access(userID, wsID, RoleViewer); err != nil {
			return nil, "", err
		}
		wss = []string{wsID}
	} else {
		var err error
		if wss, err = s.auth.Workspaces(userID); err != nil {
			return nil, "", err
		}
	}
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 100)
	list, err := s.store.ListCorpora(wss)
	if err != nil {
		return nil, "", err
	}
	if cursor != "" {
		i := slices.IndexFunc(list, func(c persist.Corpus) bool { return c.ID == cursor })
		if i < 0 {
			return nil, "", fmt.Errorf("%w: the cursor names no corpus of this listing", persist.ErrBadCursor)
		}
		list = list[i+1:]
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	out := make([]CorpusView, len(list))
	for i, c := range list {
		out[i] = s.view(c)
	}
	return out, next, nil
}

// UpdateCorpus renames or re-describes a corpus the user edits.
func (s *Service) UpdateCorpus(ctx context.Context, userID, id string, name, description *string) (CorpusView, error) {
	if _, err := s.corpusFor(userID, id, RoleEditor); err != nil {
		return CorpusView{}, err
	}
	if name != nil {
		if err := checkName(*name); err != nil {
			return CorpusView{}, err
		}
	}
	if description != nil {
		if err := checkDescription(*description); err != nil {
			return CorpusView{}, err
		}
	}
	c, err := s.store.UpdateCorpus(ctx, id, func(c *persist.Corpus) error {
		if name != nil {
			c.Name = *name
		}
		if description != nil {
			c.Description = *description
		}
		return nil
	})
	if err != nil {
		return CorpusView{}, err
	}
	return s.view(c), nil
}

// DeleteCorpus deletes a corpus the user edits, with its chunks and its
// index; the workspace files stay.
func (s *Service) DeleteCorpus(ctx context.Context, userID, id string) error {
	if _, err := s.corpusFor(userID, id, RoleEditor); err != nil {
		return err
	}
	x := s.index(id)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := s.store.DeleteCorpus(ctx, id); err != nil {
		return err
	}
	_ = x.close()
	x.vecLoaded, x.ids, x.mat = false, nil, nil
	if err := removeAll(x.dir); err != nil {
		s.log.Warn("the corpus's index was not removed", "corpus_id", id, "error", err)
	}
	s.mu.Lock()
	delete(s.indexes, id)
	f := s.feeds[id]
	delete(s.feeds, id)
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
	return nil
}

// AddFiles queues workspace files of the corpus's workspace for ingestion
// and returns the job. Files already in the corpus are ingested again. A
// corpus whose vectors are another embedder's is reindexed whole by the
// same job, so that its vectors never mix.
func (s *Service) AddFiles(ctx context.Context, userID, corpusID string, fileIDs []string) (persist.IngestJob, error) {
	c, err := s.corpusFor(userID, corpusID, RoleEditor)
	if err != nil {
		return persist.IngestJob{}, err
	}
	if len(fileIDs) == 0 {
		return persist.IngestJob{}, fmt.Errorf("%w: file_ids must name at least one file", agent.ErrInvalid)
	}
	if len(fileIDs) > maxFilesPerJob {
		return persist.IngestJob{}, fmt.Errorf("%w: at most %d files per request", agent.ErrInvalid, maxFilesPerJob)
	}
	seen := map[string]bool{}
	var files []persist.CorpusFile
	for _, fid := range fileIDs {
		if seen[fid] {
			continue
		}
		seen[fid] = true
		nf := fmt.Errorf("file %q: %w", fid, agent.ErrNotFound)
		if !agent.ValidID(agent.PrefixFile, fid) {
			return persist.IngestJob{}, nf
		}
		f, err := s.store.File(fid)
		if errors.Is(err, persist.ErrNotFound) || (err == nil && f.WorkspaceID != c.WorkspaceID) {
			return persist.IngestJob{}, nf
		}
		if err != nil {
			return persist.IngestJob{}, err
		}
		files = append(files, persist.CorpusFile{FileID: f.ID, Path: f.Path, SHA256: f.SHA256})
	}
	if s.view(c).Status == CorpusNeedsReindex {
		existing, err := s.store.ListCorpusFiles(corpusID)
		if err != nil {
			return persist.IngestJob{}, err
		}
		for _, f := range existing {
			if !seen[f.FileID] {
				seen[f.FileID] = true
				files = append(files, f)
			}
		}
	}
	return s.startJob(ctx, c, files)
}

func (s *Service) startJob(ctx context.Context, c persist.Corpus, files []persist.CorpusFile) (persist.IngestJob, error) {
	ref := s.Embedder().Ref()
	if c.Embedder.Fingerprint != ref.Fingerprint {
		if _, err := s.store.UpdateCorpus(ctx, c.ID, func(c *persist.Corpus) error { c.Embedder = ref; return nil }); err != nil {
			return persist.IngestJob{}, err
		}
	}
	job, err := s.store.StartIngestJob(ctx, persist.IngestJob{ID: agent.NewID(PrefixJob), CorpusID: c.ID}, files)
	if err != nil {
		return persist.IngestJob{}, err
	}
	for _, f := range files {
		s.publish(persist.CorpusFile{CorpusID: c.ID, FileID: f.FileID, Status: persist.IngestInProgress, Stage: persist.StageQueued, ChunkCount: f.ChunkCount})
	}
	s.kick(c.ID)
	return job, nil
}

// RetryFile ingests a failed or cancelled file again.
func (s *Service) RetryFile(ctx context.Context, userID, corpusID, fileID string) (persist.IngestJob, error) {
	c, err := s.corpusFor(userID, corpusID, RoleEditor)
	if err != nil {
		return persist.IngestJob{}, err
	}
	cf, err := s.corpusFile(corpusID, fileID)
	if err != nil {
		return persist.IngestJob{}, err
	}
	if cf.Status != persist.IngestFailed && cf.Status != persist.IngestCancelled {
		return persist.IngestJob{}, fmt.Errorf("%w: file %s is %s; only a failed or cancelled file is retried", agent.ErrConflict, fileID, cf.Status)
	}
	if f, err := s.store.File(fileID); err == nil {
		cf.Path, cf.SHA256 = f.Path, f.SHA256
	}
	return s.startJob(ctx, c, []persist.CorpusFile{cf})
}

// Reindex ingests every file of the corpus again with the configured
// embedder.
func (s *Service) Reindex(ctx context.Context, userID, corpusID string) (persist.IngestJob, error) {
	c, err := s.corpusFor(userID, corpusID, RoleEditor)
	if err != nil {
		return persist.IngestJob{}, err
	}
	files, err := s.store.ListCorpusFiles(corpusID)
	if err != nil {
		return persist.IngestJob{}, err
	}
	if len(files) == 0 {
		return persist.IngestJob{}, fmt.Errorf("%w: the corpus has no files to reindex", agent.ErrConflict)
	}
	return s.startJob(ctx, c, files)
}

func (s *Service) corpusFile(corpusID, fileID string) (persist.CorpusFile, error) {
	nf := fmt.Errorf("file %q of corpus %q: %w", fileID, corpusID, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixFile, fileID) {
		return persist.CorpusFile{}, nf
	}
	f, err := s.store.CorpusFile(corpusID, fileID)
	if errors.Is(err, persist.ErrNotFound) {
		return f, nf
	}
	return f, err
}

// Files lists a corpus's files.
func (s *Service) Files(_ context.Context, userID, corpusID string) ([]persist.CorpusFile, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleViewer); err != nil {
		return nil, err
	}
	return s.store.ListCorpusFiles(corpusID)
}

// File returns one file of a corpus.
func (s *Service) File(_ context.Context, userID, corpusID, fileID string) (persist.CorpusFile, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleViewer); err != nil {
		return persist.CorpusFile{}, err
	}
	return s.corpusFile(corpusID, fileID)
}

// RemoveFile removes a file from a corpus; its chunks leave search at
// once (the store and the index change under the corpus's index lock).
func (s *Service) RemoveFile(ctx context.Context, userID, corpusID, fileID string) error {
	if _, err := s.corpusFor(userID, corpusID, RoleEditor); err != nil {
		return err
	}
	if _, err := s.corpusFile(corpusID, fileID); err != nil {
		return err
	}
	x := s.index(corpusID)
	x.mu.Lock()
	defer x.mu.Unlock()
	old, err := s.store.FileChunks(corpusID, fileID)
	if err != nil {
		return err
	}
	if err := s.store.DeleteCorpusFile(ctx, corpusID, fileID); err != nil {
		return err
	}
	c, err := s.store.Corpus(corpusID)
	if err != nil {
		return err
	}
	ids := make([]string, len(old))
	for i, ch := range old {
		ids[i] = ch.ID
	}
	if err := x.applyLexical(ids, nil, c.Gen); err != nil {
		s.log.Warn("lexical index update failed; it is rebuilt on the next search", "corpus_id", corpusID, "error", err)
	}
	x.vecLoaded = false
	s.publish(persist.CorpusFile{CorpusID: corpusID, FileID: fileID, Status: "removed"})
	return nil
}

// Jobs lists a corpus's ingestion jobs, newest first.
func (s *Service) Jobs(_ context.Context, userID, corpusID string) ([]persist.IngestJob, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleViewer); err != nil {
		return nil, err
	}
	return s.store.ListIngestJobs(corpusID)
}

// Job returns one ingestion job.
func (s *Service) Job(_ context.Context, userID, corpusID, jobID string) (persist.IngestJob, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleViewer); err != nil {
		return persist.IngestJob{}, err
	}
	return s.job(corpusID, jobID)
}

func (s *Service) job(corpusID, jobID string) (persist.IngestJob, error) {
	nf := fmt.Errorf("job %q of corpus %q: %w", jobID, corpusID, agent.ErrNotFound)
	if !agent.ValidID(PrefixJob, jobID) {
		return persist.IngestJob{}, nf
	}
	j, err := s.store.IngestJob(corpusID, jobID)
	if errors.Is(err, persist.ErrNotFound) {
		return j, nf
	}
	return j, err
}

// CancelJob cancels a job: its files not yet done become cancelled (a
// worker on one of them stops at its next stage and records nothing).
func (s *Service) CancelJob(ctx context.Context, userID, corpusID, jobID string) (persist.IngestJob, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleEditor); err != nil {
		return persist.IngestJob{}, err
	}
	before, err := s.job(corpusID, jobID)
	if err != nil {
		return persist.IngestJob{}, err
	}
	j, err := s.store.CancelIngestJob(ctx, corpusID, jobID)
	if err != nil {
		return persist.IngestJob{}, err
	}
	for i, f := range j.Files {
		if f.Status == persist.IngestCancelled && before.Files[i].Status != persist.IngestCancelled {
			s.publish(persist.CorpusFile{CorpusID: corpusID, FileID: f.FileID, Status: persist.IngestCancelled, Stage: persist.StageQueued})
		}
	}
	return j, nil
}

// Subscribe follows a corpus's file events after the cursor. The caller
// must Close the subscription.
func (s *Service) Subscribe(_ context.Context, userID, corpusID string, after uint64) (*Subscription, error) {
	if _, err := s.corpusFor(userID, corpusID, RoleViewer); err != nil {
		return nil, err
	}
	var release func()
	if s.cfg.AdmitStream != nil {
		var err error
		if release, err = s.cfg.AdmitStream(userID); err != nil {
			return nil, err
		}
	}
	sub := s.feed(corpusID).subscribe(userID, after)
	sub.release = release
	// A subscription that raced with the account's disabling ends now.
	if u, err := s.store.UserByID(userID); err == nil && u.Disabled {
		sub.f.endUser(userID, MsgAccountDisabled)
	}
	return sub, nil
}

// MsgAccountDisabled is why a disabled user's corpus streams end.
const MsgAccountDisabled = "account disabled"

// EndUser ends a user's corpus event streams at once (their account was
// disabled): each one's C closes with Cut set.
func (s *Service) EndUser(_ context.Context, userID string) {
	s.mu.Lock()
	feeds := make([]*feed, 0, len(s.feeds))
	for _, f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	for _, f := range feeds {
		f.endUser(userID, MsgAccountDisabled)
	}
}
