package main

import (
	"net/http"

	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// invitationLookup is the sign-up policy's invitation lookup: under
// SESHAT_SIGNUP=invite, an email with a pending invitation to a workspace
// or an organization may register.
type invitationLookup struct{ store *persist.Store }

func (l invitationLookup) HasPendingInvitation(email string) (bool, error) {
	return l.store.HasPendingInvitation(email)
}

// providerFence is the client of provider settings made by non-admins:
// fenced from loopback, private and link-local addresses unless the
// operator allows private upstreams. Its pool is the provider client's, as
// large as the calls the host runs at once against one upstream.
func providerFence(cfg Config) *http.Client {
	if cfg.AllowPrivateUpstreams {
		return nil
	}
	return egress.NewClient(egress.Policy{MaxIdleConnsPerHost: provider.MaxIdleConnsPerHost, MaxIdleConns: provider.MaxIdleConns})
}
