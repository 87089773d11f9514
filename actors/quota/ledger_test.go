package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func newLedger(t *testing.T, cfg quota.Config) (*quota.Ledger, persist.User) {
	t.Helper()
	cfg.Store = persisttest.Open(t)
	l, err := quota.New(cfg)
	require.NoError(t, err)
	u, err := cfg.Store.CreateUser(t.Context(), persist.User{Email: "q@example.com"}, persist.Workspace{Name: "personal"})
	require.NoError(t, err)
	return l, u
}

func TestLeaseReleaseIsIdempotent(t *testing.T) {
	l, u := newLedger(t, quota.Config{MaxTurnsPerUser: 2, MaxStreamsPerUser: 1})
	a, err := l.Turn(u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, []quota.Scope{{Kind: persist.QuotaUser, ID: u.ID}, {Kind: persist.QuotaWorkspace, ID: u.DefaultWorkspaceID}}, a.Scopes())
	b, err := l.Turn(u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	_, err = l.Turn(u.ID, u.DefaultWorkspaceID)
	require.ErrorIs(t, err, agent.ErrTooManyTurns, "the user scope's default limit")
	require.Equal(t, float64(2), l.RunningTurns())

	for range 3 {
		a.Release()
	}
	require.Equal(t, float64(1), l.RunningTurns(), "a lease gives back once however often it is released")
	c, err := l.Turn(u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	b.Release()
	c.Release()
	require.Equal(t, float64(0), l.RunningTurns())

	s, err := l.Stream(u.ID)
	require.NoError(t, err)
	_, err = l.Stream(u.ID)
	require.ErrorIs(t, err, agent.ErrTooManyStreams)
	s.Release()
	s.Release()
	require.Equal(t, float64(0), l.OpenStreams())
	var none *quota.Lease
	none.Release() // a nil lease holds nothing
}

func TestExplicitLimitReplacesTheDefault(t *testing.T) {
	l, u := newLedger(t, quota.Config{MaxTurnsPerUser: 1})
	ctx := t.Context()
	_, err := l.SetQuota(ctx, u.ID, persist.QuotaUser, u.ID, persist.QuotaLimits{ConcurrentTurns: 2})
	require.NoError(t, err)
	a, err := l.Turn(u.ID, "")
	require.NoError(t, err)
	b, err := l.Turn(u.ID, "")
	require.NoError(t, err)
	_, err = l.Turn(u.ID, "")
	var qe *agent.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, persist.LimitConcurrentTurns, qe.Limit)
	vs, err := l.Quotas(ctx, u.ID, "")
	require.NoError(t, err)
	require.Equal(t, int64(2), vs[0].Usage.RunningTurns)
	a.Release()
	b.Release()
}

func TestMeterAccountsTokens(t *testing.T) {
	l, u := newLedger(t, quota.Config{ReserveTokens: 16})
	ctx := t.Context()
	_, err := l.SetQuota(ctx, u.ID, persist.QuotaWorkspace, u.DefaultWorkspaceID, persist.QuotaLimits{TokensPerDay: 20})
	require.NoError(t, err)
	lease, err := l.Turn(u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	defer lease.Release()
	prov := l.Meter(lease.Scopes(), provider.NewMock())
	call := func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := prov.Stream(ctx, &agent.ModelRequest{Model: "echo", Messages: []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("@tokens 10")}}}}, func(agent.ModelChunk) {})
		return err
	}
	require.NoError(t, call())
	require.NoError(t, call(), "the second call is granted below the limit and crosses it")
	var qe *agent.QuotaError
	require.ErrorAs(t, call(), &qe, "a spent window refuses")
	require.Equal(t, persist.QuotaWorkspace, qe.Scope)
	vs, err := l.Quotas(ctx, u.ID, u.DefaultWorkspaceID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, vs[1].Usage.TokensToday, int64(20))
	require.Zero(t, vs[1].Usage.ReservedTokens)

	_, err = l.Quotas(ctx, u.ID, "ws_nope")
	require.ErrorIs(t, err, agent.ErrNotFound)
}
