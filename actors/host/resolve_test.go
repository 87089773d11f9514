package host

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// countingSelector counts the resolutions of models. Each one costs the
// provider settings' store reads (the user's workspaces, their settings
// and their default setting) when the selector is routing.Service.
type countingSelector struct {
	inner provider.Selector
	n     atomic.Int64
}

func (c *countingSelector) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	c.n.Add(1)
	return c.inner.Select(ctx, userID, settingID, model)
}

func TestStartTurnResolvesTheModelOnce(t *testing.T) {
	leakCheck(t)
	store := persisttest.Open(t)
	routes, err := routing.New(routing.Config{Store: store, Registry: mockRegistry()})
	require.NoError(t, err)
	sel := &countingSelector{inner: routes}
	h, err := New(Config{Store: store, Providers: sel})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	u, err := store.CreateUser(t.Context(), persist.User{Email: "once@example.com"}, persist.Workspace{Name: "personal"})
	require.NoError(t, err)

	var sessionID string
	for _, tc := range []struct {
		name string
		req  func() TurnRequest
	}{
		{"new session, server default model", func() TurnRequest { return TurnRequest{Prompt: "one"} }},
		{"new session, named model", func() TurnRequest {
			return TurnRequest{Prompt: "two", Options: turn.Options{Model: "mock:echo"}}
		}},
		{"the session's model", func() TurnRequest { return TurnRequest{SessionID: sessionID, Prompt: "three"} }},
		{"a model for this turn", func() TurnRequest {
			return TurnRequest{SessionID: sessionID, Prompt: "four", Options: turn.Options{Model: "mock:echo"}}
		}},
	} {
		before := sel.n.Load()
		res, err := h.Query(t.Context(), u.ID, tc.req())
		require.NoError(t, err, tc.name)
		require.Equal(t, agent.StopEndTurn, res.StopReason, tc.name)
		require.Equal(t, int64(1), sel.n.Load()-before, "%s: one resolution from request to runner", tc.name)
		sessionID = res.SessionID
	}

	// A model resolved by the caller (ResolveModel, as /v1/messages does)
	// is not resolved again.
	_, route, err := routing.ResolveModel(t.Context(), sel, u.ID, "", "mock:echo")
	require.NoError(t, err)
	before := sel.n.Load()
	tr := TurnRequest{SessionID: sessionID, Prompt: "five", Route: route}
	tr.Model = "mock:echo"
	res, err := h.Query(t.Context(), u.ID, tr)
	require.NoError(t, err)
	require.Equal(t, "echo: five", res.Content)
	require.Zero(t, sel.n.Load()-before)
}
