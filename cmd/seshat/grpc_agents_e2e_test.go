package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
		Tools: &seshatv1.ToolFilter{Deny: []string{"list_files"}}, Memory: &seshatv1.MemorySettings{Extract: "off"},
	}, &made))
	a := made.GetAgent()
	require.Equal(t, "off", a.GetMemory().GetExtract())
	require.True(t, a.GetMemory().GetInject(), "an omitted inject is true, as for sessions and over REST")
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

// TestGRPCAgentSlug selects an agent profile by slug over gRPC as REST
// does: CreateSession keeps the profile's version and takes its system
// prompt, Query and QueryStream apply its tool filter, and a slug that
// does not resolve for the caller is NotFound.
func TestGRPCAgentSlug(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	g.register(t, "root@example.com", "password123")
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, ws := aliceAcct.Token, aliceAcct.User.DefaultWorkspaceID
	bob := g.register(t, "bob@example.com", "password123").Token

	var made seshatv1.CreateAgentResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.AgentService/CreateAgent", &seshatv1.CreateAgentRequest{
		Slug: "reviewer", Name: "Reviewer", WorkspaceId: ws, SystemPrompt: "You review code.",
		Tools: &seshatv1.ToolFilter{Deny: []string{"list_files"}},
	}, &made))
	prof := made.GetAgent()

	t.Run("create session", func(t *testing.T) {
		var out seshatv1.CreateSessionResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
			&seshatv1.CreateSessionRequest{AgentSlug: "reviewer"}, &out))
		s := out.GetSession()
		require.Equal(t, prof.GetId(), s.GetAgentId())
		require.EqualValues(t, 1, s.GetAgentVersion())
		require.Equal(t, "You review code.", s.GetSystemPrompt(), "the profile's system prompt")

		var own seshatv1.CreateSessionResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
			&seshatv1.CreateSessionRequest{AgentSlug: "reviewer", SystemPrompt: "Mine."}, &own))
		require.Equal(t, "Mine.", own.GetSession().GetSystemPrompt(), "the request's field wins")
	})

	t.Run("query", func(t *testing.T) {
		var plain seshatv1.QueryResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.QueryService/Query",
			&seshatv1.QueryRequest{Prompt: "@tool list_files {}"}, &plain))
		require.Len(t, plain.GetToolResults(), 1)
		require.False(t, plain.GetToolResults()[0].GetIsError(), "list_files runs without a profile: %v", plain.GetToolResults())

		var narrowed seshatv1.QueryResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.QueryService/Query",
			&seshatv1.QueryRequest{Prompt: "@tool list_files {}", AgentSlug: "reviewer", PermissionMode: "accept_all"}, &narrowed))
		require.Len(t, narrowed.GetToolResults(), 1)
		require.True(t, narrowed.GetToolResults()[0].GetIsError(), "the profile hides list_files: %v", narrowed.GetToolResults())
		var got seshatv1.GetSessionResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/GetSession",
			&seshatv1.GetSessionRequest{Id: narrowed.GetSessionId()}, &got))
		require.Equal(t, prof.GetId(), got.GetSession().GetAgentId())
	})

	t.Run("query stream", func(t *testing.T) {
		cs := g.openStream(t, ctx, alice, "/seshat.v1.QueryService/QueryStream",
			&seshatv1.QueryStreamRequest{Prompt: "@tool list_files {}", AgentSlug: "reviewer", PermissionMode: "accept_all"})
		var done *seshatv1.QueryResponse
		for {
			ev, err := recvEvent(cs)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if ev.GetEvent() == "done" {
				done = ev.GetDone()
			}
		}
		require.NotNil(t, done)
		require.Len(t, done.GetToolResults(), 1)
		require.True(t, done.GetToolResults()[0].GetIsError(), "the profile hides list_files: %v", done.GetToolResults())
		var got seshatv1.GetSessionResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/GetSession",
			&seshatv1.GetSessionRequest{Id: done.GetSessionId()}, &got))
		require.Equal(t, prof.GetId(), got.GetSession().GetAgentId())
		require.EqualValues(t, 1, got.GetSession().GetAgentVersion())
	})

	t.Run("a slug that does not resolve is not found", func(t *testing.T) {
		for _, call := range []func() error{
			func() error {
				return g.invoke(ctx, bob, "/seshat.v1.QueryService/Query",
					&seshatv1.QueryRequest{Prompt: "hi", AgentSlug: "reviewer"}, &seshatv1.QueryResponse{})
			},
			func() error {
				return g.invoke(ctx, bob, "/seshat.v1.SessionService/CreateSession",
					&seshatv1.CreateSessionRequest{AgentSlug: "reviewer"}, &seshatv1.CreateSessionResponse{})
			},
			func() error {
				return g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
					&seshatv1.CreateSessionRequest{AgentSlug: "nobody"}, &seshatv1.CreateSessionResponse{})
			},
			func() error {
				cs := g.openStream(t, ctx, bob, "/seshat.v1.QueryService/QueryStream",
					&seshatv1.QueryStreamRequest{Prompt: "hi", AgentSlug: "reviewer"})
				_, err := recvEvent(cs)
				return err
			},
		} {
			code, info := errorInfo(t, call())
			require.Equal(t, codes.NotFound, code)
			require.Equal(t, "not_found", info.GetReason())
		}
	})
}

// TestGRPCAgentWebSearch checks that a profile created over gRPC without
// web_search leaves web search as the server offers it, as REST's absent
// field does, and that an update naming web_search false hides the tool.
func TestGRPCAgentWebSearch(t *testing.T) {
	g := startGRPCServer(t, nil)
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"results":[{"url":"https://go.dev/","title":"The Go Programming Language","content":"Go","publishedDate":null}]}`, r.URL.Query().Get("q"))
	}))
	t.Cleanup(searx.Close)
	ctx := t.Context()
	admin := g.register(t, "root@example.com", "password123").Token
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, ws := aliceAcct.Token, aliceAcct.User.DefaultWorkspaceID
	resp := g.do(t, request{Method: http.MethodPut, Path: "/api/v1/web/search/settings", Token: admin,
		Body: map[string]any{"provider": "searxng", "base_url": searx.URL}})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))

	search := func() *seshatv1.ToolResult {
		t.Helper()
		var out seshatv1.QueryResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.QueryService/Query",
			&seshatv1.QueryRequest{Prompt: `@tool web_search {"query":"golang"}`, AgentSlug: "researcher"}, &out))
		require.Len(t, out.GetToolResults(), 1)
		return out.GetToolResults()[0]
	}

	var made seshatv1.CreateAgentResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.AgentService/CreateAgent",
		&seshatv1.CreateAgentRequest{Slug: "researcher", WorkspaceId: ws}, &made))
	id := made.GetAgent().GetId()
	require.True(t, made.GetAgent().GetWebSearch(), "the profile does not hide web search")
	rest := created[apitype.Agent](t, g.call(t, http.MethodGet, "/api/v1/agents/"+id, alice, nil), 200)
	require.Nil(t, rest.WebSearch, "REST shows the field as never set")
	res := search()
	require.False(t, res.GetIsError(), res.GetContent())
	require.Contains(t, res.GetContent(), "https://go.dev/")

	var upd seshatv1.UpdateAgentResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.AgentService/UpdateAgent", &seshatv1.UpdateAgentRequest{
		Id: id, Agent: &seshatv1.Agent{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"web_search"}},
	}, &upd))
	require.False(t, upd.GetAgent().GetWebSearch())
	rest = created[apitype.Agent](t, g.call(t, http.MethodGet, "/api/v1/agents/"+id, alice, nil), 200)
	require.NotNil(t, rest.WebSearch)
	require.False(t, *rest.WebSearch)
	require.True(t, search().GetIsError(), "the profile now hides web_search")
}
