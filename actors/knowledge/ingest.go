package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// actorPrefix names a corpus's ingestion actor: actorPrefix + corpus id.
const actorPrefix = "corpus/"

// wake tells a corpus's actor to look for queued files in the store.
type wake struct{}

// fileDone tells the actor a worker finished a file.
type fileDone struct{ fileID, jobID string }

type item struct{ fileID, jobID string }

// ingester is the ingestion actor of one corpus. The store is its queue:
// on start and on every wake it takes the corpus's files in progress that
// it does not hold yet, and runs at most Workers of them at once. It stops
// after Idle without work; the next wake starts it again.
type ingester struct {
	s        *Service
	corpusID string
	queue    []item
	held     map[item]bool
	running  int
}

func (a *ingester) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.corpusID = strings.TrimPrefix(ctx.Self().Id, actorPrefix)
		a.held = map[item]bool{}
		ctx.SetReceiveTimeout(a.s.cfg.Idle)
		a.refill()
		a.dispatch(ctx)
	case *wake:
		a.refill()
		a.dispatch(ctx)
		if ctx.Sender() != nil {
			ctx.Respond(true)
		}
	case *fileDone:
		a.running--
		delete(a.held, item(*m))
		a.dispatch(ctx)
	case *actor.ReceiveTimeout:
		if a.running == 0 && len(a.queue) == 0 {
			ctx.Stop(ctx.Self())
		}
	}
}

// refill queues the corpus's files in progress that the actor does not
// hold. A read of the store: no network, no wait on other work.
func (a *ingester) refill() {
	files, err := a.s.store.ListCorpusFiles(a.corpusID)
	if err != nil {
		a.s.log.Warn("list the corpus's files", "corpus_id", a.corpusID, "error", err)
		return
	}
	for _, f := range files {
		it := item{f.FileID, f.JobID}
		if f.Status == persist.IngestInProgress && !a.held[it] {
			a.held[it] = true
			a.queue = append(a.queue, it)
		}
	}
}

func (a *ingester) dispatch(ctx actor.Context) {
	self := ctx.Self()
	for a.running < a.s.cfg.Workers && len(a.queue) > 0 {
		it := a.queue[0]
		a.queue = a.queue[1:]
		if !a.s.goWork(func() {
			a.s.ingestFile(a.corpusID, it)
			a.s.sys.Root.Send(self, &fileDone{it.fileID, it.jobID})
		}) {
			return
		}
		a.running++
	}
}

// goWork runs fn in a worker goroutine the service waits for at Close;
// false once the service is closing.
func (s *Service) goWork(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(fn)
	return true
}

// kick wakes (starting it if needed) the ingestion actor of a corpus. A
// wake that reaches an actor on its way out is sent again to a new one.
func (s *Service) kick(corpusID string) {
	for range 5 {
		if s.ctx.Err() != nil {
			return
		}
		pid, err := s.sys.Root.SpawnNamed(s.props, actorPrefix+corpusID)
		if err != nil && !errors.Is(err, actor.ErrNameExists) {
			s.log.Error("start the ingestion actor", "corpus_id", corpusID, "error", err)
			return
		}
		_, err = s.sys.Root.RequestFuture(pid, &wake{}, 5*time.Second).Result()
		if err == nil || !errors.Is(err, actor.ErrDeadLetter) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ingestFile runs one file through extraction, chunking and embedding and
// records the outcome. It stops without a record when the file left its
// job (cancelled, removed, queued again) or the service is closing; a
// file left in progress by a stop resumes at the next start.
func (s *Service) ingestFile(corpusID string, it item) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	defer func() { <-s.sem }()
	ctx := s.ctx
	defer func() {
		// A parser or chunker bug fails the file, never the host.
		if r := recover(); r != nil {
			s.log.Error("ingestion panic", "corpus_id", corpusID, "file_id", it.fileID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if f, _, ok, err := s.store.FinishCorpusFile(ctx, corpusID, it.fileID, it.jobID,
				failed(CodeExtractionFailed, "ingestion failed on this file")); err == nil && ok {
				s.publish(f)
			}
		}
	}()
	out, ok := s.process(ctx, corpusID, it)
	if !ok {
		return
	}
	x := s.index(corpusID)
	x.mu.Lock()
	defer x.mu.Unlock()
	old, err := s.store.FileChunks(corpusID, it.fileID)
	if err != nil {
		s.log.Warn("read the file's chunks", "corpus_id", corpusID, "file_id", it.fileID, "error", err)
		return
	}
	f, _, ok, err := s.store.FinishCorpusFile(ctx, corpusID, it.fileID, it.jobID, out)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("record the file's outcome", "corpus_id", corpusID, "file_id", it.fileID, "error", err)
		}
		return
	}
	if !ok {
		return
	}
	if out.Status == persist.IngestCompleted {
		c, err := s.store.Corpus(corpusID)
		if err == nil {
			ids := make([]string, len(old))
			for i, ch := range old {
				ids[i] = ch.ID
			}
			if err := x.applyLexical(ids, out.Chunks, c.Gen); err != nil {
				s.log.Warn("lexical index update failed; it is rebuilt on the next search", "corpus_id", corpusID, "error", err)
			}
		}
		x.vecLoaded = false
	}
	s.publish(f)
}

// stage records that a file reached a stage; false if the file left its
// job or the store refused.
func (s *Service) stage(ctx context.Context, corpusID string, it item, stage string) bool {
	f, ok, err := s.store.SetCorpusFileStage(ctx, corpusID, it.fileID, it.jobID, stage)
	if err != nil || !ok {
		return false
	}
	s.publish(f)
	return true
}

func failed(code, msg string) persist.FileOutcome {
	return persist.FileOutcome{Status: persist.IngestFailed, Error: &persist.IngestError{Code: code, Message: msg}}
}

// process computes a file's outcome; false means record nothing.
func (s *Service) process(ctx context.Context, corpusID string, it item) (persist.FileOutcome, bool) {
	if !s.stage(ctx, corpusID, it, persist.StageExtracting) {
		return persist.FileOutcome{}, false
	}
	c, err := s.store.Corpus(corpusID)
	if err != nil {
		return persist.FileOutcome{}, false
	}
	text, fe := s.extractFile(ctx, it.fileID)
	if ctx.Err() != nil {
		return persist.FileOutcome{}, false
	}
	if fe != nil {
		return failed(fe.Code, fe.Msg), true
	}
	if !s.stage(ctx, corpusID, it, persist.StageChunking) {
		return persist.FileOutcome{}, false
	}
	pieces, err := Chunk(text, c.MaxChunkTokens, c.ChunkOverlapTokens)
	if err != nil {
		return failed(CodeExtractionFailed, err.Error()), true
	}
	if len(pieces) == 0 {
		return failed(CodeExtractionFailed, "the file has no text to search"), true
	}
	f, err := s.store.File(it.fileID)
	if err != nil {
		return failed(CodeFileMissing, "the workspace file is gone"), true
	}
	chunks := make([]persist.Chunk, len(pieces))
	texts := make([]string, len(pieces))
	for i, p := range pieces {
		chunks[i] = persist.Chunk{ID: agent.NewID(PrefixChunk), Path: f.Path, Text: p.Text, Start: p.Start, End: p.End, Tokens: p.Tokens}
		texts[i] = p.Text
	}
	if !s.stage(ctx, corpusID, it, persist.StageEmbedding) {
		return persist.FileOutcome{}, false
	}
	vecs, err := s.Embedder().Embed(ctx, texts)
	if ctx.Err() != nil {
		return persist.FileOutcome{}, false
	}
	if err != nil {
		return failed(CodeEmbeddingFailed, err.Error()), true
	}
	if !s.stage(ctx, corpusID, it, persist.StageIndexing) {
		return persist.FileOutcome{}, false
	}
	return persist.FileOutcome{Status: persist.IngestCompleted, Chunks: chunks, Vectors: vecs}, true
}

// extractFile reads a workspace file and extracts its text.
func (s *Service) extractFile(ctx context.Context, fileID string) (string, *FileError) {
	rc, f, err := s.store.OpenFileContent(fileID)
	if err != nil {
		return "", fileErr(CodeFileMissing, "the workspace file is gone")
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return "", fileErr(CodeExtractionFailed, "the file's bytes could not be read")
	}
	text, err := Extract(ctx, f.ContentType, f.Path, data)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return "", fe
		}
		return "", fileErr(CodeExtractionFailed, "%v", err)
	}
	return text, nil
}

func logPanics(log *slog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("ingestion actor panic", "actor", c.Self().Id, "msg", fmt.Sprintf("%T", env.Message),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}

func removeAll(dir string) error { return os.RemoveAll(dir) }
