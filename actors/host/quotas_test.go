package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// quotaClock is a settable clock for the quota windows.
type quotaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *quotaClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *quotaClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newQuotaHost(t *testing.T, qc QuotaConfig) (*Host, *persist.Store, persist.User) {
	t.Helper()
	store := persisttest.Open(t)
	h, err := New(Config{Store: store, Providers: provider.NewRegistry(), Quotas: qc})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	u, err := store.CreateUser(t.Context(), persist.User{Email: "q@example.com"}, persist.Workspace{Name: "personal"})
	require.NoError(t, err)
	return h, store, u
}

func TestTokenWindowsRoll(t *testing.T) {
	leakCheck(t)
	clock := &quotaClock{t: time.Date(2030, 1, 31, 23, 0, 0, 0, time.UTC)}
	h, _, u := newQuotaHost(t, QuotaConfig{ReserveTokens: 16, Now: clock.Now})
	ctx := t.Context()
	_, err := h.quotas.SetQuota(ctx, u.ID, persist.QuotaUser, u.ID, persist.QuotaLimits{TokensPerDay: 20, TokensPerMonth: 30})
	require.NoError(t, err)

	run := func() error {
		_, err := h.Query(ctx, u.ID, TurnRequest{Prompt: "@tokens 10"})
		return err
	}
	require.NoError(t, run()) // 12
	require.NoError(t, run()) // 24: granted at 12 < 20
	err = run()
	var qe *agent.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, persist.LimitTokensPerDay, qe.Limit)
	require.Equal(t, time.Hour, qe.RetryAfter, "until midnight UTC")

	clock.Add(2 * time.Hour) // the next day, and the next month
	require.NoError(t, run())
	require.NoError(t, run())
	_, err = h.quotas.SetQuota(ctx, u.ID, persist.QuotaUser, u.ID, persist.QuotaLimits{TokensPerDay: 100, TokensPerMonth: 30})
	require.NoError(t, err)
	require.NoError(t, run()) // 36 this month: granted at 24 < 30
	err = run()
	require.ErrorAs(t, err, &qe)
	require.Equal(t, persist.LimitTokensPerMonth, qe.Limit)
	require.Equal(t, 28*24*time.Hour-time.Hour, qe.RetryAfter, "until March")

	vs, err := h.quotas.Quotas(ctx, u.ID, "")
	require.NoError(t, err)
	require.Equal(t, QuotaUsage{TokensToday: 36, TokensThisMonth: 36}, vs[0].Usage)
}

func TestReservationsWaitForCallsInFlight(t *testing.T) {
	leakCheck(t)
	h, store, u := newQuotaHost(t, QuotaConfig{ReserveTokens: 100, ReserveWait: 10 * time.Second})
	ctx := t.Context()
	_, err := h.quotas.SetQuota(ctx, u.ID, persist.QuotaWorkspace, u.DefaultWorkspaceID, persist.QuotaLimits{TokensPerDay: 100})
	require.NoError(t, err)
	reserved := func() bool {
		v, err := h.quotas.Quotas(ctx, u.ID, u.DefaultWorkspaceID)
		require.NoError(t, err)
		return v[1].Usage.ReservedTokens > 0
	}

	// A slow turn holds a reservation of 100 + its input bound, the whole
	// limit; a second turn waits for it to settle instead of being
	// refused, then runs.
	slow, err := h.StartTurn(ctx, u.ID, TurnRequest{Prompt: "@delay 20ms\n@tokens 5", Stream: true})
	require.NoError(t, err)
	require.Eventually(t, reserved, 10*time.Second, time.Millisecond)
	fast, err := h.Query(ctx, u.ID, TurnRequest{Prompt: "@tokens 3"})
	require.NoError(t, err)
	require.Equal(t, int64(3), fast.Usage.OutputTokens)
	slow.Events.Close()
	_, err = slow.Wait(ctx)
	require.NoError(t, err)

	v, err := h.quotas.Quotas(ctx, u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, persist.QuotaWorkspace, v[1].Scope)
	require.Zero(t, v[1].Usage.ReservedTokens)
	used := v[1].Usage.TokensToday
	require.Positive(t, used)

	// Usage is recorded durably, for the scopes without limits too.
	require.Eventually(t, func() bool {
		got, err := store.QuotaUsage(persist.QuotaUser, u.ID, time.Now())
		return err == nil && got.DayTokens == used
	}, 10*time.Second, time.Millisecond)

	// A waiting call is refused once the call it waited for used up the
	// limit.
	_, err = h.quotas.SetQuota(ctx, u.ID, persist.QuotaWorkspace, u.DefaultWorkspaceID, persist.QuotaLimits{TokensPerDay: used + 1})
	require.NoError(t, err)
	hold, err := h.StartTurn(ctx, u.ID, TurnRequest{Prompt: "@delay 20ms\n@tokens 20", Stream: true})
	require.NoError(t, err)
	require.Eventually(t, reserved, 10*time.Second, time.Millisecond)
	res, err := h.Query(ctx, u.ID, TurnRequest{Prompt: "@tokens 1"})
	if err == nil {
		t.Fatalf("a call over the limit ran: %+v", res)
	}
	require.True(t, errors.Is(err, agent.ErrQuotaExceeded), "%v", err)
	hold.Events.Close()
	_, err = hold.Wait(ctx)
	require.NoError(t, err)
}
