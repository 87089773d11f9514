package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Events, results and errors keep across the wire what the handlers read.
func TestFramesRoundTrip(t *testing.T) {
	res := &agent.QueryResult{SessionID: "s", TurnID: "t", Content: "hi", StopReason: agent.StopEndTurn,
		Messages: []agent.Message{{Role: agent.RoleAssistant, Content: []agent.Block{agent.TextBlock("hi")}}}}
	ev := agent.Event{ID: 7, Kind: agent.KindDone, Result: res}
	ev.Encode()
	b, err := encode(frameOf(&ev))
	require.NoError(t, err)
	var f frame
	require.NoError(t, decodeJSON(b.Value, &f))
	got := f.event()
	require.Equal(t, ev.ID, got.ID)
	require.Equal(t, ev.Kind, got.Kind)
	require.JSONEq(t, string(ev.Data), string(got.Data))
	require.Equal(t, res.Content, got.Result.Content)
	require.Len(t, got.Result.Messages, 1)
	require.Equal(t, "hi", got.Result.Messages[0].Text())
}

func TestErrorsKeepTheirClass(t *testing.T) {
	for _, sentinel := range []error{agent.ErrNotFound, agent.ErrBusy, agent.ErrInvalid, persist.ErrFenced, agent.ErrTooManyStreams} {
		in := fmt.Errorf("%w: details", sentinel)
		b, err := json.Marshal(toWire(in))
		require.NoError(t, err)
		var w wireErr
		require.NoError(t, json.Unmarshal(b, &w))
		out := w.err()
		require.ErrorIs(t, out, sentinel)
		require.Equal(t, in.Error(), out.Error())
	}
	q := &agent.QuotaError{Scope: "user", ID: "u", Limit: "tokens_per_day", Max: 5, Used: 6}
	b, err := json.Marshal(toWire(fmt.Errorf("turn: %w", q)))
	require.NoError(t, err)
	var w wireErr
	require.NoError(t, json.Unmarshal(b, &w))
	var got *agent.QuotaError
	require.True(t, errors.As(w.err(), &got))
	require.Equal(t, *q, *got)
	require.ErrorIs(t, w.err(), agent.ErrQuotaExceeded)
	require.Nil(t, toWire(nil).err())
}
