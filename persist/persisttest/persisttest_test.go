package persisttest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func TestOpen(t *testing.T) {
	s := persisttest.Open(t)
	u, err := s.CreateUser(t.Context(), persist.User{Email: "a@example.com"}, persist.Workspace{})
	require.NoError(t, err)
	require.Equal(t, persist.RoleAdmin, u.Role)
	require.Equal(t, persist.LatestSchema(), s.SchemaVersion())
}
