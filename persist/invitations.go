package persist

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Invitation kinds and statuses.
const (
	InvitationWorkspace    = "workspace"
	InvitationOrganization = "organization"

	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationDeclined = "declined"
	InvitationRevoked  = "revoked"
)

var (
	bucketInvitations          = []byte("invitations")
	bucketInvitationsByInvitee = []byte("invitations_by_invitee")
)

// Invitation asks someone to join a workspace or an organization; the
// grant is made only when the invitee accepts it. The invitee is named by
// Email (as the inviter typed it; stored normalised) or by UserID.
type Invitation struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	TargetID  string    `json:"target_id"`
	Email     string    `json:"email,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// inviteeKeys are the index prefixes of an invitee.
func inviteeKey(inv Invitation) []byte {
	if inv.UserID != "" {
		return key("u", inv.UserID, inv.ID)
	}
	return key("e", normEmail(inv.Email), inv.ID)
}

// migrateInvitationBuckets adds the buckets of invitations.
func migrateInvitationBuckets(tx kvTx) error {
	for _, name := range [][]byte{bucketInvitations, bucketInvitationsByInvitee} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// CreateInvitation stores a pending invitation. An empty ID is minted. It
// fails with ErrConflict when the same invitee already has a pending
// invitation to the same target.
func (s *Store) CreateInvitation(ctx context.Context, inv Invitation) (Invitation, error) {
	if inv.ID == "" {
		inv.ID = newID("inv")
	}
	inv.Email = normEmail(inv.Email)
	if (inv.Email == "") == (inv.UserID == "") || inv.TargetID == "" || inv.Role == "" {
		return inv, fmt.Errorf("persist: invitation needs one invitee, a target and a role: %w", ErrInvalid)
	}
	inv.Status = InvitationPending
	inv.CreatedAt = now()
	inv.UpdatedAt = inv.CreatedAt
	err := s.Update(ctx, func(tx *Tx) error {
		existing, err := tx.invitationsOf(inv.Email, inv.UserID)
		if err != nil {
			return err
		}
		for _, e := range existing {
			if e.Status == InvitationPending && e.TargetID == inv.TargetID {
				return fmt.Errorf("persist: a pending invitation exists: %w", ErrConflict)
			}
		}
		if err := putJSON(tx.bucket(bucketInvitations), []byte(inv.ID), inv); err != nil {
			return err
		}
		return tx.bucket(bucketInvitationsByInvitee).Put(inviteeKey(inv), nil)
	})
	return inv, err
}

// Invitation returns invitation id, or ErrNotFound.
func (s *Store) Invitation(id string) (Invitation, error) {
	var inv Invitation
	err := s.View(func(tx *Tx) error {
		ok, err := getJSON(tx.bucket(bucketInvitations), []byte(id), &inv)
		if err == nil && !ok {
			err = fmt.Errorf("persist: invitation %s: %w", id, ErrNotFound)
		}
		return err
	})
	return inv, err
}

func (tx *Tx) invitationsOf(email, userID string) ([]Invitation, error) {
	var out []Invitation
	idx := tx.bucket(bucketInvitationsByInvitee)
	scan := func(prefix []byte) error {
		c := idx.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var inv Invitation
			ok, err := getJSON(tx.bucket(bucketInvitations), k[len(prefix):], &inv)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, inv)
			}
		}
		return nil
	}
	if email = normEmail(email); email != "" {
		if err := scan(prefixKey("e", email)); err != nil {
			return nil, err
		}
	}
	if userID != "" {
		if err := scan(prefixKey("u", userID)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InvitationsFor returns the invitations addressed to email or userID,
// newest first.
func (s *Store) InvitationsFor(email, userID string) ([]Invitation, error) {
	var out []Invitation
	err := s.View(func(tx *Tx) error {
		var err error
		out, err = tx.invitationsOf(email, userID)
		return err
	})
	slices.SortFunc(out, func(a, b Invitation) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// HasPendingInvitation reports whether email has a pending invitation
// (the sign-up policy's lookup).
func (s *Store) HasPendingInvitation(email string) (bool, error) {
	list, err := s.InvitationsFor(email, "")
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list, func(i Invitation) bool { return i.Status == InvitationPending }), nil
}

// SetInvitationStatus moves a pending invitation to status. It fails with
// ErrNotFound for an unknown id and ErrConflict when it is not pending.
func (s *Store) SetInvitationStatus(ctx context.Context, id, status string) (Invitation, error) {
	var inv Invitation
	err := s.Update(ctx, func(tx *Tx) error {
		ok, err := getJSON(tx.bucket(bucketInvitations), []byte(id), &inv)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("persist: invitation %s: %w", id, ErrNotFound)
		}
		if inv.Status != InvitationPending {
			return fmt.Errorf("persist: invitation %s is %s: %w", id, inv.Status, ErrConflict)
		}
		inv.Status, inv.UpdatedAt = status, now()
		return putJSON(tx.bucket(bucketInvitations), []byte(id), inv)
	})
	return inv, err
}
