package persist_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestCorpusIngestionCountsAndFencing(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()
	u := newUser(t, s)
	c, err := s.CreateCorpus(ctx, persist.Corpus{ID: uniq("corp"), WorkspaceID: u.DefaultWorkspaceID, Name: "docs"})
	require.NoError(t, err)

	job, err := s.StartIngestJob(ctx, persist.IngestJob{ID: uniq("ing"), CorpusID: c.ID},
		[]persist.CorpusFile{{FileID: "file_a", Path: "a.md"}, {FileID: "file_b", Path: "b.md"}})
	require.NoError(t, err)
	require.Equal(t, persist.IngestQueued, job.Status)
	got, err := s.Corpus(c.ID)
	require.NoError(t, err)
	require.Equal(t, persist.FileCounts{InProgress: 2, Total: 2}, got.FileCounts)

	_, ok, err := s.SetCorpusFileStage(ctx, c.ID, "file_a", job.ID, persist.StageChunking)
	require.NoError(t, err)
	require.True(t, ok)
	chunks := []persist.Chunk{{ID: uniq("chk"), Path: "a.md", Text: "alpha"}, {ID: uniq("chk"), Path: "a.md", Text: "beta"}}
	f, j, ok, err := s.FinishCorpusFile(ctx, c.ID, "file_a", job.ID, persist.FileOutcome{
		Status: persist.IngestCompleted, Chunks: chunks, Vectors: [][]float32{{1, 0}, {0, 1}},
	})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2, f.ChunkCount)
	require.Equal(t, persist.IngestInProgress, j.Status)

	// A stale job may not record an outcome once the file was cancelled.
	cancelled, err := s.CancelIngestJob(ctx, c.ID, job.ID)
	require.NoError(t, err)
	require.Equal(t, persist.IngestCancelled, cancelled.Status)
	_, _, ok, err = s.FinishCorpusFile(ctx, c.ID, "file_b", job.ID, persist.FileOutcome{Status: persist.IngestCompleted})
	require.NoError(t, err)
	require.False(t, ok, "a cancelled file's late outcome is dropped")

	got, err = s.Corpus(c.ID)
	require.NoError(t, err)
	require.Equal(t, persist.FileCounts{Completed: 1, Cancelled: 1, Total: 2}, got.FileCounts)
	require.Equal(t, 2, got.ChunkCount)

	var vecs int
	require.NoError(t, s.EachVector(c.ID, func(string, []float32) error { vecs++; return nil }))
	require.Equal(t, 2, vecs)
	byID, err := s.Chunks([]string{chunks[1].ID, chunks[0].ID})
	require.NoError(t, err)
	require.Equal(t, []string{"beta", "alpha"}, []string{byID[0].Text, byID[1].Text})

	require.NoError(t, s.DeleteCorpusFile(ctx, c.ID, "file_a"))
	got, err = s.Corpus(c.ID)
	require.NoError(t, err)
	require.Equal(t, persist.FileCounts{Cancelled: 1, Total: 1}, got.FileCounts)
	require.Zero(t, got.ChunkCount)
	byID, err = s.Chunks([]string{chunks[0].ID})
	require.NoError(t, err)
	require.Empty(t, byID)

	require.NoError(t, s.DeleteCorpus(ctx, c.ID))
	_, err = s.Corpus(c.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	jobs, err := s.ListIngestJobs(c.ID)
	require.NoError(t, err)
	require.Empty(t, jobs)
}

func TestInProgressCorpusFilesAfterReopen(t *testing.T) {
	cfg := persisttest.Config(t, persist.Config{})
	s := reopen(t, cfg)
	u := newUser(t, s)
	c, err := s.CreateCorpus(t.Context(), persist.Corpus{ID: uniq("corp"), WorkspaceID: u.DefaultWorkspaceID, Name: "docs"})
	require.NoError(t, err)
	_, err = s.StartIngestJob(t.Context(), persist.IngestJob{ID: uniq("ing"), CorpusID: c.ID}, []persist.CorpusFile{{FileID: "file_x", Path: "x.txt"}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s = reopen(t, cfg)
	left, err := s.InProgressCorpusFiles()
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, "file_x", left[0].FileID)
}
