package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCAgents manages an agent profile over gRPC with REST's rules: an
// update is a new version, another user finds none of it, a viewer may
// not create one, and bad input is InvalidArgument.
func TestGRPCAgents(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	g.register(t, "root@example.com", "password123")
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, ws := aliceAcct.Token, aliceAcct.User.DefaultWorkspaceID
	bobAcct := g.register(t, "bob@example.com", "password123")
	bob := bobAcct.Token
	const svc = "/seshat.v1.AgentService/"

	var made seshatv1.CreateAgentResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"CreateAgent", &seshatv1.CreateAgentRequest{
		Slug: "reviewer", Name: "Reviewer", WorkspaceId: ws, SystemPrompt: "You review code.", MaxTurns: 5,
		Tools: &seshatv1.ToolFilter{Deny: []string{"list_files"}},
	}, &made))
	a := made.GetAgent()
	require.NotEmpty(t, a.GetId())
	require.EqualValues(t, 1, a.GetVersion())
	require.Equal(t, ws, a.GetWorkspaceId())
	require.EqualValues(t, 5, a.GetMaxTurns())
	require.Equal(t, []string{"list_files"}, a.GetTools().GetDeny())

	var got seshatv1.GetAgentResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"GetAgent", &seshatv1.GetAgentRequest{Id: a.GetId()}, &got))
	require.Equal(t, "You review code.", got.GetAgent().GetSystemPrompt())
	var list seshatv1.ListAgentsResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListAgents", &seshatv1.ListAgentsRequest{Slug: "reviewer"}, &list))
	require.Len(t, list.GetData(), 1)

	var upd seshatv1.UpdateAgentResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"UpdateAgent", &seshatv1.UpdateAgentRequest{
		Id: a.GetId(), Agent: &seshatv1.Agent{SystemPrompt: "You review Go code.", MaxTurns: 9},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"system_prompt"}},
	}, &upd))
	require.EqualValues(t, 2, upd.GetAgent().GetVersion())
	require.Equal(t, "You review Go code.", upd.GetAgent().GetSystemPrompt())
	require.EqualValues(t, 5, upd.GetAgent().GetMaxTurns(), "a field outside the mask stays")
	require.Equal(t, "Reviewer", upd.GetAgent().GetName())
	var vs seshatv1.ListAgentVersionsResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListAgentVersions", &seshatv1.ListAgentVersionsRequest{Id: a.GetId()}, &vs))
	require.Len(t, vs.GetData(), 2)

	t.Run("another user's profile is not found", func(t *testing.T) {
		for _, call := range []func() error{
			func() error {
				return g.invoke(ctx, bob, svc+"GetAgent", &seshatv1.GetAgentRequest{Id: a.GetId()}, &got)
			},
			func() error {
				return g.invoke(ctx, bob, svc+"UpdateAgent", &seshatv1.UpdateAgentRequest{Id: a.GetId(), Agent: &seshatv1.Agent{Name: "mine"}}, &upd)
			},
			func() error {
				return g.invoke(ctx, bob, svc+"DeleteAgent", &seshatv1.DeleteAgentRequest{Id: a.GetId()}, &seshatv1.DeleteAgentResponse{})
			},
			func() error {
				return g.invoke(ctx, bob, svc+"ListAgentVersions", &seshatv1.ListAgentVersionsRequest{Id: a.GetId()}, &vs)
			},
		} {
			code, info := errorInfo(t, call())
			require.Equal(t, codes.NotFound, code)
			require.Equal(t, "not_found", info.GetReason())
		}
		require.NoError(t, g.invoke(ctx, bob, svc+"ListAgents", &seshatv1.ListAgentsRequest{}, &list))
		require.Empty(t, list.GetData())
	})

	t.Run("a viewer may not create", func(t *testing.T) {
		shared := created[apitype.Workspace](t, g.call(t, "POST", "/api/v1/workspaces", alice, apitype.CreateWorkspaceRequest{Name: "Shared"}), 201).ID
		inv := created[apitype.Invitation](t, g.call(t, "POST", "/api/v1/workspaces/"+shared+"/members", alice,
			apitype.AddMemberRequest{UserID: bobAcct.User.ID, Role: "viewer"}), 201)
		created[apitype.Invitation](t, g.call(t, "POST", "/api/v1/invitations/"+inv.ID+"/accept", bob, nil), 200)
		code, info := errorInfo(t, g.invoke(ctx, bob, svc+"CreateAgent", &seshatv1.CreateAgentRequest{Slug: "bobs", WorkspaceId: shared}, &made))
		require.Equal(t, codes.PermissionDenied, code, "%v", info)
	})

	t.Run("invalid input", func(t *testing.T) {
		for _, in := range []*seshatv1.CreateAgentRequest{
			{Slug: "Not A Slug", WorkspaceId: ws},
			{Slug: "", WorkspaceId: ws},
		} {
			code, _ := errorInfo(t, g.invoke(ctx, alice, svc+"CreateAgent", in, &made))
			require.Equal(t, codes.InvalidArgument, code, "%v", in)
		}
		code, _ := errorInfo(t, g.invoke(ctx, alice, svc+"UpdateAgent", &seshatv1.UpdateAgentRequest{
			Id: a.GetId(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version"}},
		}, &upd))
		require.Equal(t, codes.InvalidArgument, code)
	})

	require.NoError(t, g.invoke(ctx, alice, svc+"DeleteAgent", &seshatv1.DeleteAgentRequest{Id: a.GetId()}, &seshatv1.DeleteAgentResponse{}))
	code, _ := errorInfo(t, g.invoke(ctx, alice, svc+"GetAgent", &seshatv1.GetAgentRequest{Id: a.GetId()}, &got))
	require.Equal(t, codes.NotFound, code)
}
