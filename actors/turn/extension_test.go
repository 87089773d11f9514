package turn

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tool"
)

// fakeRetrieval contributes like a retrieval family would: sources, an
// event, a system part and a search tool that reports more sources.
type fakeRetrieval struct {
	seen []Setup
}

func (f *fakeRetrieval) Prepare(_ context.Context, s Setup) (Contribution, error) {
	f.seen = append(f.seen, s)
	if len(s.Context.CorpusIDs) == 0 {
		return Contribution{}, nil
	}
	src := []agent.Source{
		{CorpusID: "corp_1", ChunkID: "chk_1", Path: "docs/a.md", Score: 0.9, Text: "alpha", Origin: agent.SourcePrefetch},
		{CorpusID: "corp_1", ChunkID: "chk_2", Path: "docs/b.md", Score: 0.5, Text: "beta", Origin: agent.SourcePrefetch},
		{CorpusID: "corp_1", ChunkID: "chk_3", Path: "docs/a.md", Score: 0.4, Text: "gamma", Origin: agent.SourcePrefetch},
	}
	refs := make([]agent.SourceRef, len(src))
	for i, s := range src {
		refs[i] = s.Ref()
	}
	search := testTool{name: "search_corpus", readOnly: true, run: func(_ context.Context, c tool.Call) (string, error) {
		c.Sources([]agent.Source{{CorpusID: "corp_1", ChunkID: "chk_9", Path: "docs/z.md", Origin: agent.SourceTool}})
		return "one hit", nil
	}}
	return Contribution{
		System:  "Sources:\n[1] docs/a.md",
		Tools:   []tool.Tool{search},
		Events:  []agent.Event{{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimeRAGResults, CorpusID: "corp_1", Results: refs}}},
		Sources: src,
	}, nil
}

// fakeMemory recalls one memory and hides a tool.
type fakeMemory struct{}

func (fakeMemory) Prepare(context.Context, Setup) (Contribution, error) {
	return Contribution{
		Memories: []agent.Memory{{ID: "mem_1", Content: "likes tea"}},
		Deny:     []string{"fail"},
	}, nil
}

// fakePlans is a Finisher that names a plan and emits plan_proposed.
type fakePlans struct{ finished int }

func (*fakePlans) Prepare(context.Context, Setup) (Contribution, error) { return Contribution{}, nil }

func (p *fakePlans) Finish(_ context.Context, s Setup, res *Result, emit func(agent.Event)) {
	p.finished++
	if s.Mode != agent.ModePlan {
		return
	}
	res.PlanID = "plan_1"
	emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{Type: agent.RuntimePlanProposed, PlanID: "plan_1", Version: 1}})
}

type failingExtension struct{}

func (failingExtension) Prepare(context.Context, Setup) (Contribution, error) {
	return Contribution{}, errors.New("index unavailable")
}

func newExtFixture(t *testing.T, exts ...Extension) (*Runner, *recProvider) {
	t.Helper()
	rec := &recProvider{}
	providers := provider.NewRegistry()
	providers.Register("rec", rec)
	r, err := New(Config{
		Providers:  providers,
		Tools:      tool.NewRegistry(append(tool.Builtins(), extraTools...)...),
		Files:      &mapFiles{files: map[string][]byte{}},
		Extensions: exts,
	})
	require.NoError(t, err)
	return r, rec
}

func TestExtensionsContribute(t *testing.T) {
	ret, plans := &fakeRetrieval{}, &fakePlans{}
	r, rec := newExtFixture(t, ret, fakeMemory{}, plans)

	in := input("@sources\n@memories")
	in.Model = "rec:x"
	in.SystemPrompt = "Be brief."
	in.Context = agent.TurnContext{CorpusIDs: []string{"corp_1"}}
	sink := &recSink{}
	res := r.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)

	require.Equal(t, "sources: docs/a.md, docs/b.md\nmemories: likes tea", res.Content)
	require.Len(t, ret.seen, 1)
	require.Equal(t, "@sources\n@memories", ret.seen[0].Prompt)
	require.Equal(t, []string{"corp_1"}, ret.seen[0].Context.CorpusIDs)

	req := rec.reqs[0]
	require.Equal(t, "Be brief.\n\nSources:\n[1] docs/a.md", req.System)
	var names []string
	for _, s := range req.Tools {
		names = append(names, s.Name)
	}
	require.Contains(t, names, "search_corpus")
	require.NotContains(t, names, "fail", "a denied tool is not offered")
	require.Len(t, req.Sources, 3)
	require.Equal(t, []agent.Memory{{ID: "mem_1", Content: "likes tea"}}, req.Memories)

	rt := sink.runtime()
	require.Equal(t, agent.RuntimeRAGResults, rt[0].Type)
	require.Equal(t, "sess_test", rt[0].SessionID)
	require.Equal(t, "turn_test", rt[0].TurnID)
	require.Len(t, rt[0].Results, 3)
	require.Len(t, res.Sources, 3)
	require.Len(t, res.Memories, 1)
	require.Equal(t, 1, plans.finished)
	require.Empty(t, res.PlanID, "no plan outside plan mode")
}

func TestExtensionToolReportsSources(t *testing.T) {
	r, _ := newExtFixture(t, &fakeRetrieval{})
	in := input(`@tool search_corpus {"query":"z"}`)
	in.Context = agent.TurnContext{CorpusIDs: []string{"corp_1"}}
	res := r.Run(t.Context(), &in, &recSink{})
	require.NoError(t, res.Err)
	require.Equal(t, "tool search_corpus returned: one hit", res.Content)
	require.Len(t, res.Sources, 4)
	require.Equal(t, agent.SourceTool, res.Sources[3].Origin)
}

func TestExtensionDeniedToolIsUnknown(t *testing.T) {
	r, _ := newExtFixture(t, fakeMemory{})
	res := r.Run(t.Context(), ptr(input(`@tool fail {}`)), &recSink{})
	require.NoError(t, res.Err)
	require.Equal(t, "tool fail returned: unknown tool: fail", res.Content)
}

func TestExtensionFinisherInPlanMode(t *testing.T) {
	plans := &fakePlans{}
	r, _ := newExtFixture(t, plans)
	in := input("plan the move")
	in.PermissionMode = agent.ModePlan
	sink := &recSink{}
	res := r.Run(t.Context(), &in, sink)
	require.NoError(t, res.Err)
	require.Equal(t, "plan_1", res.PlanID)
	rt := sink.runtime()
	require.Equal(t, agent.RuntimePlanProposed, rt[len(rt)-1].Type)
	require.Equal(t, 1, rt[len(rt)-1].Version)
}

func TestExtensionErrorFailsTurn(t *testing.T) {
	plans := &fakePlans{}
	r, rec := newExtFixture(t, failingExtension{}, plans)
	in := input("hi")
	in.Model = "rec:x"
	res := r.Run(t.Context(), &in, &recSink{})
	require.Equal(t, agent.StopError, res.StopReason)
	require.ErrorContains(t, res.Err, "index unavailable")
	require.Empty(t, rec.reqs, "no model call after a failed setup")
	require.Zero(t, plans.finished, "no finisher for a turn whose setup failed")
}

func TestExtensionToolClash(t *testing.T) {
	clash := extensionFunc(func(context.Context, Setup) (Contribution, error) {
		return Contribution{Tools: []tool.Tool{testTool{name: tool.NameListFiles}}}, nil
	})
	r, _ := newExtFixture(t, clash)
	res := r.Run(t.Context(), ptr(input("hi")), &recSink{})
	require.ErrorIs(t, res.Err, agent.ErrInvalid)
}

// The extensions run on a goroutine of their own: a panic there fails the
// turn as one on the turn's goroutine does, instead of ending the process.
func TestExtensionPanicFailsTurn(t *testing.T) {
	plans := &fakePlans{}
	boom := extensionFunc(func(context.Context, Setup) (Contribution, error) { panic("index exploded") })
	r, rec := newExtFixture(t, boom, plans)
	in := input("hi")
	in.Model = "rec:x"
	res := r.Run(t.Context(), &in, &recSink{})
	require.Equal(t, agent.StopError, res.StopReason)
	var pe *PanicError
	require.ErrorAs(t, res.Err, &pe)
	require.Equal(t, "internal error: index exploded", pe.Error())
	require.NotEmpty(t, pe.Stack)
	require.Empty(t, rec.reqs, "no model call after a failed setup")
	require.Zero(t, plans.finished, "no finisher for a turn whose setup failed")
}

// The server tools are shared by the turns until one changes them: what
// an extension adds to or hides from one turn is not seen by the next.
func TestExtensionToolsStayInTheirTurn(t *testing.T) {
	narrow := extensionFunc(func(_ context.Context, s Setup) (Contribution, error) {
		if s.Prompt != "narrow" {
			return Contribution{}, nil
		}
		return Contribution{Tools: []tool.Tool{testTool{name: "extra"}}, Deny: []string{tool.NameListFiles}}, nil
	})
	r, rec := newExtFixture(t, narrow)
	names := func(i int) []string {
		var out []string
		for _, s := range rec.reqs[i].Tools {
			out = append(out, s.Name)
		}
		return out
	}
	var results [][]agent.ToolResult
	for _, prompt := range []string{"narrow", "@tool list_files\n@tool extra"} {
		in := input(prompt)
		in.Model = "rec:x"
		res := r.Run(t.Context(), &in, &recSink{})
		require.NoError(t, res.Err)
		results = append(results, res.ToolResults)
	}
	require.Contains(t, names(0), "extra")
	require.NotContains(t, names(0), tool.NameListFiles)
	require.NotContains(t, names(1), "extra")
	require.Contains(t, names(1), tool.NameListFiles)
	require.Len(t, results[1], 2)
	require.False(t, results[1][0].IsError, "list_files runs: %s", results[1][0].Content)
	require.Equal(t, "unknown tool: extra", results[1][1].Content)
}

// countingScheduler runs each function on a goroutine of its own and
// counts them.
type countingScheduler struct{ n atomic.Int32 }

func (s *countingScheduler) Schedule(fn func()) { s.n.Add(1); go fn() }

// With Config.Workers, a turn's preparation and the goroutines started
// with Runner.Go run on it.
func TestWorkersRunPreparationAndTurns(t *testing.T) {
	sched := &countingScheduler{}
	providers := provider.NewRegistry()
	r, err := New(Config{Providers: providers, Extensions: []Extension{fakeMemory{}}, Workers: sched})
	require.NoError(t, err)
	done := make(chan Result, 1)
	r.Go(func() { done <- r.Run(t.Context(), ptr(input("@memories")), &recSink{}) })
	res := <-done
	require.NoError(t, res.Err)
	require.Equal(t, "memories: likes tea", res.Content)
	require.EqualValues(t, 2, sched.n.Load(), "the turn and its preparation")
}

type extensionFunc func(context.Context, Setup) (Contribution, error)

func (f extensionFunc) Prepare(ctx context.Context, s Setup) (Contribution, error) { return f(ctx, s) }
