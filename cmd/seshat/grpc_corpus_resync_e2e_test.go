package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCWatchCorpusResync checks that WatchCorpus says so, as REST's
// resync marker does, when events after the cursor are no longer kept: a
// message with only resync comes first, then the oldest events kept; a
// cursor whose events are all kept gets no such message.
func TestGRPCWatchCorpusResync(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	alice := g.register(t, "alice@example.com", "password123").Token
	const svc = "/seshat.v1.CorpusService/"
	var made seshatv1.CreateCorpusResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"CreateCorpus", &seshatv1.CreateCorpusRequest{Name: "Many"}, &made))
	id := made.GetCorpus().GetId()

	const files = 60
	ids := make([]string, files)
	for i := range ids {
		ids[i] = g.grpcUpload(t, ctx, alice, fmt.Sprintf("note-%03d.txt", i), fmt.Appendf(nil, "Note %d about kestrels.", i)).GetId()
	}
	waitJob := func(job *seshatv1.IngestionJob) {
		t.Helper()
		require.Eventually(t, func() bool {
			var got seshatv1.GetIngestionJobResponse
			require.NoError(t, g.invoke(ctx, alice, svc+"GetIngestionJob", &seshatv1.GetIngestionJobRequest{Id: id, JobId: job.GetId()}, &got))
			return got.GetJob().GetStatus() == "completed"
		}, 60*time.Second, 20*time.Millisecond)
	}
	// first opens a watch after the cursor and returns its first message.
	first := func(after uint64) *seshatv1.WatchCorpusResponse {
		t.Helper()
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := g.openStream(t, wctx, alice, svc+"WatchCorpus", &seshatv1.WatchCorpusRequest{Id: id, After: after})
		var ev seshatv1.WatchCorpusResponse
		require.NoError(t, w.RecvMsg(&ev))
		return &ev
	}

	var added seshatv1.AddCorpusFilesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"AddCorpusFiles", &seshatv1.AddCorpusFilesRequest{Id: id, FileIds: ids}, &added))
	waitJob(added.GetJob())
	require.False(t, first(0).GetResync(), "every event is still kept")

	// Each reindex adds events for every file, until the first ones are
	// no longer kept (a corpus keeps 1024).
	resynced := false
	for range 20 {
		var re seshatv1.ReindexCorpusResponse
		require.NoError(t, g.invoke(ctx, alice, svc+"ReindexCorpus", &seshatv1.ReindexCorpusRequest{Id: id}, &re))
		waitJob(re.GetJob())
		if ev := first(0); ev.GetResync() {
			resynced = true
			require.Zero(t, ev.GetId(), "the marker is not numbered")
			require.Empty(t, ev.GetFileId())
			break
		}
	}
	require.True(t, resynced, "no resync after the events outgrew what a corpus keeps")

	// After the marker come the oldest events kept; a cursor among the
	// newest kept gets its events without one.
	wctx, cancel := context.WithCancel(ctx)
	w := g.openStream(t, wctx, alice, svc+"WatchCorpus", &seshatv1.WatchCorpusRequest{Id: id})
	var marker, oldest seshatv1.WatchCorpusResponse
	require.NoError(t, w.RecvMsg(&marker))
	require.NoError(t, w.RecvMsg(&oldest))
	cancel()
	require.True(t, marker.GetResync())
	require.False(t, oldest.GetResync())
	require.Greater(t, oldest.GetId(), uint64(2), "the first events are gone")
	kept := oldest.GetId() + 500
	again := first(kept)
	require.False(t, again.GetResync())
	require.Equal(t, kept+1, again.GetId())
}
