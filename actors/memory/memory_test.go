package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/memory"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func newService(t *testing.T, sel provider.Selector) (*memory.Service, *persist.Store) {
	t.Helper()
	store := persisttest.Open(t)
	svc, err := memory.New(memory.Config{Store: store, Providers: sel})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, svc.Close(context.Background())) })
	return svc, store
}

func newUser(t *testing.T, s *persist.Store, email string) persist.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), persist.User{Email: email, Name: "U"}, persist.Workspace{Name: "Personal"})
	require.NoError(t, err)
	return u
}

func TestUpdateRule(t *testing.T) {
	svc, store := newService(t, provider.NewRegistry())
	u := newUser(t, store, "a@example.com")
	ctx := t.Context()
	save := func(content, replaces string) memory.Op {
		t.Helper()
		op, err := svc.Save(ctx, u.ID, memory.Target{Origin: memory.OriginTool}, memory.Candidate{Content: content, Replaces: replaces})
		require.NoError(t, err)
		return op
	}

	first := save("The user's favourite colour is blue.", "")
	require.Equal(t, memory.OpAdd, first.Op)
	require.Equal(t, persist.MemoryScopeUser, first.Memory.Scope)
	require.Equal(t, u.DefaultWorkspaceID, first.Memory.WorkspaceID)

	again := save("user's FAVOURITE colour is blue", "")
	require.Equal(t, memory.OpNoop, again.Op, "normalised text equal")
	require.Equal(t, first.Memory.ID, again.Memory.ID)

	save("User works as a backend engineer at a logistics startup in Hamburg", "")
	near := save("User works as backend engineer at logistics startup in Hamburg, Germany", "")
	require.Equal(t, memory.OpAdd, near.Op, "an added word below the threshold is new information")
	save("User drinks coffee with oat milk every morning", "")
	nearer := save("Every morning, the user drinks coffee with oat milk.", "")
	require.Equal(t, memory.OpNoop, nearer.Op, "the same terms in another order: %s", nearer.Reason)
	require.Contains(t, nearer.Reason, "similarity 1.00")

	number := save("User's phone extension is 4412", "")
	require.Equal(t, memory.OpAdd, number.Op)
	changed := save("User's phone extension is 4413", "")
	require.Equal(t, memory.OpAdd, changed.Op, "a changed number is never a repeat")

	green := save("The user's favourite colour is green", "The user's favourite colour is blue")
	require.Equal(t, memory.OpSupersede, green.Op)
	require.Equal(t, first.Memory.ID, green.Memory.Supersedes)
	require.Equal(t, first.Memory.ID, green.Superseded.ID)
	old, err := svc.Get(ctx, u.ID, first.Memory.ID)
	require.NoError(t, err)
	require.Equal(t, persist.MemorySuperseded, old.Status)
	require.Equal(t, green.Memory.ID, old.SupersededBy)

	hits, err := svc.Search(ctx, u.ID, memory.SearchQuery{Text: "favourite colour"})
	require.NoError(t, err)
	require.Len(t, hits, 1, "the superseded colour is not a hit")
	require.Equal(t, green.Memory.ID, hits[0].Memory.ID)

	t.Run("replace by id, and a stale replace target adds", func(t *testing.T) {
		red := save("The user's favourite colour is red", green.Memory.ID)
		require.Equal(t, memory.OpSupersede, red.Op)
		again := save("The user's favourite colour is purple", green.Memory.ID)
		require.Equal(t, memory.OpAdd, again.Op, "green is superseded already")
	})

	t.Run("PATCH supersedes; a superseded memory cannot change", func(t *testing.T) {
		m, err := svc.Replace(ctx, u.ID, number.Memory.ID, "User's phone extension is 5000")
		require.NoError(t, err)
		require.Equal(t, number.Memory.ID, m.Supersedes)
		_, err = svc.Replace(ctx, u.ID, number.Memory.ID, "User's phone extension is 6000")
		require.ErrorIs(t, err, agent.ErrConflict)
	})

	t.Run("others' memories are not found", func(t *testing.T) {
		bob := newUser(t, store, "b@example.com")
		_, err := svc.Get(ctx, bob.ID, green.Memory.ID)
		require.ErrorIs(t, err, agent.ErrNotFound)
		require.ErrorIs(t, svc.Delete(ctx, bob.ID, green.Memory.ID), agent.ErrNotFound)
		_, err = svc.Save(ctx, bob.ID, memory.Target{WorkspaceID: u.DefaultWorkspaceID}, memory.Candidate{Content: "x y"})
		require.ErrorIs(t, err, agent.ErrNotFound)
		list, _, err := svc.List(ctx, bob.ID, memory.ListQuery{})
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("bad candidates", func(t *testing.T) {
		for _, c := range []memory.Candidate{{Content: " "}, {Content: "ok words", Kind: "gossip"}, {Content: "bell\x07"}, {Content: "!!"}} {
			_, err := svc.Save(ctx, u.ID, memory.Target{}, c)
			require.ErrorIs(t, err, agent.ErrInvalid, "%q", c.Content)
		}
		_, err := svc.Save(ctx, u.ID, memory.Target{Scope: "org"}, memory.Candidate{Content: "x y"})
		require.ErrorIs(t, err, agent.ErrInvalid)
	})
}

func TestWorkspaceMemoriesNeedEditors(t *testing.T) {
	svc, store := newService(t, provider.NewRegistry())
	owner, viewer := newUser(t, store, "o@example.com"), newUser(t, store, "v@example.com")
	ws, err := store.CreateWorkspace(t.Context(), persist.Workspace{Name: "team"}, owner.ID)
	require.NoError(t, err)
	_, err = store.SetWorkspaceGrant(t.Context(), ws.ID, viewer.ID, persist.WorkspaceViewer, true)
	require.NoError(t, err)
	shared := memory.Target{Scope: persist.MemoryScopeWorkspace, WorkspaceID: ws.ID}
	op, err := svc.Save(t.Context(), owner.ID, shared, memory.Candidate{Content: "Deploys happen on Tuesdays", Kind: persist.MemoryKindInstruction})
	require.NoError(t, err)
	require.Equal(t, memory.OpAdd, op.Op)

	_, err = svc.Save(t.Context(), viewer.ID, shared, memory.Candidate{Content: "Deploys happen on Fridays"})
	require.ErrorIs(t, err, agent.ErrForbidden)
	got, err := svc.Get(t.Context(), viewer.ID, op.Memory.ID)
	require.NoError(t, err, "members read shared memories")
	require.Equal(t, op.Memory.Content, got.Content)
	require.ErrorIs(t, svc.Delete(t.Context(), viewer.ID, op.Memory.ID), agent.ErrForbidden)
	rec, err := svc.Recall(t.Context(), viewer.ID, ws.ID, "when do deploys happen?")
	require.NoError(t, err)
	require.Len(t, rec, 1)
}

// conversation is a turn as the session keeps it.
func conversation(prompt, reply string) []agent.Message {
	return []agent.Message{
		{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(prompt)}},
		{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock(reply)}},
	}
}

func TestExtractionWithTheMock(t *testing.T) {
	svc, store := newService(t, provider.NewRegistry())
	u := newUser(t, store, "a@example.com")
	job := func(prompt string) memory.Job {
		return memory.Job{UserID: u.ID, WorkspaceID: u.DefaultWorkspaceID, SessionID: "sess_1", TurnID: "turn_1",
			Model: "mock:echo", Messages: conversation(prompt, "echo: ok")}
	}
	require.True(t, svc.Enqueue(job("@remember User lives in Berlin\n@remember User has a cat named Miso\nhello")))
	require.Eventually(t, svc.Idle, 10*time.Second, 5*time.Millisecond)
	list, _, err := svc.List(t.Context(), u.ID, memory.ListQuery{})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, &persist.MemorySource{SessionID: "sess_1", TurnID: "turn_1"}, list[0].Source)

	// Repeats are noops; a contradiction supersedes.
	require.True(t, svc.Enqueue(job("@remember User lives in Berlin")))
	require.True(t, svc.Enqueue(job("@remember User lives in Munich !replaces User lives in Berlin")))
	require.Eventually(t, svc.Idle, 10*time.Second, 5*time.Millisecond)
	active, _, err := svc.List(t.Context(), u.ID, memory.ListQuery{Status: persist.MemoryActive})
	require.NoError(t, err)
	var contents []string
	for _, m := range active {
		contents = append(contents, m.Content)
	}
	require.ElementsMatch(t, []string{"User lives in Munich", "User has a cat named Miso"}, contents)
	all, _, err := svc.List(t.Context(), u.ID, memory.ListQuery{})
	require.NoError(t, err)
	require.Len(t, all, 3)
}

// gate is a provider that waits for release before answering like the
// mock, so a test can hold an extraction mid-call.
type gate struct {
	started chan struct{}
	release chan struct{}
}

func (g gate) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return agent.ModelResponse{}, ctx.Err()
	}
	return provider.NewMock().Stream(ctx, req, emit)
}

func TestEnqueueReturnsBeforeTheModelAnswers(t *testing.T) {
	g := gate{started: make(chan struct{}, 1), release: make(chan struct{})}
	reg := provider.NewRegistry()
	reg.Register("gate", g)
	svc, store := newService(t, reg)
	u := newUser(t, store, "a@example.com")
	ok := svc.Enqueue(memory.Job{UserID: u.ID, WorkspaceID: u.DefaultWorkspaceID, Model: "gate:x",
		Messages: conversation("@remember User speaks Welsh", "ok")})
	require.True(t, ok, "Enqueue returned while nothing has answered")
	<-g.started
	require.False(t, svc.Idle())
	list, _, err := svc.List(t.Context(), u.ID, memory.ListQuery{})
	require.NoError(t, err)
	require.Empty(t, list, "nothing is written before the model answers")
	close(g.release)
	require.Eventually(t, svc.Idle, 10*time.Second, 5*time.Millisecond)
	list, _, err = svc.List(t.Context(), u.ID, memory.ListQuery{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "User speaks Welsh", list[0].Content)
}

func TestCloseCancelsRunningExtractions(t *testing.T) {
	g := gate{started: make(chan struct{}, 1), release: make(chan struct{})}
	reg := provider.NewRegistry()
	reg.Register("gate", g)
	store := persisttest.Open(t)
	svc, err := memory.New(memory.Config{Store: store, Providers: reg})
	require.NoError(t, err)
	u := newUser(t, store, "a@example.com")
	require.True(t, svc.Enqueue(memory.Job{UserID: u.ID, WorkspaceID: u.DefaultWorkspaceID, Model: "gate:x", Messages: conversation("@remember X y", "ok")}))
	<-g.started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, svc.Close(ctx), context.DeadlineExceeded)
	require.False(t, svc.Enqueue(memory.Job{UserID: u.ID}), "closed")
}
