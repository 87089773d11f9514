package host

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// corpusExtension retrieves one source per corpus of the turn's context
// and records the contexts it saw.
type corpusExtension struct {
	mu   sync.Mutex
	seen []agent.TurnContext
}

func (e *corpusExtension) Prepare(_ context.Context, s turn.Setup) (turn.Contribution, error) {
	e.mu.Lock()
	e.seen = append(e.seen, s.Context)
	e.mu.Unlock()
	var c turn.Contribution
	for _, id := range s.Context.CorpusIDs {
		src := agent.Source{CorpusID: id, ChunkID: "chk_" + id, Path: id + ".md", Score: 1, Text: "text", Origin: agent.SourcePrefetch}
		c.Sources = append(c.Sources, src)
		c.Events = append(c.Events, agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
			Type: agent.RuntimeRAGResults, CorpusID: id, Results: []agent.SourceRef{src.Ref()},
		}})
	}
	if s.Context.Memory != nil && s.Context.Memory.Inject {
		c.Memories = []agent.Memory{{ID: "mem_1", Content: "likes tea"}}
	}
	return c, nil
}

func (e *corpusExtension) contexts() []agent.TurnContext {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]agent.TurnContext(nil), e.seen...)
}

// TestTurnContextReachesExtensions follows a turn context from the
// request and the session record to the extensions, and what they found
// into the result and the stream.
func TestTurnContextReachesExtensions(t *testing.T) {
	leakCheck(t)
	store := persisttest.Open(t)
	reg := provider.NewRegistry()
	reg.Register("mock", provider.NewMock())
	ext := &corpusExtension{}
	h, err := New(Config{Store: store, Providers: reg, Extensions: []turn.Extension{ext}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "a@example.com", Name: "A"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)

	sess, err := h.CreateSession(t.Context(), u.ID, SessionOptions{Context: agent.TurnContext{
		CorpusIDs: []string{"corp_a"}, Memory: &agent.MemoryPolicy{Extract: agent.MemoryExtractOff, Inject: true},
	}})
	require.NoError(t, err)
	got, err := store.Session(sess.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"corp_a"}, got.CorpusIDs)

	// The session's corpora and memory setting apply.
	res, err := h.Query(t.Context(), u.ID, TurnRequest{SessionID: sess.ID, Prompt: "@sources\n@memories"})
	require.NoError(t, err)
	require.Equal(t, "sources: corp_a.md\nmemories: likes tea", res.Content)
	require.Len(t, res.RAGResults, 1)
	require.Equal(t, []string{"mem_1"}, res.MemoriesUsed)

	// A turn's own corpora win over the session's; the stream carries
	// rag_results before the first text.
	st, err := h.StartTurn(t.Context(), u.ID, TurnRequest{SessionID: sess.ID, Prompt: "@sources", Stream: true,
		Options: turn.Options{Context: agent.TurnContext{CorpusIDs: []string{"corp_b", "corp_c"}}}})
	require.NoError(t, err)
	var evs []agent.Event
	evs = append(evs, st.Events.Replay...)
	for ev := range st.Events.C {
		evs = append(evs, *ev)
	}
	st.Events.Close()
	var kinds []string
	for _, ev := range evs {
		switch {
		case ev.Kind == agent.KindRuntime:
			kinds = append(kinds, ev.Runtime.Type)
		case ev.Kind == agent.KindDelta:
			kinds = append(kinds, "delta")
		case ev.Kind == agent.KindDone:
			kinds = append(kinds, "done")
			require.Equal(t, "sources: corp_b.md, corp_c.md", ev.Result.Content)
			require.Len(t, ev.Result.RAGResults, 2)
		}
	}
	require.Equal(t, []string{"session", "rag_results", "rag_results", "delta", "delta", "delta", "done"}, kinds)
	require.Equal(t, []string{"corp_b", "corp_c"}, ext.contexts()[1].CorpusIDs)
	require.NotNil(t, ext.contexts()[1].Memory, "the session's memory setting stays")
}
