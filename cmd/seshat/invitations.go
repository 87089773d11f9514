package main

import "github.com/seshat-host/seshat/persist"

// invitationLookup is the sign-up policy's invitation lookup: under
// SESHAT_SIGNUP=invite, an email with a pending invitation to a workspace
// or an organization may register.
type invitationLookup struct{ store *persist.Store }

func (l invitationLookup) HasPendingInvitation(email string) (bool, error) {
	return l.store.HasPendingInvitation(email)
}
