package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

func TestMemoriesAPI(t *testing.T) {
	srv := startServer(t, "", nil)
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")
	carol := srv.register(t, "carol@example.com", "password1")
	a := alice.Token
	post := func(token, path string, body any) response {
		t.Helper()
		return srv.call(t, http.MethodPost, path, token, body)
	}

	var tea apitype.MemoryWrite
	t.Run("save, and a repeat is a noop", func(t *testing.T) {
		tea = created[apitype.MemoryWrite](t, post(a, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "The user drinks green tea.", Kind: "preference"}), 201)
		require.Equal(t, "add", tea.Op)
		require.Equal(t, "user", tea.Memory.Scope)
		require.Equal(t, "preference", tea.Memory.Kind)
		require.Equal(t, "active", tea.Memory.Status)
		require.Equal(t, alice.User.ID, tea.Memory.UserID)
		require.Equal(t, alice.User.DefaultWorkspaceID, tea.Memory.WorkspaceID)
		require.Nil(t, tea.Memory.Supersedes)
		require.Nil(t, tea.Memory.Source)

		again := created[apitype.MemoryWrite](t, post(a, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "the user drinks GREEN tea"}), 200)
		require.Equal(t, "noop", again.Op)
		require.Equal(t, tea.Memory.ID, again.Memory.ID)

		requireAPIError(t, post(a, "/api/v1/memories", apitype.CreateMemoryRequest{Content: ""}), 400, "invalid_request")
		requireAPIError(t, post(a, "/api/v1/memories", map[string]any{"content": "x y", "colour": "red"}), 400, "invalid_field")
		requireAPIError(t, post(a, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "x y", Kind: "gossip"}), 400, "invalid_request")
	})

	var coffee apitype.Memory
	t.Run("PATCH supersedes instead of overwriting", func(t *testing.T) {
		coffee = created[apitype.Memory](t, srv.call(t, http.MethodPatch, "/api/v1/memories/"+tea.Memory.ID, a, apitype.UpdateMemoryRequest{Content: "The user drinks black coffee."}), 200)
		require.NotEqual(t, tea.Memory.ID, coffee.ID)
		require.Equal(t, tea.Memory.ID, *coffee.Supersedes)
		require.Equal(t, "preference", coffee.Kind)
		old := created[apitype.Memory](t, srv.get(t, "/api/v1/memories/"+tea.Memory.ID, a), 200)
		require.Equal(t, "superseded", old.Status)
		require.Equal(t, coffee.ID, *old.SupersededBy)
		requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/memories/"+tea.Memory.ID, a, apitype.UpdateMemoryRequest{Content: "tea again"}), 409, "conflict")
	})

	t.Run("search leaves superseded memories out unless asked", func(t *testing.T) {
		hits := created[apitype.List[apitype.MemoryHit]](t, post(a, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: "what does the user drink?"}), 200)
		require.Len(t, hits.Data, 1)
		require.Equal(t, coffee.ID, hits.Data[0].Memory.ID)
		require.Greater(t, hits.Data[0].Score, 0.0)
		hits = created[apitype.List[apitype.MemoryHit]](t, post(a, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: "green tea", IncludeSuperseded: true}), 200)
		require.Len(t, hits.Data, 1)
		require.Equal(t, tea.Memory.ID, hits.Data[0].Memory.ID)
		requireAPIError(t, post(a, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: "x", Limit: 51}), 400, "invalid_request")
	})

	t.Run("list filters and pages", func(t *testing.T) {
		list := created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories", a), 200)
		require.Len(t, list.Data, 2)
		require.Equal(t, coffee.ID, list.Data[0].ID, "newest first")
		list = created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories?status=active", a), 200)
		require.Len(t, list.Data, 1)
		page := created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories?limit=1", a), 200)
		require.Len(t, page.Data, 1)
		require.NotEmpty(t, page.NextCursor)
		next := created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories?limit=1&cursor="+page.NextCursor, a), 200)
		require.Equal(t, tea.Memory.ID, next.Data[0].ID)
		requireAPIError(t, srv.get(t, "/api/v1/memories?status=maybe", a), 400, "invalid_request")
		requireAPIError(t, srv.get(t, "/api/v1/memories?cursor=zz", a), 400, "invalid_cursor")
	})

	t.Run("another user's memories are not found", func(t *testing.T) {
		requireAPIError(t, srv.get(t, "/api/v1/memories/"+coffee.ID, bob.Token), 404, "not_found")
		requireAPIError(t, srv.call(t, http.MethodPatch, "/api/v1/memories/"+coffee.ID, bob.Token, apitype.UpdateMemoryRequest{Content: "x y"}), 404, "not_found")
		requireAPIError(t, srv.call(t, http.MethodDelete, "/api/v1/memories/"+coffee.ID, bob.Token, nil), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/memories?workspace_id="+alice.User.DefaultWorkspaceID, bob.Token), 404, "not_found")
		requireAPIError(t, post(bob.Token, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "x y", WorkspaceID: alice.User.DefaultWorkspaceID}), 404, "not_found")
		list := created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories", bob.Token), 200)
		require.Empty(t, list.Data)
		requireAPIError(t, srv.get(t, "/api/v1/memories/mem_nope", a), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/memories", ""), 401, "unauthorized")
	})

	t.Run("workspace memories: members read, editors write", func(t *testing.T) {
		ws := created[apitype.Workspace](t, post(a, "/api/v1/workspaces", apitype.CreateWorkspaceRequest{Name: "Team"}), 201)
		// alice registered first and is a server admin: she adds directly.
		created[apitype.Member](t, post(a, "/api/v1/workspaces/"+ws.ID+"/members", apitype.AddMemberRequest{UserID: carol.User.ID, Role: "viewer"}), 201)
		shared := created[apitype.MemoryWrite](t, post(a, "/api/v1/memories", apitype.CreateMemoryRequest{
			Content: "Releases ship on Tuesdays", Scope: "workspace", Kind: "instruction", WorkspaceID: ws.ID}), 201)
		require.Equal(t, "workspace", shared.Memory.Scope)

		got := created[apitype.Memory](t, srv.get(t, "/api/v1/memories/"+shared.Memory.ID, carol.Token), 200)
		require.Equal(t, "Releases ship on Tuesdays", got.Content)
		list := created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories?scope=workspace&workspace_id="+ws.ID, carol.Token), 200)
		require.Len(t, list.Data, 1)
		requireAPIError(t, post(carol.Token, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "Releases ship on Fridays", Scope: "workspace", WorkspaceID: ws.ID}), 403, "forbidden")
		requireAPIError(t, srv.call(t, http.MethodDelete, "/api/v1/memories/"+shared.Memory.ID, carol.Token, nil), 403, "forbidden")
		// A viewer keeps private memories of their own there.
		mine := created[apitype.MemoryWrite](t, post(carol.Token, "/api/v1/memories", apitype.CreateMemoryRequest{Content: "I review on Mondays", WorkspaceID: ws.ID}), 201)
		requireAPIError(t, srv.get(t, "/api/v1/memories/"+mine.Memory.ID, a), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/memories/"+shared.Memory.ID, bob.Token), 404, "not_found")
	})

	t.Run("extract from a session, dry run first", func(t *testing.T) {
		// A session that does not extract by itself.
		sess := created[apitype.Session](t, post(a, "/api/v1/sessions", apitype.CreateSessionRequest{Memory: &apitype.SessionMemory{Extract: "off", Inject: true}}), 201)
		q := srv.query(t, a, apitype.QueryRequest{SessionID: sess.ID, Prompt: "@remember User lives in Berlin\n@remember User has a cat named Miso\nhi"})
		require.Equal(t, "echo: hi", q.Content, "@remember lines do not change the reply")
		dry := created[apitype.ExtractMemoriesResponse](t, post(a, "/api/v1/memories/extract", apitype.ExtractMemoriesRequest{SessionID: q.SessionID, DryRun: true}), 200)
		require.Len(t, dry.Ops, 2)
		for _, op := range dry.Ops {
			require.Equal(t, "add", op.Op)
			requireAPIError(t, srv.get(t, "/api/v1/memories/"+op.Memory.ID, a), 404, "not_found")
		}
		ops := created[apitype.ExtractMemoriesResponse](t, post(a, "/api/v1/memories/extract", apitype.ExtractMemoriesRequest{SessionID: q.SessionID}), 200)
		require.Len(t, ops.Ops, 2)
		hits := created[apitype.List[apitype.MemoryHit]](t, post(a, "/api/v1/memories/search", apitype.SearchMemoriesRequest{Query: "cat"}), 200)
		require.Len(t, hits.Data, 1)
		require.Equal(t, "User has a cat named Miso", hits.Data[0].Memory.Content)
		require.NotNil(t, hits.Data[0].Memory.Source)
		require.Equal(t, q.SessionID, hits.Data[0].Memory.Source.SessionID)
		again := created[apitype.ExtractMemoriesResponse](t, post(a, "/api/v1/memories/extract", apitype.ExtractMemoriesRequest{SessionID: q.SessionID}), 200)
		for _, op := range again.Ops {
			require.Equal(t, "noop", op.Op, "%s", op.Reason)
		}
		requireAPIError(t, post(bob.Token, "/api/v1/memories/extract", apitype.ExtractMemoriesRequest{SessionID: q.SessionID}), 404, "not_found")
		requireAPIError(t, post(a, "/api/v1/memories/extract", apitype.ExtractMemoriesRequest{}), 400, "invalid_request")
	})

	t.Run("writes are audited; delete removes for good", func(t *testing.T) {
		require.Equal(t, 204, srv.call(t, http.MethodDelete, "/api/v1/memories/"+coffee.ID, a, nil).Status)
		requireAPIError(t, srv.get(t, "/api/v1/memories/"+coffee.ID, a), 404, "not_found")
		log := created[apitype.AuditList](t, srv.get(t, "/api/v1/audit/logs?resource_id="+coffee.ID, a), 200)
		var actions []string
		for _, e := range log.Data {
			actions = append(actions, e.Action)
		}
		require.Contains(t, actions, "DELETE /api/v1/memories/{id}")
		log = created[apitype.AuditList](t, srv.get(t, "/api/v1/audit/logs?action=POST+/api/v1/memories", a), 200)
		require.NotEmpty(t, log.Data)
		require.Equal(t, "memory", log.Data[0].ResourceType)
	})
}

// memoryList lists the caller's memories.
func memoryList(t *testing.T, srv *testServer, token, query string) []apitype.Memory {
	t.Helper()
	return created[apitype.MemoryList](t, srv.get(t, "/api/v1/memories"+query, token), 200).Data
}

func TestMemoriesAcrossConversations(t *testing.T) {
	srv := startServer(t, "", nil)
	u := srv.register(t, "alice@example.com", "password1")
	tok := u.Token

	// The first conversation teaches; extraction runs after it, in the
	// background.
	first := srv.query(t, tok, apitype.QueryRequest{Prompt: "@remember User lives in Berlin\n@remember User's favourite editor is Helix\nI moved recently"})
	require.Empty(t, first.MemoriesUsed)
	require.Eventually(t, func() bool { return len(memoryList(t, srv, tok, "")) == 2 }, 10*time.Second, 20*time.Millisecond)
	for _, m := range memoryList(t, srv, tok, "") {
		require.Equal(t, first.SessionID, m.Source.SessionID)
		require.Equal(t, first.TurnID, m.Source.TurnID)
	}

	// A second conversation, in a new session, recalls it.
	st := srv.stream(t, tok, apitype.QueryRequest{Prompt: "@memories\nwhere does the user live?"})
	ev := decodeRuntime(t, st.Until(isRuntime("memory_recalled")))
	require.Len(t, ev.MemoryIDs, 1)
	done := decodeDone(t, st.Until(isEnd))
	st.Close()
	require.NotEqual(t, first.SessionID, done.SessionID)
	require.Equal(t, "memories: User lives in Berlin", done.Content)
	require.Equal(t, ev.MemoryIDs, done.MemoriesUsed)

	// A contradiction supersedes; the old fact no longer comes back.
	srv.query(t, tok, apitype.QueryRequest{SessionID: done.SessionID, Prompt: "@remember User lives in Munich !replaces User lives in Berlin\nI moved again"})
	require.Eventually(t, func() bool { return len(memoryList(t, srv, tok, "?status=superseded")) == 1 }, 10*time.Second, 20*time.Millisecond)
	old := memoryList(t, srv, tok, "?status=superseded")[0]
	require.Equal(t, "User lives in Berlin", old.Content)
	require.NotNil(t, old.SupersededBy)
	again := srv.query(t, tok, apitype.QueryRequest{Prompt: "@memories\nwhere does the user live?"})
	require.Equal(t, "memories: User lives in Munich", again.Content)
	require.Equal(t, []string{*old.SupersededBy}, again.MemoriesUsed)

	// Repeating a known fact adds nothing.
	srv.query(t, tok, apitype.QueryRequest{Prompt: "@remember user's favourite editor is Helix"})
	search := created[apitype.List[apitype.MemoryHit]](t, srv.call(t, http.MethodPost, "/api/v1/memories/search", tok, apitype.SearchMemoriesRequest{Query: "editor", IncludeSuperseded: true}), 200)
	require.Len(t, search.Data, 1)

	t.Run("the session's memory setting turns recall and extraction off", func(t *testing.T) {
		sess := created[apitype.Session](t, srv.call(t, http.MethodPost, "/api/v1/sessions", tok,
			apitype.CreateSessionRequest{Memory: &apitype.SessionMemory{Extract: "off", Inject: false}}), 201)
		r := srv.query(t, tok, apitype.QueryRequest{SessionID: sess.ID, Prompt: "@remember User owns a boat\n@memories\nwhere does the user live?"})
		require.Equal(t, "memories: none", r.Content)
		require.Empty(t, r.MemoriesUsed)
		// A later turn elsewhere is extracted; the boat never is.
		srv.query(t, tok, apitype.QueryRequest{Prompt: "@remember User plays chess"})
		require.Eventually(t, func() bool { return len(memoryList(t, srv, tok, "?q=chess")) == 1 }, 10*time.Second, 20*time.Millisecond)
		require.Empty(t, memoryList(t, srv, tok, "?q=boat"))
	})

	t.Run("preferences turn injection off", func(t *testing.T) {
		resp := srv.call(t, http.MethodPatch, "/api/v1/users/me/preferences", tok, map[string]any{"memory_inject": false})
		require.Equal(t, 200, resp.Status, "%s", resp.Body)
		r := srv.query(t, tok, apitype.QueryRequest{Prompt: "@memories\nwhere does the user live?"})
		require.Equal(t, "memories: none", r.Content)
	})
}

func TestMemoryToolsInATurn(t *testing.T) {
	srv := startServer(t, "", nil)
	tok := srv.register(t, "alice@example.com", "password1").Token
	r := srv.query(t, tok, apitype.QueryRequest{Prompt: `@tool memory_save {"content":"User is allergic to peanuts","kind":"fact"}`})
	require.Len(t, r.ToolResults, 1)
	require.False(t, r.ToolResults[0].IsError, "%s", r.ToolResults[0].Content)
	require.Contains(t, r.ToolResults[0].Content, "saved as mem_")
	list := memoryList(t, srv, tok, "")
	require.Len(t, list, 1)
	require.Equal(t, r.SessionID, list[0].Source.SessionID)

	r = srv.query(t, tok, apitype.QueryRequest{Prompt: `@tool memory_save {"content":"user is allergic to peanuts"}`})
	require.Contains(t, r.ToolResults[0].Content, "already remembered as "+list[0].ID)

	r = srv.query(t, tok, apitype.QueryRequest{Prompt: `@tool memory_search {"query":"peanuts"}`})
	require.Contains(t, r.ToolResults[0].Content, list[0].ID+" (user, fact): User is allergic to peanuts")

	// The tool's write is audited as the user's.
	log := created[apitype.AuditList](t, srv.get(t, "/api/v1/audit/logs?resource_id="+list[0].ID, tok), 200)
	require.NotEmpty(t, log.Data)
	require.Equal(t, "memory.add", log.Data[len(log.Data)-1].Action)
}

func TestExtractionNeverDelaysDone(t *testing.T) {
	srv := startServer(t, "", nil)
	tok := srv.register(t, "alice@example.com", "password1").Token
	// The mock waits the turn's @delay before each chunk of its reply (one
	// chunk here) and again before its extraction answer: done comes
	// first, while extraction waits, and the memory after.
	st := srv.stream(t, tok, apitype.QueryRequest{Prompt: "@remember User runs marathons\n@delay 1500ms\n@say ok"})
	done := decodeDone(t, st.Until(isEnd))
	st.Close()
	require.Equal(t, "ok", done.Content)
	require.Empty(t, memoryList(t, srv, tok, ""), "extraction is still running when done arrives")
	require.Eventually(t, func() bool { return len(memoryList(t, srv, tok, "")) == 1 }, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "User runs marathons", memoryList(t, srv, tok, "")[0].Content)
}

// memoryOff sets the user's preferences so that turns neither recall nor
// extract memories (no model call after the turn, no memory tools).
func memoryOff(t testing.TB, srv *testServer, token string) {
	t.Helper()
	resp := srv.call(t, http.MethodPatch, "/api/v1/users/me/preferences", token, map[string]any{"memory_extract": "off", "memory_inject": false})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
}

func TestExtractionCountsAgainstTokenQuotas(t *testing.T) {
	srv := startServer(t, "", nil)
	root := srv.register(t, "root@example.com", "password1")
	u := srv.register(t, "u@example.com", "password1")
	created[apitype.Quota](t, srv.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, root.Token, apitype.QuotaLimits{TokensPerDay: 1_000_000}), 200)
	r := srv.query(t, u.Token, apitype.QueryRequest{Prompt: "@remember User keeps bees"})
	turnTokens := r.Usage.InputTokens + r.Usage.OutputTokens
	require.Eventually(t, func() bool { return len(memoryList(t, srv, u.Token, "")) == 1 }, 10*time.Second, 20*time.Millisecond)
	// The extraction call (its prompt, the conversation, the tool use) is
	// billed to the same user as the turn.
	require.Eventually(t, func() bool {
		return srv.quotaOf(t, u.Token, u.User.DefaultWorkspaceID, "user").Usage.TokensToday > turnTokens
	}, 10*time.Second, 20*time.Millisecond)
}

func TestMemoriesOverGRPC(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	alice := g.register(t, "alice@example.com", "password123").Token
	bob := g.register(t, "bob@example.com", "password123").Token
	const svc = "/seshat.v1.MemoryService/"

	var made seshatv1.CreateMemoryResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"CreateMemory", &seshatv1.CreateMemoryRequest{Content: "User prefers dark roast", Kind: "preference"}, &made))
	require.Equal(t, "add", made.GetOp())
	m := made.GetMemory()
	require.Equal(t, "preference", m.GetKind())
	require.NoError(t, g.invoke(ctx, alice, svc+"CreateMemory", &seshatv1.CreateMemoryRequest{Content: "user prefers DARK roast."}, &made))
	require.Equal(t, "noop", made.GetOp())
	require.Equal(t, m.GetId(), made.GetMemory().GetId())

	var upd seshatv1.UpdateMemoryResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"UpdateMemory", &seshatv1.UpdateMemoryRequest{Id: m.GetId(), Content: "User prefers light roast"}, &upd))
	require.Equal(t, m.GetId(), upd.GetMemory().GetSupersedes())

	var found seshatv1.SearchMemoriesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"SearchMemories", &seshatv1.SearchMemoriesRequest{Query: "roast"}, &found))
	require.Len(t, found.GetData(), 1)
	require.Equal(t, upd.GetMemory().GetId(), found.GetData()[0].GetMemory().GetId())

	var list seshatv1.ListMemoriesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListMemories", &seshatv1.ListMemoriesRequest{}, &list))
	require.Len(t, list.GetData(), 2)

	// Another user's memory is not found; the REST API sees the same one.
	err := g.invoke(ctx, bob, svc+"GetMemory", &seshatv1.GetMemoryRequest{Id: m.GetId()}, &seshatv1.GetMemoryResponse{})
	code, info := errorInfo(t, err)
	require.Equal(t, codes.NotFound, code)
	require.Equal(t, "not_found", info.GetReason())
	require.Equal(t, "superseded", created[apitype.Memory](t, g.get(t, "/api/v1/memories/"+m.GetId(), alice), 200).Status)

	// gRPC writes are audited as REST's are: the call's entry.
	var log apitype.AuditList
	require.Eventually(t, func() bool {
		log = created[apitype.AuditList](t, g.get(t, "/api/v1/audit/logs?resource_id="+m.GetId(), alice), 200)
		return len(log.Data) > 0
	}, 10*time.Second, 5*time.Millisecond)
	first := log.Data[len(log.Data)-1]
	require.Equal(t, "/seshat.v1.MemoryService/CreateMemory", first.Action)
	require.Equal(t, "add", first.Details["op"])

	// A session's memory setting over gRPC.
	off := false
	var sess seshatv1.CreateSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
		&seshatv1.CreateSessionRequest{Memory: &seshatv1.MemorySettings{Extract: "off", Inject: &off}}, &sess))
	rest := created[apitype.Session](t, g.get(t, "/api/v1/sessions/"+sess.GetSession().GetId(), alice), 200)
	require.Equal(t, &apitype.SessionMemory{Extract: "off", Inject: false}, rest.Memory)

	var ops seshatv1.ExtractMemoriesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ExtractMemories", &seshatv1.ExtractMemoriesRequest{SessionId: sess.GetSession().GetId(), DryRun: true}, &ops))
	require.Empty(t, ops.GetOps())
	require.NoError(t, g.invoke(ctx, alice, svc+"DeleteMemory", &seshatv1.DeleteMemoryRequest{Id: m.GetId()}, &seshatv1.DeleteMemoryResponse{}))
}
