package httpapi

import (
	"context"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Quotas is what the quota handlers need of the quota ledger.
// *quota.Ledger implements it. GET and PUT of /quotas/{scope}/{id} are for server
// admins; the route table says so, and adapt checks it.
type Quotas interface {
	Quotas(ctx context.Context, userID, workspaceID string) ([]quota.View, error)
	GetQuota(ctx context.Context, scope, id string) (quota.View, error)
	SetQuota(ctx context.Context, actorID, scope, id string, l persist.QuotaLimits) (quota.View, error)
}

// GET /api/v1/quotas?workspace_id= → the caller's quotas (and the
// workspace's and its organization's).
func (s *Server) myQuotas(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Quotas.Quotas(s.opCtx, p.UserID, string(ctx.QueryArgs().Peek("workspace_id")))
	if err != nil {
		return err
	}
	out := make([]apitype.Quota, len(list))
	for i, v := range list {
		out[i] = quotaOfView(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/quotas/{scope}/{id} (server admins)
func (s *Server) getQuota(ctx *fasthttp.RequestCtx) error {
	v, err := s.deps.Quotas.GetQuota(s.opCtx, pathParam(ctx, "scope"), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, quotaOfView(v))
}

// PUT /api/v1/quotas/{scope}/{id} {requests_per_minute, tokens_per_day,
// tokens_per_month, concurrent_turns, stored_bytes} (server admins)
func (s *Server) setQuota(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.QuotaLimits
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Quotas.SetQuota(s.opCtx, p.UserID, pathParam(ctx, "scope"), pathParam(ctx, "id"), persist.QuotaLimits{
		RequestsPerMinute: req.RequestsPerMinute, TokensPerDay: req.TokensPerDay, TokensPerMonth: req.TokensPerMonth,
		ConcurrentTurns: req.ConcurrentTurns, StoredBytes: req.StoredBytes,
	})
	if err != nil {
		return err
	}
	n := noteAudit(ctx)
	for k, v := range map[string]int64{
		persist.LimitRequestsPerMinute: req.RequestsPerMinute, persist.LimitTokensPerDay: req.TokensPerDay,
		persist.LimitTokensPerMonth: req.TokensPerMonth, persist.LimitConcurrentTurns: req.ConcurrentTurns,
		persist.LimitStoredBytes: req.StoredBytes,
	} {
		n.set(k, strconv.FormatInt(v, 10))
	}
	return writeJSON(ctx, fasthttp.StatusOK, quotaOfView(v))
}

func quotaOfView(v quota.View) apitype.Quota {
	l, u := v.Limits, v.Usage
	out := apitype.Quota{
		Scope: v.Scope, ID: v.ID,
		Limits: apitype.QuotaLimits{
			RequestsPerMinute: l.RequestsPerMinute, TokensPerDay: l.TokensPerDay, TokensPerMonth: l.TokensPerMonth,
			ConcurrentTurns: l.ConcurrentTurns, StoredBytes: l.StoredBytes,
		},
		Usage: apitype.QuotaUsage{
			RequestsThisMinute: u.RequestsThisMinute, TokensToday: u.TokensToday, TokensThisMonth: u.TokensThisMonth,
			ReservedTokens: u.ReservedTokens, RunningTurns: u.RunningTurns, StoredBytes: u.StoredBytes,
		},
		UpdatedBy: l.UpdatedBy,
	}
	if !l.UpdatedAt.IsZero() {
		t := l.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	return out
}
