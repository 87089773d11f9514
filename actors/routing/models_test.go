package routing

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
)

// catalog is the models API over a selector, as a server whose default
// model is mock:echo serves it.
type catalog struct{ sel provider.Selector }

func (c catalog) ListModels(ctx context.Context, userID string) ([]ModelInfo, error) {
	return ListModels(ctx, c.sel, userID, "mock:echo")
}

func (c catalog) ResolveModel(ctx context.Context, userID, settingID, name string) (string, error) {
	id, route, err := ResolveModel(ctx, c.sel, userID, settingID, name)
	if (id == "") != (route == nil) {
		return "", fmt.Errorf("id %q came with route %v", id, route)
	}
	return id, err
}

// hostWith returns the models API over sel, with a user id.
func hostWith(t *testing.T, sel provider.Selector) (catalog, string) {
	t.Helper()
	return catalog{sel: sel}, agent.NewID(agent.PrefixUser)
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
	withAnthropic := provider.NewRegistry()
	withAnthropic.Register("anthropic", provider.NewMock())
	withAnthropic.SetModels("anthropic", provider.ModelInfo{ID: "claude-haiku-4-5"})
	hA, uidA := hostWith(t, withAnthropic)
	hM, uidM := hostWith(t, provider.NewRegistry())
	hB, uidB := hostWith(t, bareSelector{reg: provider.NewRegistry()})

	tests := []struct {
		name    string
		h       catalog
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
