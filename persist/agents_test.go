package persist_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
)

func TestAgentProfilesVersionedAndSlugUnique(t *testing.T) {
	s := openAt(t, t.TempDir())
	u := newUser(t, s)
	ctx := t.Context()
	ws, err := s.CreateWorkspace(ctx, persist.Workspace{Name: "team"}, u.ID)
	require.NoError(t, err)

	a, err := s.CreateAgent(ctx, persist.AgentProfile{ID: "agent_a", WorkspaceID: ws.ID, Slug: "helper", SystemPrompt: "one"})
	require.NoError(t, err)
	require.Equal(t, 1, a.Version)
	_, err = s.CreateAgent(ctx, persist.AgentProfile{ID: "agent_b", WorkspaceID: ws.ID, Slug: "helper"})
	require.ErrorIs(t, err, persist.ErrConflict, "a slug is unique within its workspace")
	_, err = s.CreateAgent(ctx, persist.AgentProfile{ID: "agent_g", Slug: "helper"})
	require.NoError(t, err, "the same slug server-wide is another profile")
	_, err = s.CreateAgent(ctx, persist.AgentProfile{ID: "agent_c", WorkspaceID: "ws_missing", Slug: "x"})
	require.ErrorIs(t, err, persist.ErrNotFound)

	b, err := s.UpdateAgent(ctx, a.ID, func(p *persist.AgentProfile) error {
		p.SystemPrompt, p.Slug, p.Version = "two", "helper-2", 99
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, b.Version)
	old, err := s.AgentVersion(a.ID, 1)
	require.NoError(t, err)
	require.Equal(t, "one", old.SystemPrompt, "an old version is never rewritten")
	vs, err := s.AgentVersions(a.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, 2, vs[0].Version)
	_, err = s.AgentBySlug(ws.ID, "helper")
	require.ErrorIs(t, err, persist.ErrNotFound, "the slug moved")
	got, err := s.AgentBySlug(ws.ID, "helper-2")
	require.NoError(t, err)
	require.Equal(t, "two", got.SystemPrompt)

	list, err := s.Agents([]string{ws.ID})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "agent_a", list[0].ID)
	require.Equal(t, "agent_g", list[1].ID, "server-wide last")

	require.NoError(t, s.DeleteAgent(ctx, a.ID))
	_, err = s.Agent(a.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	kept, err := s.AgentVersion(a.ID, 2)
	require.NoError(t, err, "a deleted profile's versions stay for its sessions")
	require.Equal(t, "two", kept.SystemPrompt)
	_, err = s.CreateAgent(ctx, persist.AgentProfile{ID: "agent_d", WorkspaceID: ws.ID, Slug: "helper-2"})
	require.NoError(t, err, "the slug is free again")

	_, err = s.DeleteWorkspace(ctx, ws.ID)
	require.NoError(t, err)
	_, err = s.Agent(a.ID)
	require.ErrorIs(t, err, persist.ErrNotFound)
	_, err = s.AgentVersion(a.ID, 1)
	require.ErrorIs(t, err, persist.ErrNotFound)
	require.NoError(t, s.DeleteAgent(ctx, "agent_g"))
	require.ErrorIs(t, s.DeleteAgent(ctx, "agent_g"), persist.ErrNotFound)
}
