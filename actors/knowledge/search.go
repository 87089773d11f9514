package knowledge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Rankers.
const (
	RankerAuto   = "auto"
	RankerBM25   = "bm25"
	RankerVector = "vector"
	RankerHybrid = "hybrid"
)

// Search warnings: a search never returns nothing silently.
const (
	WarnEmbedderMismatch   = "embedder_mismatch"
	WarnEmbedderFailed     = "embedder_unavailable"
	WarnCorpusEmpty        = "corpus_empty"
	WarnIngestionRunning   = "ingestion_in_progress"
	WarnAllFilesFailed     = "all_files_failed"
	WarnNoChunks           = "no_chunks"
	maxQueryBytes          = 8 << 10
	DefaultMaxResults      = 10
	MaxResults             = 50
	DefaultRetrieveResults = 5
)

// SearchRequest is a search of one corpus.
type SearchRequest struct {
	Query string
	// MaxResults is 1–50; zero is 10.
	MaxResults int
	// Ranker is auto (the default), bm25, vector or hybrid.
	Ranker string
	// ScoreThreshold, if set, drops results scoring below it (0–1).
	ScoreThreshold *float64
}

// Hit is one search result.
type Hit struct {
	CorpusID, ChunkID, FileID, Path, Text string
	Score                                 float64
	Start, End                            int
}

// SearchResult is a search's answer.
type SearchResult struct {
	Hits     []Hit
	Ranker   string
	Warnings []string
}

// Search searches a corpus the user reads.
func (s *Service) Search(ctx context.Context, userID, corpusID string, req SearchRequest) (SearchResult, error) {
	c, err := s.corpusFor(userID, corpusID, RoleViewer)
	if err != nil {
		return SearchResult{}, err
	}
	if strings.TrimSpace(req.Query) == "" {
		return SearchResult{}, fmt.Errorf("%w: query is required", agent.ErrInvalid)
	}
	if len(req.Query) > maxQueryBytes {
		return SearchResult{}, fmt.Errorf("%w: query is longer than %d bytes", agent.ErrInvalid, maxQueryBytes)
	}
	if req.MaxResults == 0 {
		req.MaxResults = DefaultMaxResults
	}
	if req.MaxResults < 1 || req.MaxResults > MaxResults {
		return SearchResult{}, fmt.Errorf("%w: max_num_results must be between 1 and %d", agent.ErrInvalid, MaxResults)
	}
	switch req.Ranker {
	case "", RankerAuto, RankerBM25, RankerVector, RankerHybrid:
	default:
		return SearchResult{}, fmt.Errorf("%w: ranker must be auto, bm25, vector or hybrid", agent.ErrInvalid)
	}
	if t := req.ScoreThreshold; t != nil && (*t < 0 || *t > 1) {
		return SearchResult{}, fmt.Errorf("%w: score_threshold must be between 0 and 1", agent.ErrInvalid)
	}
	return s.search(ctx, c, req)
}

// search runs a validated search of corpus c.
func (s *Service) search(ctx context.Context, c persist.Corpus, req SearchRequest) (SearchResult, error) {
	var res SearchResult
	warn := func(w string) {
		for _, have := range res.Warnings {
			if have == w {
				return
			}
		}
		res.Warnings = append(res.Warnings, w)
	}
	emb := s.Embedder()
	mismatch := c.ChunkCount > 0 && c.Embedder.Fingerprint != emb.Ref().Fingerprint
	ranker := req.Ranker
	switch {
	case ranker == "" || ranker == RankerAuto:
		ranker = RankerHybrid
		if mismatch {
			ranker = RankerBM25
		}
	case mismatch && ranker != RankerBM25:
		ranker = RankerBM25
	}
	if mismatch {
		warn(WarnEmbedderMismatch)
	}
	fc := c.FileCounts
	if fc.InProgress > 0 {
		warn(WarnIngestionRunning)
	}
	if c.ChunkCount == 0 {
		switch {
		case fc.Total == 0:
			warn(WarnCorpusEmpty)
		case fc.Completed == 0 && fc.Failed > 0 && fc.InProgress == 0:
			warn(WarnAllFilesFailed)
		case fc.InProgress == 0:
			warn(WarnNoChunks)
		}
		res.Ranker = ranker
		res.Hits = []Hit{}
		return res, nil
	}

	var qvec []float32
	if ranker != RankerBM25 {
		vecs, err := emb.Embed(ctx, []string{req.Query})
		if err != nil || len(vecs) != 1 {
			if ctx.Err() != nil {
				return SearchResult{}, ctx.Err()
			}
			s.log.Warn("embed the query", "corpus_id", c.ID, "error", err)
			warn(WarnEmbedderFailed)
			ranker = RankerBM25
		} else {
			qvec = vecs[0]
		}
	}
	res.Ranker = ranker
	k := req.MaxResults
	pool := k
	if ranker == RankerHybrid {
		pool = max(4*k, 50)
	}

	x := s.index(c.ID)
	if err := s.fresh(x, c.Gen, ranker); err != nil {
		return SearchResult{}, err
	}
	x.mu.RLock()
	var lex, vec []hit
	var err error
	if ranker == RankerBM25 || ranker == RankerHybrid {
		if x.lex == nil {
			err = errNoIndex
		} else {
			lex, err = x.searchLexical(req.Query, pool)
		}
	}
	if err == nil && (ranker == RankerVector || ranker == RankerHybrid) {
		vec = x.searchVectors(qvec, pool)
	}
	x.mu.RUnlock()
	if err != nil {
		return SearchResult{}, fmt.Errorf("knowledge: search: %w", err)
	}
	var ranked []hit
	switch ranker {
	case RankerBM25:
		ranked = lex
		for i := range ranked {
			ranked[i].score = bm25Score(ranked[i].score)
		}
	case RankerVector:
		ranked = vec
		for i := range ranked {
			ranked[i].score = max(0, min(1, ranked[i].score))
		}
	default:
		ranked = fuse(lex, vec)
	}
	if t := req.ScoreThreshold; t != nil {
		kept := ranked[:0]
		for _, h := range ranked {
			if h.score >= *t {
				kept = append(kept, h)
			}
		}
		ranked = kept
	}
	if len(ranked) > k {
		ranked = ranked[:k]
	}
	ids := make([]string, len(ranked))
	for i, h := range ranked {
		ids[i] = h.id
	}
	chunks, err := s.store.Chunks(ids)
	if err != nil {
		return SearchResult{}, err
	}
	byID := make(map[string]persist.Chunk, len(chunks))
	for _, ch := range chunks {
		byID[ch.ID] = ch
	}
	res.Hits = make([]Hit, 0, len(ranked))
	for _, h := range ranked {
		ch, ok := byID[h.id]
		if !ok {
			continue // removed since the index saw it
		}
		res.Hits = append(res.Hits, Hit{CorpusID: c.ID, ChunkID: ch.ID, FileID: ch.FileID, Path: ch.Path, Text: ch.Text,
			Score: h.score, Start: ch.Start, End: ch.End})
	}
	return res, nil
}

// fresh brings the corpus's index to generation gen for the ranker.
func (s *Service) fresh(x *corpusIndex, gen uint64, ranker string) error {
	x.mu.RLock()
	ok := (ranker == RankerVector || (x.lex != nil && x.lexGen == gen)) &&
		(ranker == RankerBM25 || (x.vecLoaded && x.vecGen == gen))
	x.mu.RUnlock()
	if ok {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if ranker != RankerVector {
		if err := x.ensureLexical(s.store, gen); err != nil {
			return err
		}
	}
	if ranker != RankerBM25 {
		if err := x.ensureVectors(s.store, gen); err != nil {
			return err
		}
	}
	return nil
}

// Retrieve searches the corpora for a turn of userID in workspace wsID:
// every corpus must be the user's to read and in that workspace (else
// agent.ErrNotFound). It returns the top k hits of each corpus, best
// first, and the searches' warnings.
func (s *Service) Retrieve(ctx context.Context, userID, wsID string, corpusIDs []string, query string, k int) ([][]Hit, []string, error) {
	if k <= 0 {
		k = DefaultRetrieveResults
	}
	k = min(k, MaxResults)
	query = clipQuery(query)
	var corpora []persist.Corpus
	for _, id := range corpusIDs {
		c, err := s.corpusFor(userID, id, RoleViewer)
		if err != nil {
			return nil, nil, err
		}
		if wsID != "" && c.WorkspaceID != wsID {
			return nil, nil, fmt.Errorf("corpus %q: %w", id, agent.ErrNotFound)
		}
		corpora = append(corpora, c)
	}
	out := make([][]Hit, len(corpora))
	var warnings []string
	if strings.TrimSpace(query) == "" {
		return out, nil, nil
	}
	for i, c := range corpora {
		res, err := s.search(ctx, c, SearchRequest{Query: query, MaxResults: k})
		if err != nil {
			return nil, nil, err
		}
		out[i] = res.Hits
		warnings = append(warnings, res.Warnings...)
	}
	return out, warnings, nil
}

// CheckCorpora reports agent.ErrNotFound unless every corpus is one the
// user reads (and, if wsID is set, of that workspace).
func (s *Service) CheckCorpora(userID, wsID string, corpusIDs []string) error {
	for _, id := range corpusIDs {
		c, err := s.corpusFor(userID, id, RoleViewer)
		if err != nil {
			return err
		}
		if wsID != "" && c.WorkspaceID != wsID {
			return fmt.Errorf("corpus %q: %w", id, agent.ErrNotFound)
		}
	}
	return nil
}

// clipQuery keeps a turn's prompt to the first maxQueryBytes, on a rune
// boundary.
func clipQuery(q string) string {
	if len(q) <= maxQueryBytes {
		return q
	}
	q = q[:maxQueryBytes]
	for len(q) > 0 && !utf8.ValidString(q) {
		q = q[:len(q)-1]
	}
	return q
}

// FormatSources renders retrieved chunks as the numbered sources a model
// sees, each with its path.
func FormatSources(hits []Hit) string {
	if len(hits) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Sources retrieved from the workspace's documents for this request. " +
		"Use them when they help and cite them by number, like [1].\n")
	for i, h := range hits {
		b.WriteString("\n[" + strconv.Itoa(i+1) + "] " + h.Path + "\n")
		b.WriteString(strings.TrimSpace(h.Text))
		b.WriteString("\n")
	}
	return b.String()
}
