package host

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
)

// TestMessagesStoredTooDeepReadBack stores, as a server without a depth
// bound on tool inputs did, a tool use whose input nests 12,000 levels
// deep, then a message that is not JSON at all: the session loads with
// every message, the deep input as {} and the broken message as a note,
// and it takes a new turn after them.
func TestMessagesStoredTooDeepReadBack(t *testing.T) {
	leakCheck(t)
	h, store, uid := newHost(t, session.Config{})
	sess, err := h.CreateSession(t.Context(), uid, SessionOptions{})
	require.NoError(t, err)
	deep := strings.Repeat("[", 12_000) + strings.Repeat("]", 12_000)
	raw := [][]byte{
		[]byte(`{"role":"user","content":[{"type":"text","text":"go"}],"created_at":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"role":"assistant","content":[{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_deep","name":"list_files","input":{"x":` + deep + `}}],"created_at":"2026-01-01T00:00:01Z"}`),
		[]byte(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_deep","content":"no files","is_error":false}],"created_at":"2026-01-01T00:00:02Z"}`),
		[]byte(`{"role":"assistant","content":[{"type":"text","text":`),
	}
	var probe any
	require.Error(t, json.Unmarshal(raw[1], &probe), "a decoder refuses the record whole")
	done := make(chan error, 1)
	store.SaveSession(persist.SessionSave{Session: sess, Messages: raw}, func(err error) { done <- err })
	require.NoError(t, <-done)

	v, err := h.GetSession(t.Context(), uid, sess.ID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 4, "the session comes back whole")
	require.Equal(t, "calling", v.Messages[1].Content[0].Text)
	require.Equal(t, "toolu_deep", v.Messages[1].Content[1].ID)
	require.JSONEq(t, `{}`, string(v.Messages[1].Content[1].Input))
	require.Equal(t, "no files", v.Messages[2].Content[0].Content)
	require.Contains(t, v.Messages[3].Text(), "could not be read back")

	res, err := h.Query(t.Context(), uid, TurnRequest{SessionID: sess.ID, Prompt: "@say on we go"})
	require.NoError(t, err)
	require.Equal(t, "on we go", res.Content)
	v, err = h.GetSession(t.Context(), uid, sess.ID)
	require.NoError(t, err)
	require.Len(t, v.Messages, 6, "the new turn's messages come after the old ones, none written over")
}
