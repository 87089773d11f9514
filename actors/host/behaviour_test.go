package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// next reads the stream's next event (replay first), failing after 10s.
func next(t *testing.T, s *Stream, replayed *int) agent.Event {
	t.Helper()
	if *replayed < len(s.Replay) {
		*replayed++
		return s.Replay[*replayed-1]
	}
	select {
	case ev, ok := <-s.C:
		require.True(t, ok, "stream closed early")
		return *ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return agent.Event{}
}

// until reads events until one satisfies f, and returns it.
func until(t *testing.T, s *Stream, replayed *int, f func(agent.Event) bool) agent.Event {
	t.Helper()
	for {
		if ev := next(t, s, replayed); f(ev) {
			return ev
		}
	}
}

func runtimeOf(typ string) func(agent.Event) bool {
	return func(ev agent.Event) bool { return ev.Kind == agent.KindRuntime && ev.Runtime.Type == typ }
}

func isEnd(ev agent.Event) bool { return ev.Kind == agent.KindDone || ev.Kind == agent.KindError }

func TestInterruptLongTurn(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 3000\n@delay 5ms", Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	n := 0
	until(t, tr.Events, &n, func(ev agent.Event) bool { return ev.Kind == agent.KindDelta })

	_, err = h.StartTurn(t.Context(), uid, TurnRequest{SessionID: tr.SessionID, Prompt: "again"})
	require.ErrorIs(t, err, agent.ErrBusy)

	ok, err := h.Interrupt(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	require.True(t, ok)
	until(t, tr.Events, &n, runtimeOf(agent.RuntimeInterrupted))
	done := until(t, tr.Events, &n, isEnd)
	require.Equal(t, agent.KindDone, done.Kind)
	require.Equal(t, agent.StopInterrupted, done.Result.StopReason)

	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: tr.SessionID, Prompt: "next"})
	require.NoError(t, err)
	require.Equal(t, "echo: next", res.Content)
	ok, err = h.Interrupt(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestPermissionFlow(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	u, err := store.UserByID(uid)
	require.NoError(t, err)
	write := `@tool write_file {"path":"notes/a.txt","content":"hi"}`

	// Deny.
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: write, Stream: true})
	require.NoError(t, err)
	n := 0
	req := until(t, tr.Events, &n, runtimeOf(agent.RuntimePermissionRequest))
	require.Equal(t, "write_file", req.Runtime.ToolName)
	v, err := h.GetSession(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	require.Equal(t, agent.StatusWaiting, v.Session.Status)
	require.Len(t, v.Pending, 1)
	require.ErrorIs(t, h.DecidePermission(t.Context(), uid, tr.SessionID, "perm_unknown", true, false, ""), agent.ErrNotFound)
	require.NoError(t, h.DecidePermission(t.Context(), uid, tr.SessionID, req.Runtime.RequestID, false, false, "no"))
	require.ErrorIs(t, h.DecidePermission(t.Context(), uid, tr.SessionID, req.Runtime.RequestID, true, false, ""), agent.ErrConflict)
	res := until(t, tr.Events, &n, isEnd)
	tr.Events.Close()
	require.Equal(t, agent.KindDone, res.Kind)
	require.True(t, res.Result.ToolResults[0].IsError)
	_, err = store.FileByPath(u.DefaultWorkspaceID, "notes/a.txt")
	require.ErrorIs(t, err, persist.ErrNotFound)

	// Allow with remember, from a non-streaming query answered by another caller.
	type qr struct {
		res *agent.QueryResult
		err error
	}
	out := make(chan qr, 1)
	go func() {
		r, err := h.Query(context.Background(), uid, TurnRequest{SessionID: tr.SessionID, Prompt: write})
		out <- qr{r, err}
	}()
	var pending agent.Pending
	require.Eventually(t, func() bool {
		v, err := h.GetSession(t.Context(), uid, tr.SessionID)
		if err != nil || len(v.Pending) == 0 {
			return false
		}
		pending = v.Pending[0]
		return true
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.DecidePermission(t.Context(), uid, tr.SessionID, pending.RequestID, true, true, ""))
	r := <-out
	require.NoError(t, r.err)
	require.False(t, r.res.ToolResults[0].IsError)
	f, err := store.FileByPath(u.DefaultWorkspaceID, "notes/a.txt")
	require.NoError(t, err)
	require.Equal(t, int64(2), f.Size)

	// Remembered: no request this time.
	r2, err := h.Query(t.Context(), uid, TurnRequest{SessionID: tr.SessionID, Prompt: write})
	require.NoError(t, err)
	require.False(t, r2.ToolResults[0].IsError)
}

func TestPermissionTimeoutDenies(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{PermissionTimeout: 50 * time.Millisecond})
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: `@tool write_file {"path":"a","content":"x"}`})
	require.NoError(t, err)
	require.True(t, res.ToolResults[0].IsError)
	require.Contains(t, res.ToolResults[0].Content, "denied")

	// The expiry is in the audit log, as the system's decision.
	var entries []persist.AuditEntry
	require.Eventually(t, func() bool {
		entries, _, err = h.tenancy.ListAudit(t.Context(), uid, persist.RoleAdmin, persist.AuditQuery{Action: "permission.expired"})
		return err == nil && len(entries) == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, persist.ActorSystem, entries[0].ActorType)
	require.Equal(t, res.SessionID, entries[0].ResourceID)
	require.Equal(t, "write_file", entries[0].Details["tool"])
	require.Equal(t, "deny", entries[0].Details["decision"])
}

func TestPromptFlow(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: `@tool ask_user {"question":"colour?"}`, Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	n := 0
	req := until(t, tr.Events, &n, runtimeOf(agent.RuntimePromptRequest))
	require.Equal(t, "colour?", req.Runtime.Question)
	require.NoError(t, h.AnswerPrompt(t.Context(), uid, tr.SessionID, req.Runtime.RequestID, "blue"))
	require.ErrorIs(t, h.AnswerPrompt(t.Context(), uid, tr.SessionID, req.Runtime.RequestID, "red"), agent.ErrConflict)
	until(t, tr.Events, &n, runtimeOf(agent.RuntimePromptResolved))
	done := until(t, tr.Events, &n, isEnd)
	require.Equal(t, "tool ask_user returned: blue", done.Result.Content)
}

func TestReattachAfterCursor(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 50\n@delay 1ms", Stream: true})
	require.NoError(t, err)
	n := 0
	for i := 0; i < 5; i++ {
		next(t, tr.Events, &n)
	}
	tr.Events.Close() // the client goes away; the turn goes on
	at, err := h.Attach(t.Context(), uid, tr.SessionID, 5)
	require.NoError(t, err)
	defer at.Close()
	m := 0
	want := uint64(6)
	for {
		ev := next(t, at, &m)
		require.Equal(t, want, ev.ID)
		want++
		if isEnd(ev) {
			require.Equal(t, agent.KindDone, ev.Kind)
			break
		}
	}
	// After the end, a cursor of 0 replays the whole turn, then closes.
	all, err := h.Attach(t.Context(), uid, tr.SessionID, 0)
	require.NoError(t, err)
	defer all.Close()
	require.Equal(t, uint64(1), all.Replay[0].ID)
	require.True(t, isEnd(all.Replay[len(all.Replay)-1]))
	_, open := <-all.C
	require.False(t, open)
}

func TestPassivationAndReactivation(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{Idle: 30 * time.Millisecond})
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: "remember me"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.live) == 0
	}, 10*time.Second, 5*time.Millisecond, "session passivates when idle")
	v, err := h.GetSession(t.Context(), uid, res.SessionID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 2)
	require.Equal(t, "echo: remember me", v.Messages[1].Text())
}

func TestConcurrentActivationSpawnsOne(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	rec, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		go func() {
			_, err := h.GetSession(context.Background(), uid, rec.ID)
			errs <- err
		}()
	}
	for i := 0; i < 32; i++ {
		require.NoError(t, <-errs)
	}
	require.InDelta(t, 1, testutilValue(h.metrics.activations), 0)
}

func TestCrashedTurnRecordedInterrupted(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	rec, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	// A snapshot as a process killed mid-turn leaves it: the turn's user
	// message committed and the turn still marked running.
	snap, _ := json.Marshal(map[string]any{
		"messages":     []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("cut short")}, CreatedAt: time.Now()}},
		"running_turn": "turn_cut",
	})
	rec.Status = agent.StatusRunning
	done := make(chan error, 1)
	store.SaveSession(persist.SessionSave{Session: rec, Snapshot: persist.Snapshot{Version: 1, Data: snap}}, func(err error) { done <- err })
	require.NoError(t, <-done)

	v, err := h.GetSession(t.Context(), uid, rec.ID)
	require.NoError(t, err)
	require.Equal(t, agent.StatusIdle, v.Session.Status)
	require.Len(t, v.Messages, 1)
	at, err := h.Attach(t.Context(), uid, rec.ID, 0)
	require.NoError(t, err)
	defer at.Close()
	last := at.Replay[len(at.Replay)-1]
	require.Equal(t, agent.KindDone, last.Kind)
	require.Equal(t, agent.StopInterrupted, last.Result.StopReason)
	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: rec.ID, Prompt: "go on"})
	require.NoError(t, err)
	require.Equal(t, "echo: go on", res.Content)
}

// panicTool panics when run.
type panicTool struct{}

func (panicTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{Name: "boom", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (panicTool) NeedsApproval() bool { return false }
func (panicTool) ReadOnly() bool      { return true }
func (panicTool) Run(context.Context, tool.Call) (string, error) {
	panic("boom")
}

func TestToolPanicFailsTurnOnly(t *testing.T) {
	leakCheck(t)
	store := newStoreUser(t)
	reg := provider.NewRegistry()
	reg.Register("mock", provider.NewMock())
	h, err := New(Config{Store: store.s, Providers: reg, Tools: tool.NewRegistry(append(tool.Builtins(), panicTool{})...)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	tr, err := h.StartTurn(t.Context(), store.uid, TurnRequest{Prompt: "@tool boom {}", Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	n := 0
	end := until(t, tr.Events, &n, isEnd)
	require.Equal(t, agent.KindError, end.Kind)
	require.Contains(t, end.Error, "boom")
	res, err := h.Query(t.Context(), store.uid, TurnRequest{SessionID: tr.SessionID, Prompt: "still here"})
	require.NoError(t, err)
	require.Equal(t, "echo: still here", res.Content)
}

func TestNoAskUsesRememberedDecisions(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	write := `@tool write_file {"path":"a.txt","content":"x"}`
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: write, Options: turn.Options{NoAsk: true}})
	require.NoError(t, err)
	require.True(t, res.ToolResults[0].IsError, "nobody to ask: denied")

	// Remember "allow" through an interactive turn; unattended turns then use it.
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{SessionID: res.SessionID, Prompt: write, Stream: true})
	require.NoError(t, err)
	n := 0
	req := until(t, tr.Events, &n, runtimeOf(agent.RuntimePermissionRequest))
	require.NoError(t, h.DecidePermission(t.Context(), uid, res.SessionID, req.Runtime.RequestID, true, true, ""))
	until(t, tr.Events, &n, isEnd)
	tr.Events.Close()
	res, err = h.Query(t.Context(), uid, TurnRequest{SessionID: res.SessionID, Prompt: write, Options: turn.Options{NoAsk: true}})
	require.NoError(t, err)
	require.False(t, res.ToolResults[0].IsError)
}

func TestBoundedLogResync(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{MaxTurnEvents: 10})
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: "@tokens 50"})
	require.NoError(t, err)
	at, err := h.Attach(t.Context(), uid, res.SessionID, 3)
	require.NoError(t, err)
	defer at.Close()
	require.Len(t, at.Replay, 11, "a resync notice, then the 10 events kept")
	first := at.Replay[0]
	require.Equal(t, agent.RuntimeResync, first.Runtime.Type)
	require.Equal(t, at.Replay[1].ID-1, first.ID)
	require.Equal(t, agent.KindDone, at.Replay[10].Kind)
	require.Equal(t, uint64(52), at.Replay[10].ID, "session, 50 deltas, done")

	// A cursor inside what is kept needs no resync.
	in, err := h.Attach(t.Context(), uid, res.SessionID, 50)
	require.NoError(t, err)
	defer in.Close()
	require.Len(t, in.Replay, 2)
	require.Equal(t, uint64(51), in.Replay[0].ID)
}

func TestSlowSubscriberDroppedTurnGoesOn(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{SubscriberBuffer: 4})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 200", Stream: true})
	require.NoError(t, err)
	// Read nothing until the subscriber has overflowed and been dropped;
	// its channel then holds what fitted and closes without the turn's end.
	require.Eventually(t, func() bool { return testutilValue(h.metrics.subscribersDropped) == 1 }, 10*time.Second, time.Millisecond)
	var got []agent.Event
	for ev := range tr.Events.C {
		got = append(got, *ev)
	}
	tr.Events.Close()
	require.LessOrEqual(t, len(got), 4)
	for _, ev := range got {
		require.False(t, isEnd(ev))
	}
	res, err := tr.Wait(t.Context())
	require.NoError(t, err, "the turn goes on without its subscriber")
	require.Len(t, strings.Fields(res.Content), 200)
	require.Equal(t, float64(1), testutilValue(h.metrics.subscribersDropped))
	at, err := h.Attach(t.Context(), uid, tr.SessionID, uint64(len(got)))
	require.NoError(t, err)
	defer at.Close()
	require.Equal(t, agent.KindDone, at.Replay[len(at.Replay)-1].Kind)
}

func TestTurnCapPerUser(t *testing.T) {
	leakCheck(t)
	store := newStoreUser(t)
	h, err := New(Config{Store: store.s, Providers: mockRegistry(), MaxTurnsPerUser: 1, MaxStreamsPerUser: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	tr, err := h.StartTurn(t.Context(), store.uid, TurnRequest{Prompt: "@tokens 1000\n@delay 5ms", Stream: true})
	require.NoError(t, err)
	_, err = h.StartTurn(t.Context(), store.uid, TurnRequest{Prompt: "another session"})
	require.ErrorIs(t, err, agent.ErrTooManyTurns)
	_, err = h.Attach(t.Context(), store.uid, tr.SessionID, 0)
	require.ErrorIs(t, err, agent.ErrTooManyStreams)
	_, err = h.Interrupt(t.Context(), store.uid, tr.SessionID)
	require.NoError(t, err)
	n := 0
	until(t, tr.Events, &n, isEnd)
	tr.Events.Close()
	res, err := h.Query(t.Context(), store.uid, TurnRequest{Prompt: "slot freed"})
	require.NoError(t, err)
	require.Equal(t, "echo: slot freed", res.Content)
}

func TestCutTurnClosesDanglingToolUse(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	rec, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	// As a kill during a tool run leaves it: the assistant's tool call
	// committed, its result never.
	msgs := []agent.Message{
		{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("@tool list_files {}")}, CreatedAt: time.Now()},
		{Role: agent.RoleAssistant, Content: []agent.Block{{Type: agent.BlockToolUse, ID: "toolu_x", Name: "list_files", Input: json.RawMessage(`{}`)}}, CreatedAt: time.Now()},
	}
	snap, _ := json.Marshal(map[string]any{"messages": msgs, "running_turn": "turn_cut"})
	done := make(chan error, 1)
	store.SaveSession(persist.SessionSave{Session: rec, Snapshot: persist.Snapshot{Version: 1, Data: snap}}, func(err error) { done <- err })
	require.NoError(t, <-done)

	v, err := h.GetSession(t.Context(), uid, rec.ID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 3)
	last := v.Messages[2]
	require.Equal(t, agent.RoleUser, last.Role)
	require.Equal(t, "toolu_x", last.Content[0].ToolUseID)
	require.True(t, last.Content[0].IsError)
	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: rec.ID, Prompt: "carry on"})
	require.NoError(t, err)
	require.Equal(t, "echo: carry on", res.Content)
}

func TestStreamCaps(t *testing.T) {
	leakCheck(t)
	su := newStoreUser(t)
	// A user holds at most a sixteenth of the host's streams: 3 of 48.
	h, err := New(Config{Store: su.s, Providers: mockRegistry(), MaxStreams: 48, Session: session.Config{MaxSubscribers: 2}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	tr, err := h.StartTurn(t.Context(), su.uid, TurnRequest{Prompt: "@tokens 1000\n@delay 5ms", Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	a1, err := h.Attach(t.Context(), su.uid, tr.SessionID, 0)
	require.NoError(t, err)
	defer a1.Close()
	_, err = h.Attach(t.Context(), su.uid, tr.SessionID, 0)
	require.ErrorIs(t, err, agent.ErrTooManyStreams, "two subscribers already follow the session")
	other, err := h.StartTurn(t.Context(), su.uid, TurnRequest{Prompt: "@tokens 1000\n@delay 5ms", Stream: true})
	require.NoError(t, err)
	defer other.Events.Close()
	_, err = h.StartTurn(t.Context(), su.uid, TurnRequest{Prompt: "x", Stream: true})
	require.ErrorIs(t, err, agent.ErrTooManyStreams, "the user holds a sixteenth of the host's streams")
	for _, id := range []string{tr.SessionID, other.SessionID} {
		_, err := h.Interrupt(t.Context(), su.uid, id)
		require.NoError(t, err)
	}
}

func TestVersion1SnapshotMovesMessagesToRecords(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	rec, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	old := []agent.Message{
		{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("from before")}, CreatedAt: time.Now()},
		{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock("echo: from before")}, CreatedAt: time.Now()},
	}
	snap, _ := json.Marshal(map[string]any{"messages": old})
	done := make(chan error, 1)
	store.SaveSession(persist.SessionSave{Session: rec, Snapshot: persist.Snapshot{Version: 1, Data: snap}}, func(err error) { done <- err })
	require.NoError(t, <-done)

	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: rec.ID, Prompt: "and now"})
	require.NoError(t, err)
	require.Equal(t, "echo: and now", res.Content)
	raw, err := store.LoadMessages(rec.ID)
	require.NoError(t, err)
	require.Len(t, raw, 4, "the old messages and the new turn's are records now")
	s, err := store.LoadSnapshot(rec.ID)
	require.NoError(t, err)
	require.Equal(t, uint16(2), s.Version)
	require.NotContains(t, string(s.Data), "from before", "the snapshot no longer holds messages")

	v, err := h.GetSession(t.Context(), uid, rec.ID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 4)
	require.Equal(t, "from before", v.Messages[0].Text())
}

func TestRefusedTurnReleasesItsSlotOnce(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	tr, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 1000\n@delay 5ms", Stream: true})
	require.NoError(t, err)
	defer tr.Events.Close()
	require.Equal(t, float64(1), testutilValue(h.metrics.turnsRunning))
	for i := 0; i < 3; i++ {
		_, err = h.StartTurn(t.Context(), uid, TurnRequest{SessionID: tr.SessionID, Prompt: "again"})
		require.ErrorIs(t, err, agent.ErrBusy)
	}
	require.Equal(t, float64(1), testutilValue(h.metrics.turnsRunning), "a refused turn gives back exactly what it took")
	_, err = h.Interrupt(t.Context(), uid, tr.SessionID)
	require.NoError(t, err)
	n := 0
	until(t, tr.Events, &n, isEnd)
	require.Eventually(t, func() bool { return testutilValue(h.metrics.turnsRunning) == 0 }, 5*time.Second, time.Millisecond)
}

func TestAttachBeforeAnyTurnFollowsTheNext(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	rec, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	at, err := h.Attach(t.Context(), uid, rec.ID, 0)
	require.NoError(t, err)
	defer at.Close()
	require.Empty(t, at.Replay)
	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: rec.ID, Prompt: "first"})
	require.NoError(t, err)
	n := 0
	first := next(t, at, &n)
	require.Equal(t, agent.RuntimeSession, first.Runtime.Type)
	require.Equal(t, res.TurnID, first.Runtime.TurnID)
	end := until(t, at, &n, isEnd)
	require.Equal(t, "echo: first", end.Result.Content)
}

// TestOneShotSessionStopsOnceDurable runs one-shot turns with an idle
// timeout far longer than the test: their actors stop once the turn is
// durable, and the sessions stay readable and usable.
func TestOneShotSessionStopsOnceDurable(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{Idle: time.Hour})
	var ids []string
	for i := range 20 {
		req := TurnRequest{Prompt: fmt.Sprintf("call %d", i), OneShot: true, Options: turn.Options{NoAsk: true}}
		if i%2 == 0 {
			req.Stream = true
		}
		st, err := h.StartTurn(t.Context(), uid, req)
		require.NoError(t, err)
		if st.Events != nil {
			for range st.Events.C {
			}
			st.Events.Close()
		}
		res, err := st.Wait(t.Context())
		require.NoError(t, err)
		ids = append(ids, res.SessionID)
	}
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.live) == 0
	}, 10*time.Second, 5*time.Millisecond, "no one-shot session stays in memory")

	// A later turn on one of them activates it again.
	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: ids[3], Prompt: "again"})
	require.NoError(t, err)
	require.Equal(t, "echo: again", res.Content)
	v, err := h.GetSession(t.Context(), uid, ids[3])
	require.NoError(t, err)
	require.Len(t, v.Messages, 4)
	h.mu.Lock()
	live := len(h.live)
	h.mu.Unlock()
	require.Equal(t, 1, live, "a session used normally stays for its idle timeout")
}

func TestNoRunnerStartsOnceCloseBegan(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{})
	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: "first"})
	require.NoError(t, err)
	// What Close does first: a turn that got past the host's own check
	// is refused by the session instead of starting a runner.
	h.runners.Refuse()
	_, err = h.StartTurn(t.Context(), uid, TurnRequest{SessionID: res.SessionID, Prompt: "late"})
	require.ErrorIs(t, err, agent.ErrClosed)
	require.Zero(t, h.quotas.RunningTurns(), "the refused turn's lease is given back")
	v, err := h.GetSession(t.Context(), uid, res.SessionID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 2, "nothing of the refused turn is committed")
}

// TestOneShotSessionGoneWhenTurnReturns checks that a one-shot turn's
// session actor is on its way out by the time the turn's outcome is
// delivered (no grace, whatever the idle timeout),
// and that its history is still there: the next request activates it
// from the store. A session that is not one-shot stays in memory.
func TestOneShotSessionGoneWhenTurnReturns(t *testing.T) {
	leakCheck(t)
	h, _, uid := newHost(t, session.Config{Idle: time.Hour})
	activations := func() float64 { return testutilValue(h.metrics.activations) }
	gone := func() bool { return h.liveSessions() == 0 }

	res, err := h.Query(t.Context(), uid, TurnRequest{Prompt: "once", OneShot: true})
	require.NoError(t, err)
	require.Eventually(t, gone, 10*time.Second, time.Millisecond, "the one-shot session is still in memory")
	before := activations()
	v, err := h.GetSession(t.Context(), uid, res.SessionID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 2)
	require.Equal(t, "echo: once", v.Messages[1].Text())
	require.Equal(t, before+1, activations(), "reading the session activated it from the store")

	// Streamed, read to its end.
	st, err := h.StartTurn(t.Context(), uid, TurnRequest{Prompt: "@tokens 3", Stream: true, OneShot: true})
	require.NoError(t, err)
	for range st.Events.C {
	}
	st.Events.Close()
	_, err = st.Wait(t.Context())
	require.NoError(t, err)
	before = activations()
	v, err = h.GetSession(t.Context(), uid, st.SessionID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 2)
	require.Equal(t, before+1, activations(), "the streamed one-shot session had stopped")

	// A session the caller comes back to stays.
	res, err = h.Query(t.Context(), uid, TurnRequest{Prompt: "again"})
	require.NoError(t, err)
	before = activations()
	_, err = h.GetSession(t.Context(), uid, res.SessionID)
	require.NoError(t, err)
	require.Equal(t, before, activations())
}
