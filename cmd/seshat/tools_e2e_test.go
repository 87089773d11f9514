package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// envMCPServer makes the test binary an MCP server on stdio.
const envMCPServer = "SESHAT_TEST_MCP_SERVER"

type mcpEcho struct {
	Text string `json:"text"`
}

// newMCPTestServer is an SDK-built server with echo (read-only) and slow
// (waits until cancelled; started receives one value per call).
func newMCPTestServer(started chan<- struct{}, cancelled func()) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in mcpEcho) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if started != nil {
				started <- struct{}{}
			}
			<-ctx.Done()
			if cancelled != nil {
				cancelled()
			}
			return nil, nil, ctx.Err()
		})
	return srv
}

func runStdioMCPServer() {
	if err := newMCPTestServer(nil, nil).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestMCPServersAndWebSearchEndToEnd(t *testing.T) {
	started := make(chan struct{}, 4)
	var mu sync.Mutex
	cancelledCalls := 0
	mcpSrv := newMCPTestServer(started, func() { mu.Lock(); cancelledCalls++; mu.Unlock() })
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpSrv }, nil))
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"results":[{"url":"https://go.dev/","title":"The Go Programming Language","content":"Go is an open source language","publishedDate":null}]}`, r.URL.Query().Get("q"))
	}))
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<h1>inside</h1>")
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		searx.Close()
		page.Close()
	})

	s := startServer(t, "", nil)
	admin := s.register(t, "admin@example.com", "password123").Token
	memberAuth := s.register(t, "member@example.com", "password123")
	member := memberAuth.Token

	post := func(token, path string, body any) response {
		return s.do(t, request{Method: http.MethodPost, Path: path, Token: token, Body: body})
	}

	// An admin adds a stdio server and a global HTTP one.
	var local apitype.MCPServer
	resp := post(admin, "/api/v1/mcp/servers", map[string]any{"name": "local", "transport": "stdio", "command": os.Args[0],
		"args": []string{"-test.run=^$"}, "env": map[string]string{envMCPServer: "stdio"}, "require_approval": "never"})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &local)
	require.Equal(t, []string{envMCPServer}, local.EnvSet)
	require.Equal(t, "global", local.Scope)
	require.NotContains(t, string(resp.Body), "stdio\"}", "env values are never shown")
	resp = post(admin, "/api/v1/mcp/servers", map[string]any{"name": "web", "transport": "streamable_http", "url": hs.URL})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var web apitype.MCPServer
	resp.JSON(t, &web)
	require.Equal(t, "always", web.RequireApproval)

	// A workspace admin may add an HTTP server to their workspace, not a
	// stdio one, and not one on a private address.
	ws := memberAuth.User.DefaultWorkspaceID
	requireAPIError(t, post(member, "/api/v1/mcp/servers", map[string]any{"name": "mine", "transport": "stdio", "command": "sh", "workspace_id": ws}), 403, "forbidden")
	requireAPIError(t, post(member, "/api/v1/mcp/servers", map[string]any{"name": "mine", "transport": "streamable_http", "url": hs.URL, "workspace_id": ws}), 400, "invalid_request")
	requireAPIError(t, post(member, "/api/v1/mcp/servers", map[string]any{"name": "mine", "transport": "streamable_http", "url": "https://1.1.1.1/mcp"}), 403, "forbidden")
	resp = post(member, "/api/v1/mcp/servers", map[string]any{"name": "mine", "transport": "streamable_http", "url": "https://1.1.1.1/mcp",
		"workspace_id": ws, "headers": map[string]string{"Authorization": "Bearer x"}})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var mine apitype.MCPServer
	resp.JSON(t, &mine)
	require.Equal(t, []string{"Authorization"}, mine.HeadersSet)
	requireAPIError(t, s.do(t, request{Method: http.MethodPatch, Path: "/api/v1/mcp/servers/" + mine.ID, Token: member,
		Body: map[string]any{"url": "https://8.8.8.8/mcp"}}), 400, "secret_required")
	requireAPIError(t, s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/mcp/servers/" + local.ID, Token: member}), 403, "forbidden")
	require.Equal(t, http.StatusNoContent, s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/mcp/servers/" + mine.ID, Token: member}).Status)

	var list apitype.MCPServerList
	s.get(t, "/api/v1/mcp/servers", member).JSON(t, &list)
	require.Len(t, list.Data, 2)

	var tools apitype.MCPToolList
	resp = s.get(t, "/api/v1/mcp/servers/"+local.ID+"/tools", admin)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp.JSON(t, &tools)
	require.Len(t, tools.Data, 2)
	var test apitype.MCPTestResult
	post(admin, "/api/v1/mcp/servers/"+web.ID+"/test", nil).JSON(t, &test)
	require.True(t, test.OK, test.Error)
	require.Equal(t, 2, test.ToolsCount)

	query := func(token, prompt, mode string) apitype.QueryResponse {
		t.Helper()
		resp := post(token, "/api/v1/query", map[string]any{"prompt": prompt, "model": "mock:echo", "permission_mode": mode})
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		var q apitype.QueryResponse
		resp.JSON(t, &q)
		return q
	}

	// A turn calls an MCP tool without approval (require_approval never)…
	q := query(member, `@tool mcp__local__echo {"text":"hi"}`, "default")
	require.Len(t, q.ToolResults, 1)
	require.False(t, q.ToolResults[0].IsError, q.ToolResults[0].Content)
	require.Equal(t, "echo: hi", q.ToolResults[0].Content)
	// …and one that needs approval: denied in deny_all, run in accept_all.
	q = query(member, `@tool mcp__web__echo {"text":"there"}`, "deny_all")
	require.True(t, q.ToolResults[0].IsError)
	q = query(member, `@tool mcp__web__echo {"text":"there"}`, "accept_all")
	require.Equal(t, "echo: there", q.ToolResults[0].Content)

	// An interrupt cancels a slow MCP call on the server.
	done := make(chan apitype.QueryResponse, 1)
	var sess apitype.Session
	resp = post(member, "/api/v1/sessions", map[string]any{"model": "mock:echo", "permission_mode": "accept_all"})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &sess)
	go func() {
		resp := post(member, "/api/v1/query", map[string]any{"prompt": `@tool mcp__web__slow {}`, "session_id": sess.ID})
		var q apitype.QueryResponse
		_ = json.Unmarshal(resp.Body, &q)
		done <- q
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow MCP tool did not start")
	}
	resp = post(member, "/api/v1/sessions/"+sess.ID+"/interrupt", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	select {
	case q := <-done:
		require.Equal(t, "interrupted", q.StopReason)
	case <-time.After(20 * time.Second):
		t.Fatal("the interrupted turn did not end")
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return cancelledCalls == 1 }, 10*time.Second, 10*time.Millisecond)

	// Web search: disabled until an admin sets a provider.
	requireAPIError(t, post(member, "/api/v1/web/search", map[string]any{"query": "go"}), 409, "web_search_disabled")
	requireAPIError(t, s.do(t, request{Method: http.MethodPut, Path: "/api/v1/web/search/settings", Token: member,
		Body: map[string]any{"provider": "searxng", "base_url": searx.URL}}), 403, "forbidden")
	resp = s.do(t, request{Method: http.MethodPut, Path: "/api/v1/web/search/settings", Token: admin,
		Body: map[string]any{"provider": "searxng", "base_url": searx.URL}})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var found apitype.WebSearchResponse
	resp = post(member, "/api/v1/web/search", map[string]any{"query": "golang"})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp.JSON(t, &found)
	require.Equal(t, "The Go Programming Language", found.Results[0].Title)
	requireAPIError(t, post(member, "/api/v1/web/search", map[string]any{"query": "go", "allowed_domains": []string{"a"}, "blocked_domains": []string{"b"}}), 400, "invalid_request")

	q = query(member, `@tool web_search {"query":"golang"}`, "default")
	require.False(t, q.ToolResults[0].IsError, q.ToolResults[0].Content)
	require.Contains(t, q.ToolResults[0].Content, "https://go.dev/")
	// web_fetch is fenced: a loopback page is refused.
	q = query(member, fmt.Sprintf(`@tool web_fetch {"url":%q}`, page.URL), "accept_all")
	require.True(t, q.ToolResults[0].IsError)
	require.Contains(t, q.ToolResults[0].Content, "private or local")

	// Deleting the stdio server ends its process.
	require.Equal(t, http.StatusNoContent, s.do(t, request{Method: http.MethodDelete, Path: "/api/v1/mcp/servers/" + local.ID, Token: admin}).Status)
	q = query(member, `@tool mcp__local__echo {"text":"gone"}`, "accept_all")
	require.True(t, q.ToolResults[0].IsError)
}

// TestMessagesServeWebSearch20250305 checks that a request's Anthropic web
// search tool is served by the host's search, with max_uses, in blocks the
// official Go SDK parses.
func TestMessagesServeWebSearch20250305(t *testing.T) {
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"results":[{"url":"https://go.dev/","title":"The Go Programming Language","content":"Go","publishedDate":"2025-01-02T03:04:05Z"}]}`, r.URL.Query().Get("q"))
	}))
	t.Cleanup(searx.Close)
	s := startServer(t, "", nil)
	admin := s.register(t, "admin@example.com", "password123").Token
	resp := s.do(t, request{Method: http.MethodPut, Path: "/api/v1/web/search/settings", Token: admin,
		Body: map[string]any{"provider": "searxng", "base_url": searx.URL}})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	key := s.createKey(t, admin, "sdk").Key

	client := sdkClient(s, option.WithAPIKey(key))
	params := anthropic.MessageNewParams{
		Model: "mock:echo", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(
			"@tool web_search {\"query\":\"golang\"}\n@tool web_search {\"query\":\"again\"}"))},
		Tools: []anthropic.ToolUnionParam{{OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{MaxUses: anthropic.Int(1)}}},
	}
	msg, err := client.Messages.New(t.Context(), params)
	require.NoError(t, err)
	checkWebSearchBlocks(t, msg.Content)
	// The stream carries the same blocks, which the SDK's accumulator
	// assembles.
	checkWebSearchBlocks(t, stream(t, client, params).Message.Content)
}

func checkWebSearchBlocks(t *testing.T, content []anthropic.ContentBlockUnion) {
	t.Helper()
	var uses, results, errs int
	for _, b := range content {
		switch v := b.AsAny().(type) {
		case anthropic.ServerToolUseBlock:
			uses++
			require.EqualValues(t, "web_search", v.Name)
		case anthropic.WebSearchToolResultBlock:
			if list := v.Content.AsWebSearchResultBlockArray(); len(list) > 0 {
				results++
				require.Equal(t, "https://go.dev/", list[0].URL)
				require.Equal(t, "The Go Programming Language", list[0].Title)
			} else {
				errs++
				require.EqualValues(t, "max_uses_exceeded", v.Content.AsResponseWebSearchToolResultError().ErrorCode)
			}
		}
	}
	require.Equal(t, 2, uses)
	require.Equal(t, 1, results)
	require.Equal(t, 1, errs, "the use past max_uses is an error block")
}
