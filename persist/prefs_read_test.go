package persist_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestUserPreferencesOfUnknownUser: a user without preferences gets an
// empty map, one that does not exist ErrNotFound.
func TestUserPreferencesOfUnknownUser(t *testing.T) {
	s := persisttest.Open(t)
	u, err := s.CreateUser(t.Context(), persist.User{Email: "p@example.com", Name: "P"}, persist.Workspace{})
	require.NoError(t, err)
	prefs, err := s.UserPreferences(u.ID)
	require.NoError(t, err)
	require.Empty(t, prefs)
	_, err = s.UpdateUserPreferences(t.Context(), u.ID, 0, func(_ *persist.User, p map[string]json.RawMessage) error {
		p["model"] = json.RawMessage(`"mock:echo"`)
		return nil
	})
	require.NoError(t, err)
	prefs, err = s.UserPreferences(u.ID)
	require.NoError(t, err)
	require.JSONEq(t, `"mock:echo"`, string(prefs["model"]))
	_, err = s.UserPreferences("no-such-user")
	require.ErrorIs(t, err, persist.ErrNotFound)
}

// BenchmarkUserPreferences measures the read every turn makes (twice: its
// default model and its memory policy).
func BenchmarkUserPreferences(b *testing.B) {
	s := persisttest.Open(b)
	u, err := s.CreateUser(b.Context(), persist.User{Email: "p@example.com", Name: "P", PasswordHash: make([]byte, 60)}, persist.Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.UpdateUserPreferences(b.Context(), u.ID, 0, func(_ *persist.User, p map[string]json.RawMessage) error {
		p["model"] = json.RawMessage(`"mock:echo"`)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UserPreferences(u.ID); err != nil {
			b.Fatal(err)
		}
	}
}
