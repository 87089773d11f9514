package persist_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
)

// masterKey returns a 32-byte key made of b.
func masterKey(b byte) []byte { return bytes.Repeat([]byte{b}, persist.MasterKeyBytes) }

func withKey(k []byte) func(*persist.Config) {
	return func(c *persist.Config) { c.MasterKey = k }
}

// settingsUser creates a user and returns it.
func settingsUser(t *testing.T, s *persist.Store) persist.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), persist.User{Email: uniq("user") + "@example.com"}, persist.Workspace{Name: "personal"})
	require.NoError(t, err)
	return u
}

func TestProviderSettingSecretsAreSealed(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, withKey(masterKey(7)))
	ctx := t.Context()
	u := settingsUser(t, s)

	const apiKey = "sk-ant-PLAINTEXT-SECRET-wxyz"
	const clientSecret = "client-PLAINTEXT-SECRET"
	ps, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{
		ID: "pset_a", Name: "mine", Provider: "anthropic", Scope: persist.ScopeUser, UserID: u.ID, CreatedBy: u.ID,
		Models: []persist.ProviderModel{{ID: "claude-x", ContextWindow: 200000, InputPricePerMTok: 3}},
		OAuth:  &persist.ProviderOAuth{AuthorizeURL: "https://auth.example/authorize", TokenURL: "https://auth.example/token", ClientID: "cid"},
	}, persist.ProviderSecrets{APIKey: apiKey, ClientSecret: clientSecret})
	require.NoError(t, err)
	require.True(t, ps.HasAPIKey)
	require.Equal(t, "…wxyz", ps.APIKeyHint)
	require.True(t, ps.HasClientSecret)
	require.False(t, ps.OAuthConnected)
	require.Equal(t, ps.CreatedAt, ps.UpdatedAt)

	got, err := s.ProviderSetting("pset_a")
	require.NoError(t, err)
	require.Equal(t, ps, got)
	sec, err := s.ProviderSecrets("pset_a")
	require.NoError(t, err)
	require.Equal(t, persist.Secret(apiKey), sec.APIKey)
	require.Equal(t, persist.Secret(clientSecret), sec.ClientSecret)
	require.Nil(t, sec.Token)

	// A token arrives; the version moves on and both secrets stay.
	exp := time.Now().Add(time.Hour).UTC().Round(0)
	ps2, err := s.UpdateProviderSetting(ctx, "pset_a", func(p *persist.ProviderSetting, sec *persist.ProviderSecrets) error {
		sec.Token = &persist.OAuthToken{AccessToken: "at-PLAINTEXT-SECRET", RefreshToken: "rt-PLAINTEXT-SECRET", TokenType: "Bearer", Expiry: exp}
		p.HasAPIKey = false // maintained by the store: ignored
		return nil
	})
	require.NoError(t, err)
	require.True(t, ps2.UpdatedAt.After(ps.UpdatedAt))
	require.True(t, ps2.OAuthConnected)
	require.True(t, ps2.HasAPIKey)
	require.Equal(t, exp, ps2.OAuthExpiry)

	// Nothing secret in the clear on disk, nor in a printed value.
	require.NoError(t, s.Close())
	raw, err := os.ReadFile(filepath.Join(dir, "seshat.db"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), "PLAINTEXT-SECRET")
	require.Contains(t, string(raw), "pset_a", "the record itself is there")
	require.NotContains(t, fmt.Sprintf("%v %+v %#v %s", sec, sec, sec, sec.APIKey), "PLAINTEXT")
	b, err := json.Marshal(sec)
	require.NoError(t, err)
	require.NotContains(t, string(b), "PLAINTEXT")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", sec.APIKey, "secrets", sec)
	require.NotContains(t, logged.String(), "PLAINTEXT")

	// Reopened with the same key, everything opens again.
	s = openAt(t, dir, withKey(masterKey(7)))
	sec, err = s.ProviderSecrets("pset_a")
	require.NoError(t, err)
	require.Equal(t, persist.Secret(apiKey), sec.APIKey)
	require.Equal(t, persist.Secret("rt-PLAINTEXT-SECRET"), sec.Token.RefreshToken)
	require.Equal(t, exp, sec.Token.Expiry)
}

func TestWrongMasterKeyFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, withKey(masterKey(1)))
	require.NoError(t, s.Close())

	_, err := persist.Open(persist.Config{Dir: dir, NoSync: true, MasterKey: masterKey(2)})
	require.ErrorIs(t, err, persist.ErrWrongMasterKey)
	require.Contains(t, err.Error(), "master key does not match")

	_, err = persist.Open(persist.Config{Dir: dir, NoSync: true, MasterKey: []byte("short")})
	require.ErrorIs(t, err, persist.ErrInvalid)

	// The right key still opens it: the failed attempts changed nothing.
	openAt(t, dir, withKey(masterKey(1)))
}

func TestProviderSettingWithoutMasterKey(t *testing.T) {
	s := openEngine(t)
	ctx := t.Context()
	u := settingsUser(t, s)
	_, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_k", Name: "k", Provider: "openai",
		Scope: persist.ScopeUser, UserID: u.ID}, persist.ProviderSecrets{APIKey: "sk-x"})
	require.ErrorIs(t, err, persist.ErrNoMasterKey)

	// A setting without credentials needs no key.
	_, err = s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_n", Name: "ollama", Provider: "openai",
		BaseURL: "http://localhost:11434/v1", Scope: persist.ScopeUser, UserID: u.ID}, persist.ProviderSecrets{})
	require.NoError(t, err)
	sec, err := s.ProviderSecrets("pset_n")
	require.NoError(t, err)
	require.Equal(t, persist.ProviderSecrets{}, sec)
}

func TestSealedSecretsAreBoundToTheirSetting(t *testing.T) {
	s := openAt(t, t.TempDir(), withKey(masterKey(3)))
	ctx := t.Context()
	u := settingsUser(t, s)
	for _, id := range []string{"pset_one", "pset_two"} {
		_, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: id, Name: id, Provider: "openai",
			Scope: persist.ScopeUser, UserID: u.ID}, persist.ProviderSecrets{APIKey: persist.Secret("key-of-" + id)})
		require.NoError(t, err)
	}
	// Copy one's sealed credentials onto the other, as an attacker with
	// write access to the file could.
	require.NoError(t, s.BoltDB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("provider_settings"))
		var one, two map[string]any
		require.NoError(t, json.Unmarshal(b.Get([]byte("pset_one")), &one))
		require.NoError(t, json.Unmarshal(b.Get([]byte("pset_two")), &two))
		two["sealed"] = one["sealed"]
		v, err := json.Marshal(two)
		require.NoError(t, err)
		return b.Put([]byte("pset_two"), v)
	}))
	_, err := s.ProviderSecrets("pset_two")
	require.Error(t, err)
	require.Contains(t, err.Error(), "do not open")
	sec, err := s.ProviderSecrets("pset_one")
	require.NoError(t, err)
	require.Equal(t, persist.Secret("key-of-pset_one"), sec.APIKey)
}

func TestProviderSettingsForScopesAndOrder(t *testing.T) {
	s := openEngine(t, withKey(masterKey(4)))
	ctx := t.Context()
	a, b := settingsUser(t, s), settingsUser(t, s)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	create := func(id, scope, user, ws string, minute int) {
		t.Helper()
		_, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: id, Name: id, Provider: "openai", Scope: scope,
			UserID: user, WorkspaceID: ws, CreatedAt: base.Add(time.Duration(minute) * time.Minute)}, persist.ProviderSecrets{})
		require.NoError(t, err)
	}
	create("pset_srv2", persist.ScopeServer, "", "", 1)
	create("pset_srv1", persist.ScopeServer, "", "", 0)
	create("pset_ws", persist.ScopeWorkspace, "", a.DefaultWorkspaceID, 0)
	create("pset_a2", persist.ScopeUser, a.ID, "", 5)
	create("pset_a1", persist.ScopeUser, a.ID, "", 2)
	create("pset_b", persist.ScopeUser, b.ID, "", 0)

	ids := func(list []persist.ProviderSetting) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	list, err := s.ProviderSettingsFor(a.ID, []string{a.DefaultWorkspaceID})
	require.NoError(t, err)
	require.Equal(t, []string{"pset_a1", "pset_a2", "pset_ws", "pset_srv1", "pset_srv2"}, ids(list))
	list, err = s.ProviderSettingsFor(b.ID, []string{b.DefaultWorkspaceID})
	require.NoError(t, err)
	require.Equal(t, []string{"pset_b", "pset_srv1", "pset_srv2"}, ids(list))

	// Moving a setting to another scope moves it in the listing.
	_, err = s.UpdateProviderSetting(ctx, "pset_b", func(p *persist.ProviderSetting, _ *persist.ProviderSecrets) error {
		p.Scope, p.UserID = persist.ScopeServer, ""
		return nil
	})
	require.NoError(t, err)
	list, err = s.ProviderSettingsFor(a.ID, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"pset_a1", "pset_a2", "pset_b", "pset_srv1", "pset_srv2"}, ids(list))

	// The store checks owners and scopes.
	_, err = s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_bad", Scope: persist.ScopeUser, UserID: "usr_nobody"}, persist.ProviderSecrets{})
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_bad", Scope: "galaxy"}, persist.ProviderSecrets{})
	require.ErrorIs(t, err, persist.ErrInvalid)
	_, err = s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_a1", Scope: persist.ScopeServer}, persist.ProviderSecrets{})
	require.ErrorIs(t, err, persist.ErrConflict)
	require.NoError(t, s.Check())
}

func TestDefaultProviderSettingAndDelete(t *testing.T) {
	s := openAt(t, t.TempDir(), withKey(masterKey(5)))
	ctx := t.Context()
	a, b := settingsUser(t, s), settingsUser(t, s)
	_, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_s", Name: "s", Provider: "openai",
		Scope: persist.ScopeServer}, persist.ProviderSecrets{APIKey: "sk-server-key"})
	require.NoError(t, err)

	id, err := s.DefaultProviderSetting(a.ID)
	require.NoError(t, err)
	require.Empty(t, id)
	require.NoError(t, s.SetDefaultProviderSetting(ctx, a.ID, "pset_s"))
	require.NoError(t, s.SetDefaultProviderSetting(ctx, b.ID, "pset_s"))
	id, err = s.DefaultProviderSetting(a.ID)
	require.NoError(t, err)
	require.Equal(t, "pset_s", id)
	require.ErrorIs(t, s.SetDefaultProviderSetting(ctx, a.ID, "pset_missing"), persist.ErrNotFound)

	require.NoError(t, s.SetDefaultProviderSetting(ctx, b.ID, ""))
	id, err = s.DefaultProviderSetting(b.ID)
	require.NoError(t, err)
	require.Empty(t, id)
	require.NoError(t, s.SetDefaultProviderSetting(ctx, b.ID, "pset_s"))

	require.NoError(t, s.DeleteProviderSetting(ctx, "pset_s"))
	for _, u := range []string{a.ID, b.ID} {
		id, err = s.DefaultProviderSetting(u)
		require.NoError(t, err)
		require.Empty(t, id, "deleting a setting clears it as a default")
	}
	_, err = s.ProviderSetting("pset_s")
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.ProviderSecrets("pset_s")
	require.ErrorIs(t, err, persist.ErrNotFound)
	require.ErrorIs(t, s.DeleteProviderSetting(ctx, "pset_s"), persist.ErrNotFound)
	list, err := s.ProviderSettingsFor(a.ID, nil)
	require.NoError(t, err)
	require.Empty(t, list)
	require.NoError(t, s.BoltDB().View(func(tx *bolt.Tx) error {
		require.Zero(t, tx.Bucket([]byte("provider_defaults_by_setting")).Stats().KeyN)
		return nil
	}))
}

func TestSaveProviderTokenKeepsVersion(t *testing.T) {
	s := openEngine(t, withKey(masterKey(6)))
	ctx := t.Context()
	u := settingsUser(t, s)
	ps, err := s.CreateProviderSetting(ctx, persist.ProviderSetting{ID: "pset_o", Name: "o", Provider: "openai",
		Scope: persist.ScopeUser, UserID: u.ID}, persist.ProviderSecrets{Token: &persist.OAuthToken{AccessToken: "at1", RefreshToken: "rt1"}})
	require.NoError(t, err)

	exp := time.Now().Add(time.Hour).UTC().Round(0)
	require.NoError(t, s.SaveProviderToken(ctx, "pset_o", ps.UpdatedAt, persist.OAuthToken{AccessToken: "at2", RefreshToken: "rt2", Expiry: exp}))
	got, err := s.ProviderSetting("pset_o")
	require.NoError(t, err)
	require.Equal(t, ps.UpdatedAt, got.UpdatedAt, "a refresh is not an edit")
	require.Equal(t, exp, got.OAuthExpiry)
	sec, err := s.ProviderSecrets("pset_o")
	require.NoError(t, err)
	require.Equal(t, persist.Secret("at2"), sec.Token.AccessToken)

	// After an edit, a refresh based on the old version is refused.
	_, err = s.UpdateProviderSetting(ctx, "pset_o", func(_ *persist.ProviderSetting, sec *persist.ProviderSecrets) error {
		sec.Token = nil
		return nil
	})
	require.NoError(t, err)
	err = s.SaveProviderToken(ctx, "pset_o", ps.UpdatedAt, persist.OAuthToken{AccessToken: "at3"})
	require.ErrorIs(t, err, persist.ErrConflict)
	sec, err = s.ProviderSecrets("pset_o")
	require.NoError(t, err)
	require.Nil(t, sec.Token)
	require.ErrorIs(t, s.SaveProviderToken(ctx, "pset_gone", ps.UpdatedAt, persist.OAuthToken{}), persist.ErrNotFound)
}

func TestSecretHint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"short", "…"},
		{"sk-1234567wxyz", "…wxyz"},
	} {
		require.Equal(t, tc.want, persist.Secret(tc.in).Hint(), tc.in)
		require.False(t, tc.in != "" && strings.Contains(persist.Secret(tc.in).String(), tc.in))
	}
}
