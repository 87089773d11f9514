package host

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// hostWith builds a host on sel and returns it with a user id.
func hostWith(t *testing.T, sel provider.Selector) (*Host, string) {
	t.Helper()
	store := persisttest.Open(t)
	h, err := New(Config{Store: store, Providers: sel, Session: session.Config{DefaultModel: "mock:echo"}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "m@example.com"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	return h, u.ID
}

// bareSelector serves only what its registry resolves, plus the bare name
// "house" as a per-user default would; it cannot list models.
type bareSelector struct{ reg *provider.Registry }

func (b bareSelector) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	if model == "house" {
		return provider.NewMock(), "echo", nil
	}
	return b.reg.Select(ctx, userID, settingID, model)
}

func TestListModels(t *testing.T) {
	leakCheck(t)
	reg := provider.NewRegistry()
	reg.Register("anthropic", provider.NewMock())
	reg.SetModels("anthropic", provider.ModelInfo{ID: "claude-haiku-4-5", DisplayName: "Claude Haiku 4.5", ContextWindow: 200000, MaxOutputTokens: 64000})
	h, uid := hostWith(t, reg)
	ms, err := h.ListModels(t.Context(), uid)
	require.NoError(t, err)
	require.Equal(t, []ModelInfo{
		{ID: "anthropic:claude-haiku-4-5", DisplayName: "Claude Haiku 4.5", ContextWindow: 200000, MaxOutputTokens: 64000},
		{ID: "mock:echo", DisplayName: "Mock (offline echo)"},
	}, ms)

	h2, uid2 := hostWith(t, bareSelector{reg: provider.NewRegistry()})
	ms, err = h2.ListModels(t.Context(), uid2)
	require.NoError(t, err)
	require.Equal(t, []ModelInfo{{ID: "mock:echo", DisplayName: "mock:echo"}}, ms, "a selector that cannot list gives the default model")
}

func TestResolveModel(t *testing.T) {
	leakCheck(t)
	withAnthropic := provider.NewRegistry()
	withAnthropic.Register("anthropic", provider.NewMock())
	withAnthropic.SetModels("anthropic", provider.ModelInfo{ID: "claude-haiku-4-5"})
	hA, uidA := hostWith(t, withAnthropic)
	hM, uidM := hostWith(t, provider.NewRegistry())
	hB, uidB := hostWith(t, bareSelector{reg: provider.NewRegistry()})

	tests := []struct {
		name    string
		h       *Host
		uid     string
		setting string
		model   string
		want    string
		wantErr error
	}{
		{"seshat id", hM, uidM, "", "mock:echo", "mock:echo", nil},
		{"unknown provider", hM, uidM, "", "nope:x", "", agent.ErrNotFound},
		{"unknown setting", hM, uidM, "pset_x", "mock:echo", "", agent.ErrNotFound},
		{"listed bare name", hA, uidA, "", "claude-haiku-4-5", "anthropic:claude-haiku-4-5", nil},
		{"unlisted claude name", hA, uidA, "", "claude-opus-4-1", "anthropic:claude-opus-4-1", nil},
		{"bare name the selector routes", hB, uidB, "", "house", "house", nil},
		{"claude name without the provider", hM, uidM, "", "claude-opus-4-1", "", nil},
		{"unknown bare name", hM, uidM, "", "gpt-x", "", nil},
		{"bare name, unknown setting", hM, uidM, "pset_x", "claude-opus-4-1", "", agent.ErrNotFound},
		{"empty", hM, uidM, "", " ", "", agent.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h.ResolveModel(t.Context(), tc.uid, tc.setting, tc.model)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
