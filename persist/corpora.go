package persist

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Corpora: searchable sets of workspace files, their per-file ingestion
// state, their chunks and vectors, and ingestion jobs. Buckets (created by
// migrateCorpusBuckets):
//
//	corpora               corpusID -> Corpus
//	corpora_by_workspace  workspaceID|corpusID -> ""
//	corpus_files          corpusID|fileID -> CorpusFile
//	corpus_jobs           corpusID|jobID -> IngestJob
//	corpus_chunks         corpusID|fileID|u64 BE seq -> Chunk
//	corpus_chunk_keys     chunkID -> its key in corpus_chunks
//	corpus_vectors        corpusID|chunkID -> float32 little-endian, the chunk's vector
//	knowledge_settings    "embedder" -> EmbedderSetting; "storage" -> StorageSetting
//
// A file's state and its corpus's FileCounts change in the same
// transaction, so the counts always add up to the files listed.
var (
	bucketCorpora           = []byte("corpora")
	bucketCorporaByWS       = []byte("corpora_by_workspace")
	bucketCorpusFiles       = []byte("corpus_files")
	bucketCorpusJobs        = []byte("corpus_jobs")
	bucketCorpusChunks      = []byte("corpus_chunks")
	bucketCorpusChunkKeys   = []byte("corpus_chunk_keys")
	bucketCorpusVectors     = []byte("corpus_vectors")
	bucketKnowledgeSettings = []byte("knowledge_settings")
)

// Statuses of a corpus file and of an ingestion job.
const (
	IngestQueued     = "queued"
	IngestInProgress = "in_progress"
	IngestCompleted  = "completed"
	IngestFailed     = "failed"
	IngestCancelled  = "cancelled"
)

// Stages of a corpus file's ingestion.
const (
	StageQueued     = "queued"
	StageExtracting = "extracting"
	StageChunking   = "chunking"
	StageEmbedding  = "embedding"
	StageIndexing   = "indexing"
	StageDone       = "done"
)

// FileCounts counts a corpus's (or a job's) files by status.
type FileCounts struct {
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	Cancelled  int `json:"cancelled"`
	Total      int `json:"total"`
}

func (c *FileCounts) add(status string, d int) {
	switch status {
	case IngestInProgress:
		c.InProgress += d
	case IngestCompleted:
		c.Completed += d
	case IngestFailed:
		c.Failed += d
	case IngestCancelled:
		c.Cancelled += d
	}
	c.Total += d
}

// EmbedderRef names the embedder a corpus's vectors were made with.
type EmbedderRef struct {
	Provider    string `json:"provider"`
	Model       string `json:"model"`
	Dimensions  int    `json:"dimensions"`
	Fingerprint string `json:"fingerprint"`
}

// Corpus is a searchable set of workspace files.
type Corpus struct {
	ID                 string      `json:"id"`
	WorkspaceID        string      `json:"workspace_id"`
	Name               string      `json:"name"`
	Description        string      `json:"description"`
	CreatedBy          string      `json:"created_by"`
	MaxChunkTokens     int         `json:"max_chunk_tokens"`
	ChunkOverlapTokens int         `json:"chunk_overlap_tokens"`
	Embedder           EmbedderRef `json:"embedder"`
	FileCounts         FileCounts  `json:"file_counts"`
	ChunkCount         int         `json:"chunk_count"`
	UsageBytes         int64       `json:"usage_bytes"`
	// Gen increases with every change to the corpus's chunks; the
	// lexical index records the generation it holds.
	Gen       uint64    `json:"gen"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IngestError is why a file failed.
type IngestError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CorpusFile is one file of a corpus and its ingestion state.
type CorpusFile struct {
	CorpusID   string       `json:"corpus_id"`
	FileID     string       `json:"file_id"`
	Path       string       `json:"path"`
	SHA256     string       `json:"sha256"`
	Status     string       `json:"status"`
	Stage      string       `json:"stage"`
	ChunkCount int          `json:"chunk_count"`
	UsageBytes int64        `json:"usage_bytes"`
	LastError  *IngestError `json:"last_error"`
	// JobID is the job that last queued the file; only that job's
	// workers may record its outcome.
	JobID string `json:"job_id"`
	// Attempts counts the times the file's ingestion started under its
	// job; a restart resumes a file only a few times.
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// JobFile is one file's outcome within an ingestion job.
type JobFile struct {
	FileID    string       `json:"file_id"`
	Status    string       `json:"status"`
	LastError *IngestError `json:"last_error"`
}

// IngestJob is one request to ingest files into a corpus.
type IngestJob struct {
	ID         string    `json:"id"`
	CorpusID   string    `json:"corpus_id"`
	Status     string    `json:"status"`
	Files      []JobFile `json:"files"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// Counts counts the job's files by status.
func (j IngestJob) Counts() FileCounts {
	var c FileCounts
	for _, f := range j.Files {
		st := f.Status
		if st == IngestQueued {
			st = IngestInProgress
		}
		c.add(st, 1)
	}
	return c
}

// Chunk is one searchable piece of a file's extracted text.
type Chunk struct {
	ID       string `json:"id"`
	CorpusID string `json:"corpus_id"`
	FileID   string `json:"file_id"`
	Path     string `json:"path"`
	Seq      int    `json:"seq"`
	Text     string `json:"text"`
	// Start and End are byte offsets into the extracted text.
	Start  int `json:"start"`
	End    int `json:"end"`
	Tokens int `json:"tokens"`
}

// FileOutcome is what ingesting one file produced.
type FileOutcome struct {
	// Status is IngestCompleted or IngestFailed.
	Status string
	Error  *IngestError
	// Chunks and Vectors (one per chunk, or none) replace the file's
	// chunks when Status is IngestCompleted.
	Chunks  []Chunk
	Vectors [][]float32
}

// CreateCorpus stores a new corpus. ID and WorkspaceID are required; the
// workspace must exist.
func (s *Store) CreateCorpus(ctx context.Context, c Corpus) (Corpus, error) {
	err := s.Update(ctx, func(tx *Tx) error {
		if err := checkID("corpus id", c.ID); err != nil {
			return err
		}
		if err := checkID("workspace id", c.WorkspaceID); err != nil {
			return err
		}
		if tx.bucket(bucketWorkspaces).Get([]byte(c.WorkspaceID)) == nil {
			return fmt.Errorf("persist: workspace %s: %w", c.WorkspaceID, ErrNotFound)
		}
		b := tx.bucket(bucketCorpora)
		if b.Get([]byte(c.ID)) != nil {
			return fmt.Errorf("persist: corpus %s exists: %w", c.ID, ErrConflict)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now()
		}
		c.CreatedAt = normTime(c.CreatedAt)
		c.UpdatedAt = c.CreatedAt
		if err := putJSON(b, []byte(c.ID), c); err != nil {
			return err
		}
		return tx.bucket(bucketCorporaByWS).Put(key(c.WorkspaceID, c.ID), nil)
	})
	return c, err
}

// Corpus returns the corpus with that id, or ErrNotFound.
func (s *Store) Corpus(id string) (Corpus, error) {
	return view(s, (*Tx).corpus, id)
}

func (tx *Tx) corpus(id string) (Corpus, error) {
	return record[Corpus](tx, bucketCorpora, "corpus", id)
}

// ListCorpora lists the corpora of the workspaces, newest first.
func (s *Store) ListCorpora(workspaceIDs []string) ([]Corpus, error) {
	var out []Corpus
	err := s.View(func(tx *Tx) error {
		for _, ws := range workspaceIDs {
			c := tx.bucket(bucketCorporaByWS).Cursor()
			p := prefixKey(ws)
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				cp, err := tx.corpus(string(k[len(p):]))
				if err != nil {
					return err
				}
				out = append(out, cp)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Corpus) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, err
}

// UpdateCorpus applies fn to the corpus and stores it; fn may change the
// name, description and embedder only.
func (s *Store) UpdateCorpus(ctx context.Context, id string, fn func(*Corpus) error) (Corpus, error) {
	var out Corpus
	err := s.Update(ctx, func(tx *Tx) error {
		c, err := tx.corpus(id)
		if err != nil {
			return err
		}
		keep := c
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.WorkspaceID, c.CreatedAt = keep.ID, keep.WorkspaceID, keep.CreatedAt
		c.FileCounts, c.ChunkCount, c.UsageBytes, c.Gen = keep.FileCounts, keep.ChunkCount, keep.UsageBytes, keep.Gen
		c.UpdatedAt = now()
		out = c
		return putJSON(tx.bucket(bucketCorpora), []byte(id), c)
	})
	return out, err
}

// DeleteCorpus deletes a corpus with its file states, jobs, chunks and
// vectors. The workspace files stay.
func (s *Store) DeleteCorpus(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.deleteCorpus(id) })
}

func (tx *Tx) deleteCorpus(id string) error {
	c, err := tx.corpus(id)
	if err != nil {
		return err
	}
	p := prefixKey(id)
	keys := tx.bucket(bucketCorpusChunkKeys)
	chunks := tx.bucket(bucketCorpusChunks)
	var ids [][]byte
	cur := chunks.Cursor()
	for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
		var ch Chunk
		if _, err := getJSONBytes(v, &ch); err != nil {
			return err
		}
		ids = append(ids, []byte(ch.ID))
	}
	for _, cid := range ids {
		if err := keys.Delete(cid); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketCorpusChunks, bucketCorpusVectors, bucketCorpusFiles, bucketCorpusJobs} {
		if err := tx.deletePrefix(name, p); err != nil {
			return err
		}
	}
	if err := tx.bucket(bucketCorporaByWS).Delete(key(c.WorkspaceID, id)); err != nil {
		return err
	}
	return tx.bucket(bucketCorpora).Delete([]byte(id))
}

// deleteWorkspaceCorpora deletes every corpus of a workspace.
func (tx *Tx) deleteWorkspaceCorpora(wsID string) error {
	var ids []string
	c := tx.bucket(bucketCorporaByWS).Cursor()
	p := prefixKey(wsID)
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		ids = append(ids, string(k[len(p):]))
	}
	for _, id := range ids {
		if err := tx.deleteCorpus(id); err != nil {
			return err
		}
	}
	return nil
}

// deletePrefix deletes every key of bucket name that starts with p.
func (tx *Tx) deletePrefix(name, p []byte) error {
	b := tx.bucket(name)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func getJSONBytes(v []byte, out any) (bool, error) {
	if v == nil {
		return false, nil
	}
	return true, json.Unmarshal(v, out)
}

// CorpusFile returns one file's state in a corpus, or ErrNotFound.
func (s *Store) CorpusFile(corpusID, fileID string) (CorpusFile, error) {
	var f CorpusFile
	err := s.View(func(tx *Tx) error {
		var err error
		f, err = tx.corpusFile(corpusID, fileID)
		return err
	})
	return f, err
}

func (tx *Tx) corpusFile(corpusID, fileID string) (CorpusFile, error) {
	var f CorpusFile
	ok, err := getJSON(tx.bucket(bucketCorpusFiles), key(corpusID, fileID), &f)
	if err != nil {
		return f, err
	}
	if !ok {
		return f, fmt.Errorf("persist: file %s of corpus %s: %w", fileID, corpusID, ErrNotFound)
	}
	return f, nil
}

// ListCorpusFiles lists a corpus's files in file id order.
func (s *Store) ListCorpusFiles(corpusID string) ([]CorpusFile, error) {
	var out []CorpusFile
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bucketCorpusFiles).Cursor()
		p := prefixKey(corpusID)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var f CorpusFile
			if _, err := getJSONBytes(v, &f); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

// InProgressCorpusFiles lists every file of every corpus left in
// progress, as a restart finds them.
func (s *Store) InProgressCorpusFiles() ([]CorpusFile, error) {
	var out []CorpusFile
	err := s.View(func(tx *Tx) error {
		return tx.bucket(bucketCorpusFiles).ForEach(func(k, v []byte) error {
			var f CorpusFile
			if _, err := getJSONBytes(v, &f); err != nil {
				return err
			}
			if f.Status == IngestInProgress {
				out = append(out, f)
			}
			return nil
		})
	})
	return out, err
}

// StartIngestJob stores job and puts each of files in progress (queued)
// under it, replacing the state a file had, in one transaction with the
// corpus's counts. The chunks a file had stay searchable until its new
// ones replace them.
func (s *Store) StartIngestJob(ctx context.Context, job IngestJob, files []CorpusFile) (IngestJob, error) {
	err := s.Update(ctx, func(tx *Tx) error {
		if err := checkID("job id", job.ID); err != nil {
			return err
		}
		c, err := tx.corpus(job.CorpusID)
		if err != nil {
			return err
		}
		t := now()
		job.CreatedAt, job.Status = t, IngestQueued
		job.Files = job.Files[:0]
		fb := tx.bucket(bucketCorpusFiles)
		for _, f := range files {
			if err := checkID("file id", f.FileID); err != nil {
				return err
			}
			k := key(job.CorpusID, f.FileID)
			var old CorpusFile
			had, err := getJSON(fb, k, &old)
			if err != nil {
				return err
			}
			if had {
				c.FileCounts.add(old.Status, -1)
				f.CreatedAt = old.CreatedAt
				f.ChunkCount, f.UsageBytes = old.ChunkCount, old.UsageBytes
			} else {
				f.CreatedAt = t
			}
			f.CorpusID, f.JobID = job.CorpusID, job.ID
			f.Status, f.Stage, f.LastError, f.UpdatedAt, f.Attempts = IngestInProgress, StageQueued, nil, t, 0
			c.FileCounts.add(f.Status, 1)
			if err := putJSON(fb, k, f); err != nil {
				return err
			}
			job.Files = append(job.Files, JobFile{FileID: f.FileID, Status: IngestQueued})
		}
		c.UpdatedAt = t
		if err := putJSON(tx.bucket(bucketCorpora), []byte(c.ID), c); err != nil {
			return err
		}
		return putJSON(tx.bucket(bucketCorpusJobs), key(job.CorpusID, job.ID), job)
	})
	return job, err
}

// IngestJob returns a corpus's job, or ErrNotFound.
func (s *Store) IngestJob(corpusID, jobID string) (IngestJob, error) {
	var j IngestJob
	err := s.View(func(tx *Tx) error {
		var err error
		j, err = tx.ingestJob(corpusID, jobID)
		return err
	})
	return j, err
}

func (tx *Tx) ingestJob(corpusID, jobID string) (IngestJob, error) {
	var j IngestJob
	ok, err := getJSON(tx.bucket(bucketCorpusJobs), key(corpusID, jobID), &j)
	if err != nil {
		return j, err
	}
	if !ok {
		return j, fmt.Errorf("persist: job %s of corpus %s: %w", jobID, corpusID, ErrNotFound)
	}
	return j, nil
}

// ListIngestJobs lists a corpus's jobs, newest first.
func (s *Store) ListIngestJobs(corpusID string) ([]IngestJob, error) {
	var out []IngestJob
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bucketCorpusJobs).Cursor()
		p := prefixKey(corpusID)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var j IngestJob
			if _, err := getJSONBytes(v, &j); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b IngestJob) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, err
}

// SetCorpusFileStage records the stage a job's file reached. It reports
// false, writing nothing, if the file is no longer in progress under that
// job (cancelled, removed or queued again).
func (s *Store) SetCorpusFileStage(ctx context.Context, corpusID, fileID, jobID, stage string) (CorpusFile, bool, error) {
	var (
		f  CorpusFile
		ok bool
	)
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		f, err = tx.corpusFile(corpusID, fileID)
		if err != nil {
			return err
		}
		if f.JobID != jobID || f.Status != IngestInProgress {
			return nil
		}
		ok = true
		f.Stage, f.UpdatedAt = stage, now()
		if stage == StageExtracting {
			f.Attempts++
		}
		if err := putJSON(tx.bucket(bucketCorpusFiles), key(corpusID, fileID), f); err != nil {
			return err
		}
		j, err := tx.ingestJob(corpusID, jobID)
		if err != nil || j.Status != IngestQueued {
			return err
		}
		j.Status, j.StartedAt = IngestInProgress, f.UpdatedAt
		return putJSON(tx.bucket(bucketCorpusJobs), key(corpusID, jobID), j)
	})
	return f, ok, err
}

// FinishCorpusFile records a job's file's outcome: on success its chunks
// and vectors replace the ones it had, in one transaction with the file's
// state, the corpus's counts and the job's file list. It reports false,
// writing nothing, if the file is no longer in progress under that job.
func (s *Store) FinishCorpusFile(ctx context.Context, corpusID, fileID, jobID string, out FileOutcome) (CorpusFile, IngestJob, bool, error) {
	var (
		f  CorpusFile
		j  IngestJob
		ok bool
	)
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		f, err = tx.corpusFile(corpusID, fileID)
		if err != nil {
			return err
		}
		if f.JobID != jobID || f.Status != IngestInProgress {
			return nil
		}
		c, err := tx.corpus(corpusID)
		if err != nil {
			return err
		}
		t := now()
		c.FileCounts.add(f.Status, -1)
		if out.Status == IngestCompleted {
			if out.Vectors != nil && len(out.Vectors) != len(out.Chunks) {
				return fmt.Errorf("persist: %d vectors for %d chunks: %w", len(out.Vectors), len(out.Chunks), ErrInvalid)
			}
			removed, freed, err := tx.deleteFileChunks(corpusID, fileID)
			if err != nil {
				return err
			}
			c.ChunkCount -= removed
			c.UsageBytes -= freed
			var used int64
			for i, ch := range out.Chunks {
				var vec []float32
				if out.Vectors != nil {
					vec = out.Vectors[i]
				}
				n, err := tx.putChunk(corpusID, fileID, i, ch, vec)
				if err != nil {
					return err
				}
				used += n
			}
			c.ChunkCount += len(out.Chunks)
			c.UsageBytes += used
			c.Gen++
			f.ChunkCount, f.UsageBytes = len(out.Chunks), used
			f.Stage, f.LastError = StageDone, nil
		} else {
			f.LastError = out.Error
		}
		f.Status, f.UpdatedAt = out.Status, t
		c.FileCounts.add(f.Status, 1)
		c.UpdatedAt = t
		if err := putJSON(tx.bucket(bucketCorpusFiles), key(corpusID, fileID), f); err != nil {
			return err
		}
		if err := putJSON(tx.bucket(bucketCorpora), []byte(corpusID), c); err != nil {
			return err
		}
		if j, err = tx.ingestJob(corpusID, jobID); err != nil {
			return err
		}
		for i := range j.Files {
			if j.Files[i].FileID == fileID {
				j.Files[i].Status, j.Files[i].LastError = out.Status, out.Error
			}
		}
		settleJob(&j, t)
		ok = true
		return putJSON(tx.bucket(bucketCorpusJobs), key(corpusID, jobID), j)
	})
	return f, j, ok, err
}

// settleJob sets a job's status from its files once none is left to do.
func settleJob(j *IngestJob, t time.Time) {
	if j.Status == IngestCancelled {
		return
	}
	if j.StartedAt.IsZero() {
		j.StartedAt = t
	}
	j.Status = IngestInProgress
	failed, done := 0, 0
	for _, f := range j.Files {
		switch f.Status {
		case IngestQueued, IngestInProgress:
			return
		case IngestFailed:
			failed++
		}
		done++
	}
	j.FinishedAt = t
	if failed > 0 && failed == done {
		j.Status = IngestFailed
	} else {
		j.Status = IngestCompleted
	}
}

// putChunk stores one chunk (and its vector) and returns the bytes it
// takes.
func (tx *Tx) putChunk(corpusID, fileID string, seq int, ch Chunk, vec []float32) (int64, error) {
	if err := checkID("chunk id", ch.ID); err != nil {
		return 0, err
	}
	ch.CorpusID, ch.FileID, ch.Seq = corpusID, fileID, seq
	k := key(corpusID, fileID, string(u64(uint64(seq))))
	if err := putJSON(tx.bucket(bucketCorpusChunks), k, ch); err != nil {
		return 0, err
	}
	if err := tx.bucket(bucketCorpusChunkKeys).Put([]byte(ch.ID), k); err != nil {
		return 0, err
	}
	n := int64(len(ch.Text))
	if vec != nil {
		if err := tx.bucket(bucketCorpusVectors).Put(key(corpusID, ch.ID), encodeVector(vec)); err != nil {
			return 0, err
		}
		n += int64(4 * len(vec))
	}
	return n, nil
}

// deleteFileChunks deletes a file's chunks and vectors and returns how
// many chunks and bytes went.
func (tx *Tx) deleteFileChunks(corpusID, fileID string) (int, int64, error) {
	chunks := tx.bucket(bucketCorpusChunks)
	p := prefixKey(corpusID, fileID)
	var list []Chunk
	c := chunks.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var ch Chunk
		if _, err := getJSONBytes(v, &ch); err != nil {
			return 0, 0, err
		}
		list = append(list, ch)
	}
	var freed int64
	vectors, keys := tx.bucket(bucketCorpusVectors), tx.bucket(bucketCorpusChunkKeys)
	for _, ch := range list {
		vk := key(corpusID, ch.ID)
		freed += int64(len(ch.Text) + len(vectors.Get(vk)))
		if err := vectors.Delete(vk); err != nil {
			return 0, 0, err
		}
		if err := keys.Delete([]byte(ch.ID)); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.deletePrefix(bucketCorpusChunks, p); err != nil {
		return 0, 0, err
	}
	return len(list), freed, nil
}

// DeleteCorpusFile removes a file from a corpus: its state and its chunks
// go in one transaction with the corpus's counts. A job still working on
// it finds it gone and records nothing.
func (s *Store) DeleteCorpusFile(ctx context.Context, corpusID, fileID string) error {
	return s.Update(ctx, func(tx *Tx) error {
		f, err := tx.corpusFile(corpusID, fileID)
		if err != nil {
			return err
		}
		c, err := tx.corpus(corpusID)
		if err != nil {
			return err
		}
		removed, freed, err := tx.deleteFileChunks(corpusID, fileID)
		if err != nil {
			return err
		}
		c.ChunkCount -= removed
		c.UsageBytes -= freed
		c.FileCounts.add(f.Status, -1)
		c.Gen++
		c.UpdatedAt = now()
		if f.Status == IngestInProgress {
			if err := tx.dropJobFile(corpusID, f.JobID, fileID, IngestCancelled); err != nil {
				return err
			}
		}
		if err := tx.bucket(bucketCorpusFiles).Delete(key(corpusID, fileID)); err != nil {
			return err
		}
		return putJSON(tx.bucket(bucketCorpora), []byte(corpusID), c)
	})
}

// dropJobFile marks a file of a job with status and settles the job.
func (tx *Tx) dropJobFile(corpusID, jobID, fileID, status string) error {
	j, err := tx.ingestJob(corpusID, jobID)
	if err != nil {
		return nil // an old job may be gone
	}
	for i := range j.Files {
		if j.Files[i].FileID == fileID && (j.Files[i].Status == IngestQueued || j.Files[i].Status == IngestInProgress) {
			j.Files[i].Status = status
		}
	}
	settleJob(&j, now())
	return putJSON(tx.bucket(bucketCorpusJobs), key(corpusID, jobID), j)
}

// CancelIngestJob cancels a job: its files not yet done become cancelled.
// A job already finished is returned as it is.
func (s *Store) CancelIngestJob(ctx context.Context, corpusID, jobID string) (IngestJob, error) {
	var j IngestJob
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		if j, err = tx.ingestJob(corpusID, jobID); err != nil {
			return err
		}
		if j.Status != IngestQueued && j.Status != IngestInProgress {
			return nil
		}
		c, err := tx.corpus(corpusID)
		if err != nil {
			return err
		}
		t := now()
		fb := tx.bucket(bucketCorpusFiles)
		for i := range j.Files {
			jf := &j.Files[i]
			if jf.Status != IngestQueued && jf.Status != IngestInProgress {
				continue
			}
			jf.Status = IngestCancelled
			f, err := tx.corpusFile(corpusID, jf.FileID)
			if err != nil || f.JobID != jobID || f.Status != IngestInProgress {
				continue
			}
			c.FileCounts.add(f.Status, -1)
			f.Status, f.UpdatedAt = IngestCancelled, t
			c.FileCounts.add(f.Status, 1)
			if err := putJSON(fb, key(corpusID, f.FileID), f); err != nil {
				return err
			}
		}
		j.Status, j.FinishedAt = IngestCancelled, t
		if j.StartedAt.IsZero() {
			j.StartedAt = t
		}
		c.UpdatedAt = t
		if err := putJSON(tx.bucket(bucketCorpora), []byte(corpusID), c); err != nil {
			return err
		}
		return putJSON(tx.bucket(bucketCorpusJobs), key(corpusID, jobID), j)
	})
	return j, err
}

// EachChunk calls fn with every chunk of a corpus, in file and sequence
// order, inside one read transaction; fn must not keep ch's slices.
func (s *Store) EachChunk(corpusID string, fn func(ch Chunk) error) error {
	return s.View(func(tx *Tx) error {
		c := tx.bucket(bucketCorpusChunks).Cursor()
		p := prefixKey(corpusID)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var ch Chunk
			if _, err := getJSONBytes(v, &ch); err != nil {
				return err
			}
			if err := fn(ch); err != nil {
				return err
			}
		}
		return nil
	})
}

// FileChunks returns a file's chunks in a corpus, in order.
func (s *Store) FileChunks(corpusID, fileID string) ([]Chunk, error) {
	var out []Chunk
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bucketCorpusChunks).Cursor()
		p := prefixKey(corpusID, fileID)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var ch Chunk
			if _, err := getJSONBytes(v, &ch); err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// Chunks returns the chunks with those ids, in that order; ids not found
// are skipped.
func (s *Store) Chunks(ids []string) ([]Chunk, error) {
	out := make([]Chunk, 0, len(ids))
	err := s.View(func(tx *Tx) error {
		keys, chunks := tx.bucket(bucketCorpusChunkKeys), tx.bucket(bucketCorpusChunks)
		for _, id := range ids {
			k := keys.Get([]byte(id))
			if k == nil {
				continue
			}
			var ch Chunk
			if ok, err := getJSON(chunks, k, &ch); err != nil {
				return err
			} else if ok {
				out = append(out, ch)
			}
		}
		return nil
	})
	return out, err
}

// EachVector calls fn with every vector of a corpus inside one read
// transaction; vec is a fresh copy fn may keep.
func (s *Store) EachVector(corpusID string, fn func(chunkID string, vec []float32) error) error {
	return s.View(func(tx *Tx) error {
		c := tx.bucket(bucketCorpusVectors).Cursor()
		p := prefixKey(corpusID)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := fn(string(k[len(p):]), decodeVector(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// EmbedderSetting is the server's embedder configuration. The API key is
// kept sealed with the master key.
type EmbedderSetting struct {
	Provider   string `json:"provider"`
	BaseURL    string `json:"base_url"`
	Model      string `json:"model"`
	Dimensions int    `json:"dimensions"`
	BatchSize  int    `json:"batch_size"`
	// Fingerprint names the vectors this configuration makes.
	Fingerprint string    `json:"fingerprint"`
	Status      string    `json:"status"`
	LastError   string    `json:"last_error"`
	APIKeySet   bool      `json:"api_key_set"`
	Sealed      []byte    `json:"sealed,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

var (
	settingEmbedder = []byte("embedder")
	settingStorage  = []byte("storage")
)

// EmbedderSetting returns the stored embedder setting and its API key;
// false if none is stored.
func (s *Store) EmbedderSetting() (EmbedderSetting, Secret, bool, error) {
	var e EmbedderSetting
	var ok bool
	err := s.View(func(tx *Tx) error {
		var err error
		ok, err = getJSON(tx.bucket(bucketKnowledgeSettings), settingEmbedder, &e)
		return err
	})
	if err != nil || !ok || e.Sealed == nil {
		return e, "", ok, err
	}
	if s.aead == nil {
		return e, "", ok, fmt.Errorf("persist: embedder API key: %w", ErrNoMasterKey)
	}
	plain, err := open(s.aead, e.Sealed, settingEmbedder)
	if err != nil {
		return e, "", ok, fmt.Errorf("persist: embedder API key does not open: %w", err)
	}
	e.Sealed = nil
	return e, Secret(plain), ok, nil
}

// PutEmbedderSetting stores the embedder setting; apiKey, if not nil,
// replaces the stored key (an empty one removes it).
func (s *Store) PutEmbedderSetting(ctx context.Context, e EmbedderSetting, apiKey *Secret) error {
	var sealed []byte
	if apiKey != nil && *apiKey != "" {
		if s.aead == nil {
			return fmt.Errorf("persist: embedder API key: %w", ErrNoMasterKey)
		}
		var err error
		if sealed, err = seal(s.aead, []byte(*apiKey), settingEmbedder); err != nil {
			return err
		}
	}
	return s.Update(ctx, func(tx *Tx) error {
		b := tx.bucket(bucketKnowledgeSettings)
		if apiKey == nil {
			var old EmbedderSetting
			if _, err := getJSON(b, settingEmbedder, &old); err != nil {
				return err
			}
			sealed = old.Sealed
		}
		e.Sealed, e.APIKeySet = sealed, sealed != nil
		e.UpdatedAt = now()
		return putJSON(b, settingEmbedder, e)
	})
}

// StorageSetting is what an admin keeps in the store over the
// environment's defaults; zero fields keep the defaults.
type StorageSetting struct {
	AuditRetention         string `json:"audit_retention,omitempty"`
	JobRunRetention        int    `json:"job_run_retention,omitempty"`
	MaxUploadBytes         int64  `json:"max_upload_bytes,omitempty"`
	DefaultUserStoredBytes int64  `json:"default_user_stored_bytes,omitempty"`
}

// StorageSetting returns the stored storage setting (zero if none).
func (s *Store) StorageSetting() (StorageSetting, error) {
	var st StorageSetting
	err := s.View(func(tx *Tx) error {
		_, err := getJSON(tx.bucket(bucketKnowledgeSettings), settingStorage, &st)
		return err
	})
	return st, err
}

// PutStorageSetting stores the storage setting.
func (s *Store) PutStorageSetting(ctx context.Context, st StorageSetting) error {
	return s.Update(ctx, func(tx *Tx) error {
		return putJSON(tx.bucket(bucketKnowledgeSettings), settingStorage, st)
	})
}

// Usage counts what the store holds, for the storage settings.
type Usage struct {
	Sessions, Messages, Files, Chunks, Memories, AuditEntries int
	// DBBytes is the size of the embedded store's file (0 for
	// PostgreSQL); BlobBytes is what the files' bytes take.
	DBBytes, BlobBytes int64
}

// Usage counts the store's records and file bytes.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	var shas []string
	err := s.View(func(tx *Tx) error {
		u.Sessions = tx.bucket(bucketSessions).Stats().KeyN
		u.Messages = tx.bucket(bucketMessages).Stats().KeyN
		u.Files = tx.bucket(bucketFiles).Stats().KeyN
		u.Chunks = tx.bucket(bucketCorpusChunkKeys).Stats().KeyN
		u.Memories = tx.bucket(bucketMemories).Stats().KeyN
		u.AuditEntries = tx.bucket(bucketAudit).Stats().KeyN
		shas = shas[:0]
		return tx.bucket(bucketBlobRefs).ForEach(func(k, v []byte) error {
			if readU64(v) > 0 && validSHA(string(k)) {
				shas = append(shas, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return u, err
	}
	// After the transaction: the PostgreSQL backend asks the pool.
	sizes, err := s.blobs.sizes(shas)
	if err != nil {
		return u, err
	}
	for _, n := range sizes {
		u.BlobBytes += n
	}
	if s.db != nil {
		if fi, serr := os.Stat(s.db.Path()); serr == nil {
			u.DBBytes = fi.Size()
		}
	}
	return u, nil
}
