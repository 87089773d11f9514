package host

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func newHost(t *testing.T, sc session.Config) (*Host, *persist.Store, string) {
	t.Helper()
	store := persisttest.Open(t)
	reg := provider.NewRegistry()
	reg.Register("mock", provider.NewMock())
	h, err := New(Config{Store: store, Providers: reg, Session: sc})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "a@example.com", Name: "A"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	return h, store, u.ID
}

// leakCheck registers a goroutine check that runs after every other
// cleanup (the host and the store close first). protoactor's dead-letter
// throttle is ignored: a message that reaches an actor as it stops (as at
// Close) starts it, and it ends by itself one throttle interval (1s)
// later, which under load can outlast goleak's retries.
func leakCheck(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
}

func TestQueryEcho(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: "hello world"})
	require.NoError(t, err)
	require.Equal(t, "echo: hello world", res.Content)
	require.Equal(t, agent.StopEndTurn, res.StopReason)

	st, err := h.StartTurn(t.Context(), uid, TurnRequest{SessionID: res.SessionID, Prompt: "@tokens 3", Stream: true})
	require.NoError(t, err)
	var evs []agent.Event
	evs = append(evs, st.Events.Replay...)
	for ev := range st.Events.C {
		evs = append(evs, *ev)
	}
	st.Events.Close()
	require.Equal(t, agent.RuntimeSession, evs[0].Runtime.Type)
	for i, ev := range evs {
		require.Equal(t, uint64(i+1), ev.ID)
	}
	require.Equal(t, agent.KindDone, evs[len(evs)-1].Kind)
	require.Equal(t, "tok0 tok1 tok2", evs[len(evs)-1].Result.Content)

	v, err := h.GetSession(t.Context(), uid, res.SessionID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 4)
}

type storeUser struct {
	s   *persist.Store
	uid string
}

func newStoreUser(t testing.TB) storeUser {
	t.Helper()
	store := persisttest.Open(t)
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "b@example.com"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	return storeUser{s: store, uid: u.ID}
}

func testutilValue(c interface{ Desc() *prometheus.Desc }) float64 {
	return testutil.ToFloat64(c.(prometheus.Collector))
}

func mockRegistry() *provider.Registry {
	reg := provider.NewRegistry()
	reg.Register("mock", provider.NewMock())
	return reg
}

// TestNewSessionActorStartsFromItsRecord checks that the actor of a
// session made by its first turn, which starts from the record the host
// just committed instead of reading it back, holds that record as the
// store has it, and that the record it saves at the turn's end is the
// store's too.
func TestNewSessionActorStartsFromItsRecord(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 2\n@delay 200ms", Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	live, err := h.GetSession(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	stored, err := store.Session(tr.SessionID)
	require.NoError(t, err)
	require.Equal(t, stored.CreatedAt, live.Session.CreatedAt)
	require.Equal(t, stored.WorkspaceID, live.Session.WorkspaceID)
	require.Equal(t, stored.UserID, live.Session.UserID)
	require.Equal(t, stored.Model, live.Session.Model)
	require.Equal(t, stored.PermissionMode, live.Session.PermissionMode)
	require.Equal(t, agent.StatusRunning, live.Session.Status)
	res, err := tr.Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, "tok0 tok1", res.Content)
	live, err = h.GetSession(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		stored, err = store.Session(tr.SessionID)
		return err == nil && stored.Status == agent.StatusIdle
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, stored, live.Session)
	require.Len(t, live.Messages, 2)
}
