package host

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
)

// TestOneShotSessionCreatedByItsTurn: the session of a one-shot turn
// answered at its end is written with its turn, in one write, instead of a
// create and a turn start of their own: until then the store has no
// record, and once the answer is out it has all of it.
func TestOneShotSessionCreatedByItsTurn(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{Idle: time.Hour})
	ctx := t.Context()
	writesOf := func(req TurnRequest) uint64 {
		// Quota usage is written after the answer; wait for the store to
		// be idle before and after, so that each count is the turn's.
		settle(t, store)
		before := store.Stats().Writes
		res, err := h.Query(ctx, uid, req)
		require.NoError(t, err)
		require.Equal(t, agent.StopEndTurn, res.StopReason)
		settle(t, store)
		v, err := h.GetSession(ctx, uid, res.SessionID)
		require.NoError(t, err)
		require.Len(t, v.Messages, 2)
		return store.Stats().Writes - before
	}
	normal := writesOf(TurnRequest{Prompt: "a new session"})
	oneShot := writesOf(TurnRequest{Prompt: "a one-shot call", OneShot: true, AnswerAtEnd: true})
	require.Equal(t, normal-2, oneShot, "a one-shot turn saves no creation and no turn start of its own")
	// Streamed to its client, the session is named in the stream's first
	// event, so it is created first, as every other.
	st, err := h.StartTurn(ctx, uid, TurnRequest{Prompt: "streamed", OneShot: true, Stream: true})
	require.NoError(t, err)
	_, err = store.Session(st.SessionID)
	require.NoError(t, err, "a streamed one-shot session exists before its first event")
	for range st.Events.C {
	}
	st.Events.Close()
	_, err = st.Wait(ctx)
	require.NoError(t, err)

	// While the turn runs, nothing is stored; the end writes it all,
	// interrupted included.
	st, err = h.StartTurn(ctx, uid, TurnRequest{Prompt: "@delay 1m\nslow", OneShot: true, AnswerAtEnd: true})
	require.NoError(t, err)
	_, err = store.Session(st.SessionID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	ran, err := h.interrupt(ctx, st.SessionID)
	require.NoError(t, err)
	require.True(t, ran)
	res, err := st.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, agent.StopInterrupted, res.StopReason)
	rec, err := store.Session(st.SessionID)
	require.NoError(t, err)
	require.Equal(t, "slow", rec.Title)
	page, _, err := store.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{rec.WorkspaceID}, Q: "slow"})
	require.NoError(t, err)
	require.Len(t, page, 1, "the session is searchable")

	// A turn that asks for permission has something to show: its session
	// is written as it starts to wait, and the request can be answered.
	st, err = h.StartTurn(ctx, uid, TurnRequest{Prompt: `@tool write_file {"path":"a.txt","content":"x"}`, OneShot: true, AnswerAtEnd: true})
	require.NoError(t, err)
	var pending []agent.Pending
	require.Eventually(t, func() bool {
		v, err := h.GetSession(ctx, uid, st.SessionID)
		if err != nil {
			return false
		}
		pending = v.Pending
		return len(pending) == 1
	}, 10*time.Second, time.Millisecond)
	rec, err = store.Session(st.SessionID)
	require.NoError(t, err)
	require.Equal(t, agent.StatusWaiting, rec.Status, "the waiting session is stored, so listings show it")
	require.NoError(t, h.DecidePermission(ctx, uid, st.SessionID, pending[0].RequestID, false, false, "no"))
	res, err = st.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, agent.StopEndTurn, res.StopReason)
}

// TestOneShotSessionDeletedMidTurnStaysDeleted: a one-shot session whose
// record was never written, deleted while its turn runs (as a workspace's
// deletion does), is not created by the turn's end.
func TestOneShotSessionDeletedMidTurnStaysDeleted(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{Idle: time.Hour})
	ctx := t.Context()
	st, err := h.StartTurn(ctx, uid, TurnRequest{Prompt: "@delay 1m\nsoon gone", OneShot: true, AnswerAtEnd: true})
	require.NoError(t, err)
	_, err = ask[session.Done](ctx, h, st.SessionID, &session.Delete{})
	require.NoError(t, err)
	_, _ = st.Wait(ctx)
	// The turn's end has been handled; the store's writer is idle again.
	settle(t, store)
	_, err = store.Session(st.SessionID)
	require.ErrorIs(t, err, persist.ErrNotFound, "the deleted session was created by its turn's end")
	page, _, err := store.ListSessions(persist.SessionQuery{WorkspaceIDs: []string{defaultWorkspace(t, store, uid)}, Q: "gone"})
	require.NoError(t, err)
	require.Empty(t, page)
}

func defaultWorkspace(t *testing.T, store *persist.Store, uid string) string {
	t.Helper()
	u, err := store.UserByID(uid)
	require.NoError(t, err)
	return u.DefaultWorkspaceID
}

// settle waits until the store's count of writes has not moved for a
// while: the writes a turn queues after its answer are in.
func settle(t *testing.T, store *persist.Store) {
	t.Helper()
	last, still := store.Stats().Writes, 0
	require.Eventually(t, func() bool {
		now := store.Stats().Writes
		if now == last {
			still++
		} else {
			last, still = now, 0
		}
		return still >= 5
	}, 10*time.Second, 20*time.Millisecond)
}
