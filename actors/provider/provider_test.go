package provider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

type stubProvider struct{}

func (stubProvider) Stream(context.Context, *agent.ModelRequest, func(agent.ModelChunk)) (agent.ModelResponse, error) {
	return agent.ModelResponse{StopReason: agent.StopEndTurn}, nil
}

func TestRegistryResolve(t *testing.T) {
	r := NewRegistry()
	r.Register("stub", stubProvider{})
	require.Equal(t, []string{"mock", "stub"}, r.Names())

	tests := []struct {
		name      string
		model     string
		wantModel string
		wantStub  bool
		wantErr   string
	}{
		{name: "mock", model: "mock:echo", wantModel: "echo"},
		{name: "model with colon", model: "stub:a:b", wantModel: "a:b", wantStub: true},
		{name: "unknown provider", model: "nope:x", wantErr: `model "nope:x" names unknown provider "nope" (known providers: mock, stub)`},
		{name: "no colon", model: "echo", wantErr: `model "echo" is not of the form provider:model (known providers: mock, stub)`},
		{name: "empty provider", model: ":echo", wantErr: "not of the form provider:model"},
		{name: "empty model", model: "mock:", wantErr: "not of the form provider:model"},
		{name: "empty", model: "", wantErr: "not of the form provider:model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, model, err := r.Resolve(tc.model)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, agent.ErrInvalid)
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, p)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantModel, model)
			_, isStub := p.(stubProvider)
			require.Equal(t, tc.wantStub, isStub)
		})
	}
}

func TestRegistryRegister(t *testing.T) {
	r := NewRegistry()
	r.Register(MockName, stubProvider{})
	p, _, err := r.Resolve("mock:echo")
	require.NoError(t, err)
	require.IsType(t, stubProvider{}, p, "a later registration replaces the default mock")

	require.Panics(t, func() { r.Register("", stubProvider{}) })
	require.Panics(t, func() { r.Register("a:b", stubProvider{}) })
	require.Panics(t, func() { r.Register("x", nil) })
}

func TestRegistryModels(t *testing.T) {
	r := NewRegistry()
	r.Register("openai", NewMock())
	r.SetModels("openai", ModelInfo{ID: "gpt-4o-mini"}, ModelInfo{ID: "openai:gpt-4o"})
	r.SetModels("anthropic", ModelInfo{ID: "claude"}) // not registered: not listed
	ms, err := r.Models(t.Context(), "usr_x")
	require.NoError(t, err)
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []string{"mock:echo", "openai:gpt-4o", "openai:gpt-4o-mini"}, ids)
}
