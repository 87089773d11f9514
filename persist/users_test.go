package persist_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestCreateUserRolesAndWorkspace(t *testing.T) {
	s := persisttest.Open(t)
	ctx := t.Context()

	first, err := s.CreateUser(ctx, persist.User{Email: " Alice@Example.COM ", Name: "Alice", Role: persist.RoleMember,
		PasswordHash: []byte("hash")}, persist.Workspace{Name: "Alice's"})
	require.NoError(t, err)
	require.Equal(t, persist.RoleAdmin, first.Role, "the first user is admin whatever the input says")
	require.Equal(t, "alice@example.com", first.Email)
	require.NotEmpty(t, first.ID)
	require.NotEmpty(t, first.DefaultWorkspaceID)
	require.False(t, first.CreatedAt.IsZero())

	second, err := s.CreateUser(ctx, persist.User{Email: "bob@example.com", Role: persist.RoleAdmin}, persist.Workspace{})
	require.NoError(t, err)
	require.Equal(t, persist.RoleMember, second.Role, "later users are members whatever the input says")

	_, err = s.CreateUser(ctx, persist.User{Email: "ALICE@example.com"}, persist.Workspace{})
	require.ErrorIs(t, err, persist.ErrConflict)
	_, err = s.CreateUser(ctx, persist.User{ID: first.ID, Email: "carol@example.com"}, persist.Workspace{})
	require.ErrorIs(t, err, persist.ErrConflict)
	_, err = s.CreateUser(ctx, persist.User{Email: "  "}, persist.Workspace{})
	require.ErrorIs(t, err, persist.ErrInvalid)

	n, err := s.CountUsers()
	require.NoError(t, err)
	require.Equal(t, 2, n)

	got, err := s.UserByID(first.ID)
	require.NoError(t, err)
	require.Equal(t, first, got)
	got, err = s.UserByEmail("ALICE@EXAMPLE.com")
	require.NoError(t, err)
	require.Equal(t, first, got)
	_, err = s.UserByID("usr_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.UserByEmail("nobody@example.com")
	require.ErrorIs(t, err, persist.ErrNotFound)

	ws, err := s.Workspace(first.DefaultWorkspaceID)
	require.NoError(t, err)
	require.Equal(t, persist.Workspace{ID: first.DefaultWorkspaceID, Name: "Alice's", OwnerID: first.ID,
		Personal: true, CreatedAt: first.CreatedAt}, ws)
	_, err = s.Workspace("ws_missing")
	require.ErrorIs(t, err, persist.ErrNotFound)

	list, err := s.WorkspacesForUser(first.ID)
	require.NoError(t, err)
	require.Equal(t, []persist.Workspace{ws}, list)
	list, err = s.WorkspacesForUser("usr_nobody")
	require.NoError(t, err)
	require.Empty(t, list)

	ok, err := s.IsMember(first.ID, first.DefaultWorkspaceID)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.IsMember(second.ID, first.DefaultWorkspaceID)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = s.IsMember("a\x00b", "c")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestCreateUserInTx(t *testing.T) {
	s := persisttest.Open(t)
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))
	var u persist.User
	require.NoError(t, s.Update(t.Context(), func(tx *persist.Tx) error {
		var err error
		u, err = tx.CreateUser(persist.User{ID: "usr_tx", Email: "tx@example.com", CreatedAt: created},
			persist.Workspace{ID: "ws_tx"})
		return err
	}))
	require.Equal(t, "ws_tx", u.DefaultWorkspaceID)
	require.True(t, created.Equal(u.CreatedAt))
	got, err := s.UserByID("usr_tx")
	require.NoError(t, err)
	require.Equal(t, u, got)
}
