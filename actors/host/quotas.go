package host

import (
	"context"

	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
)

// Names that moved to actors/quota, kept here while callers move.
type (
	QuotaConfig = quota.Config
	QuotaView   = quota.View
	QuotaUsage  = quota.Usage
)

// ModelSelector returns a provider selector whose model calls are
// accounted, as a turn's are, to the user's quotas. The families that call
// models after a turn (memory extraction) use it.
func (h *Host) ModelSelector() provider.Selector {
	return meteredSelector{inner: h.cfg.Providers, l: h.quotas}
}

// meteredSelector meters what inner selects against the user's scope.
type meteredSelector struct {
	inner provider.Selector
	l     *quota.Ledger
}

func (s meteredSelector) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	p, m, err := s.inner.Select(ctx, userID, settingID, model)
	if err != nil {
		return nil, "", err
	}
	return s.l.Meter(s.l.ScopesOf(userID, ""), p), m, nil
}
