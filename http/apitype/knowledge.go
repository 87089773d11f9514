package apitype

import "time"

// ChunkingStrategy is how a corpus cuts its files into chunks.
type ChunkingStrategy struct {
	// MaxChunkSizeTokens is 100–4096 (800).
	MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
	// ChunkOverlapTokens is at most half of MaxChunkSizeTokens (400).
	ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
}

// ChunkingStrategyRequest is a chunking strategy as a create request gives
// it; an omitted field takes its default.
type ChunkingStrategyRequest struct {
	MaxChunkSizeTokens *int `json:"max_chunk_size_tokens,omitempty"`
	ChunkOverlapTokens *int `json:"chunk_overlap_tokens,omitempty"`
}

// FileCounts counts a corpus's or an ingestion job's files by status.
type FileCounts struct {
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	Cancelled  int `json:"cancelled"`
	Total      int `json:"total"`
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
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Status is empty, in_progress, completed, failed or needs_reindex
	// (its vectors are another embedder's than the configured one).
	Status           string           `json:"status"`
	FileCounts       FileCounts       `json:"file_counts"`
	ChunkCount       int              `json:"chunk_count"`
	UsageBytes       int64            `json:"usage_bytes"`
	ChunkingStrategy ChunkingStrategy `json:"chunking_strategy"`
	Embedder         EmbedderRef      `json:"embedder"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`
}

// CorpusList is a page of corpora, newest first.
type CorpusList struct {
	Data       []Corpus `json:"data"`
	NextCursor string   `json:"next_cursor"`
}

// CreateCorpusRequest is the body of POST /api/v1/corpora.
type CreateCorpusRequest struct {
	Name             string                   `json:"name"`
	Description      string                   `json:"description,omitempty"`
	WorkspaceID      string                   `json:"workspace_id,omitempty"`
	ChunkingStrategy *ChunkingStrategyRequest `json:"chunking_strategy,omitempty"`
}

// UpdateCorpusRequest is the body of PATCH /api/v1/corpora/{id}.
type UpdateCorpusRequest struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// IngestError is why a file failed: code is unsupported_type,
// extraction_failed, embedding_failed, file_missing or interrupted.
type IngestError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CorpusFile is a workspace file in a corpus, with its ingestion state.
type CorpusFile struct {
	CorpusID string `json:"corpus_id"`
	FileID   string `json:"file_id"`
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	// Status is in_progress, completed, failed or cancelled.
	Status string `json:"status"`
	// Stage is queued, extracting, chunking, embedding, indexing or done.
	Stage      string       `json:"stage"`
	ChunkCount int          `json:"chunk_count"`
	LastError  *IngestError `json:"last_error"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// AddCorpusFilesRequest is the body of POST /api/v1/corpora/{id}/files.
type AddCorpusFilesRequest struct {
	FileIDs []string `json:"file_ids"`
}

// IngestJobFile is one file's outcome in an ingestion job.
type IngestJobFile struct {
	FileID    string       `json:"file_id"`
	Status    string       `json:"status"`
	LastError *IngestError `json:"last_error"`
}

// IngestJob is one batch of files being ingested: every file's outcome is
// listed, and one bad file never fails the others.
type IngestJob struct {
	ID       string `json:"id"`
	CorpusID string `json:"corpus_id"`
	// Status is queued, in_progress, completed, failed or cancelled.
	Status     string          `json:"status"`
	FileCounts FileCounts      `json:"file_counts"`
	Files      []IngestJobFile `json:"files"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

// CorpusEvent is the data of an `event: corpus` of GET
// /api/v1/corpora/{id}/events: a file's new state. Status "removed" says
// the file left the corpus.
type CorpusEvent struct {
	FileID     string       `json:"file_id"`
	Status     string       `json:"status"`
	Stage      string       `json:"stage"`
	ChunkCount int          `json:"chunk_count"`
	LastError  *IngestError `json:"last_error"`
}

// SearchCorpusRequest is the body of POST /api/v1/corpora/{id}/search.
type SearchCorpusRequest struct {
	Query string `json:"query"`
	// MaxNumResults is 1–50 (10).
	MaxNumResults int `json:"max_num_results,omitempty"`
	// Ranker is auto (the default), bm25, vector or hybrid.
	Ranker string `json:"ranker,omitempty"`
	// ScoreThreshold drops results scoring below it (0–1).
	ScoreThreshold *float64 `json:"score_threshold,omitempty"`
}

// SearchHit is one search result; Start and End are byte offsets into the
// file's extracted text.
type SearchHit struct {
	ChunkID string  `json:"chunk_id"`
	FileID  string  `json:"file_id"`
	Path    string  `json:"path"`
	Score   float64 `json:"score"`
	Text    string  `json:"text"`
	Start   int     `json:"start"`
	End     int     `json:"end"`
}

// SearchCorpusResponse answers a corpus search. Ranker is the ranker that
// ran; Warnings say why results may be missing (embedder_mismatch,
// embedder_unavailable, corpus_empty, ingestion_in_progress,
// all_files_failed, no_chunks).
type SearchCorpusResponse struct {
	Data     []SearchHit `json:"data"`
	Ranker   string      `json:"ranker"`
	Warnings []string    `json:"warnings"`
}

// EmbedderSettings is the body of GET /api/v1/settings/embedder.
type EmbedderSettings struct {
	// Provider is builtin or openai.
	Provider    string `json:"provider"`
	BaseURL     string `json:"base_url"`
	Model       string `json:"model"`
	Dimensions  int    `json:"dimensions"`
	BatchSize   int    `json:"batch_size,omitempty"`
	APIKeySet   bool   `json:"api_key_set"`
	Fingerprint string `json:"fingerprint"`
	// Status is ok or error (the last probe failed: LastError says why).
	Status    string `json:"status"`
	LastError string `json:"last_error"`
}

// EmbedderSettingsRequest is the body of PUT /api/v1/settings/embedder.
// APIKey is write-only; omitted (or empty) keeps the stored one, which is
// refused when the provider or base_url changes.
type EmbedderSettingsRequest struct {
	Provider   string  `json:"provider"`
	BaseURL    *string `json:"base_url,omitempty"`
	APIKey     *string `json:"api_key,omitempty"`
	Model      *string `json:"model,omitempty"`
	Dimensions *int    `json:"dimensions,omitempty"`
	BatchSize  *int    `json:"batch_size,omitempty"`
}

// EmbedderTestResult answers POST /api/v1/settings/embedder/test.
type EmbedderTestResult struct {
	OK         bool   `json:"ok"`
	Dimensions int    `json:"dimensions"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error"`
}

// StorageUsage is what the store and the data dir hold.
type StorageUsage struct {
	DBBytes      int64 `json:"db_bytes"`
	BlobBytes    int64 `json:"blob_bytes"`
	IndexBytes   int64 `json:"index_bytes"`
	Sessions     int   `json:"sessions"`
	Messages     int   `json:"messages"`
	Files        int   `json:"files"`
	Chunks       int   `json:"chunks"`
	Memories     int   `json:"memories"`
	AuditEntries int   `json:"audit_entries"`
}

// StorageRetention is how long records are kept.
type StorageRetention struct {
	// Audit is how long audit entries are kept, as a Go duration
	// ("2160h"); "0" keeps them forever.
	Audit string `json:"audit"`
	// JobRuns is how many runs each scheduled job keeps.
	JobRuns int `json:"job_runs"`
}

// StorageLimits are the storage caps.
type StorageLimits struct {
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	// DefaultUserStoredBytes is the stored_bytes quota of a user with no
	// quota of their own; 0 is none.
	DefaultUserStoredBytes int64 `json:"default_user_stored_bytes"`
}

// StorageSettings is the body of GET /api/v1/settings/storage.
type StorageSettings struct {
	Usage     StorageUsage     `json:"usage"`
	Retention StorageRetention `json:"retention"`
	Limits    StorageLimits    `json:"limits"`
}

// StorageSettingsRequest is the body of PATCH /api/v1/settings/storage;
// omitted fields keep their value.
type StorageSettingsRequest struct {
	Retention *StorageRetentionRequest `json:"retention,omitempty"`
	Limits    *StorageLimitsRequest    `json:"limits,omitempty"`
}

// StorageRetentionRequest changes the retention settings.
type StorageRetentionRequest struct {
	Audit   *string `json:"audit,omitempty"`
	JobRuns *int    `json:"job_runs,omitempty"`
}

// StorageLimitsRequest changes the storage caps.
type StorageLimitsRequest struct {
	MaxUploadBytes         *int64 `json:"max_upload_bytes,omitempty"`
	DefaultUserStoredBytes *int64 `json:"default_user_stored_bytes,omitempty"`
}
