package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// quotaOf reads the caller's quota of a scope from GET /api/v1/quotas.
func (s *testServer) quotaOf(t testing.TB, token, workspaceID, scope string) apitype.Quota {
	t.Helper()
	resp := s.get(t, "/api/v1/quotas?workspace_id="+workspaceID, token)
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	var list apitype.List[apitype.Quota]
	resp.JSON(t, &list)
	for _, q := range list.Data {
		if q.Scope == scope {
			return q
		}
	}
	t.Fatalf("no %s quota in %s", scope, resp.Body)
	return apitype.Quota{}
}

// requireQuotaError checks a 429 quota_exceeded answer naming limit.
func requireQuotaError(t testing.TB, resp response, scope, limit string) apitype.Error {
	t.Helper()
	e := requireAPIError(t, resp, 429, "quota_exceeded")
	require.NotNil(t, e.Quota, "body: %s", resp.Body)
	require.Equal(t, scope, e.Quota.Scope)
	require.Equal(t, limit, e.Quota.Limit)
	require.Contains(t, e.Error, limit)
	if e.Quota.RetryAfterSeconds > 0 {
		require.Equal(t, strconv.Itoa(e.Quota.RetryAfterSeconds), resp.Header.Get("Retry-After"))
	}
	return e
}

// TestTokenQuotaUnderConcurrency: 50 turns at once against a daily token
// quota spend at most the quota plus one reservation. Each turn is one
// mock call of 2 input words and 10 output chunks (12 tokens); it reserves
// its max_tokens of 16 (SESHAT_QUOTA_RESERVE_TOKENS) plus an input bound
// of 5 (one token per two bytes of "@tokens 10"): 21. A call is granted
// its reservation while used plus reserved tokens are below the limit, so
// the last one granted may cross it by at most its reservation; calls wait
// while the rest is reserved, and are refused once it is used.
func TestTokenQuotaUnderConcurrency(t *testing.T) {
	const (
		limit       = 310
		perTurn     = 12
		reservation = 21
		turns       = 50
	)
	dir := t.TempDir()
	env := map[string]string{"SESHAT_QUOTA_RESERVE_TOKENS": "16"}
	srv := startServer(t, dir, env)
	root := srv.register(t, "root@example.com", "password1")
	u := srv.register(t, "u@example.com", "password1")
	// Memory extraction would add a model call after each turn.
	memoryOff(t, srv, u.Token)
	q := created[apitype.Quota](t, srv.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, root.Token, apitype.QuotaLimits{TokensPerDay: limit}), 200)
	require.Equal(t, int64(limit), q.Limits.TokensPerDay)
	require.Equal(t, root.User.ID, q.UpdatedBy)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      int
		refused []response
	)
	start := make(chan struct{})
	for range turns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: u.Token,
				Body: apitype.QueryRequest{Prompt: "@tokens 10"}})
			mu.Lock()
			defer mu.Unlock()
			if resp.Status == 200 {
				var r apitype.QueryResponse
				require.NoError(t, json.Unmarshal(resp.Body, &r))
				require.Equal(t, apitype.Usage{InputTokens: 2, OutputTokens: 10}, r.Usage)
				ok++
				return
			}
			refused = append(refused, resp)
		}()
	}
	close(start)
	wg.Wait()

	for _, resp := range refused {
		requireQuotaError(t, resp, "user", "tokens_per_day")
	}
	spent := srv.quotaOf(t, u.Token, "", "user").Usage
	require.Equal(t, int64(ok*perTurn), spent.TokensToday, "every admitted turn is counted")
	require.Equal(t, spent.TokensToday, spent.TokensThisMonth)
	require.Zero(t, spent.ReservedTokens)
	require.LessOrEqual(t, spent.TokensToday, int64(limit+reservation), "at most the quota plus one reservation")
	require.GreaterOrEqual(t, spent.TokensToday, int64(limit), "the quota is used up, not refused early")
	require.NotEmpty(t, refused)
	t.Logf("%d turns: %d admitted, %d refused; spent %d of %d (bound %d)", turns, ok, len(refused), spent.TokensToday, limit, limit+reservation)

	// The usage is durable: a restart reads it back.
	require.NoError(t, srv.Stop())
	srv = startServer(t, dir, env)
	require.Equal(t, spent.TokensToday, srv.quotaOf(t, u.Token, "", "user").Usage.TokensToday)
	requireQuotaError(t, srv.call(t, "POST", "/api/v1/query", u.Token, apitype.QueryRequest{Prompt: "hi"}), "user", "tokens_per_day")
	// Lifting the limit lets the user work again.
	created[apitype.Quota](t, srv.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, root.Token, apitype.QuotaLimits{}), 200)
	require.Equal(t, 200, srv.call(t, "POST", "/api/v1/query", u.Token, apitype.QueryRequest{Prompt: "hi"}).Status)
}

// TestQuotaLimits: requests per minute, concurrent turns, stored bytes, a
// reservation refused in the middle of a turn, and organization scopes.
func TestQuotaLimits(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_QUOTA_RESERVE_TOKENS": "16"})
	root := srv.register(t, "root@example.com", "password1")
	u := srv.register(t, "u@example.com", "password1")
	r, tok := root.Token, u.Token
	org := created[apitype.Organization](t, srv.call(t, "POST", "/api/v1/organizations", tok, apitype.CreateOrganizationRequest{Name: "O"}), 201).ID
	ws := created[apitype.Workspace](t, srv.call(t, "POST", "/api/v1/workspaces", tok, apitype.CreateWorkspaceRequest{Name: "W", OrganizationID: org}), 201).ID
	set := func(scope, id string, l apitype.QuotaLimits) {
		t.Helper()
		created[apitype.Quota](t, srv.call(t, "PUT", "/api/v1/quotas/"+scope+"/"+id, r, l), 200)
	}

	// Bad scopes and ids.
	requireAPIError(t, srv.call(t, "PUT", "/api/v1/quotas/galaxy/"+ws, r, apitype.QuotaLimits{}), 400, "invalid_request")
	requireAPIError(t, srv.call(t, "PUT", "/api/v1/quotas/workspace/ws_missing", r, apitype.QuotaLimits{}), 404, "not_found")
	requireAPIError(t, srv.call(t, "PUT", "/api/v1/quotas/user/"+u.User.ID, r, apitype.QuotaLimits{TokensPerDay: -1}), 400, "invalid_request")

	// Stored bytes of the organization, across its workspaces.
	set("organization", org, apitype.QuotaLimits{StoredBytes: 10})
	require.Equal(t, 201, srv.upload(t, tok, "a.txt", "text/plain", []byte("12345678"), map[string]string{"workspace_id": ws}).Status)
	requireQuotaError(t, srv.upload(t, tok, "b.txt", "text/plain", []byte("12345"), map[string]string{"workspace_id": ws}), "organization", "stored_bytes")
	require.Equal(t, 201, srv.upload(t, tok, "c.txt", "text/plain", []byte("1"), nil).Status, "the personal workspace is outside the organization")
	require.Equal(t, int64(8), srv.quotaOf(t, tok, ws, "organization").Usage.StoredBytes)
	require.Equal(t, int64(9), srv.quotaOf(t, tok, "", "user").Usage.StoredBytes)

	// Concurrent turns of the workspace.
	set("workspace", ws, apitype.QuotaLimits{ConcurrentTurns: 1})
	st := srv.stream(t, tok, apitype.QueryRequest{Prompt: "@tool ask_user {\"question\":\"q\"}", WorkspaceID: ws})
	p := decodeRuntime(t, st.Until(isRuntime("prompt_request")))
	requireQuotaError(t, srv.call(t, "POST", "/api/v1/query", tok, apitype.QueryRequest{Prompt: "hi", WorkspaceID: ws}), "workspace", "concurrent_turns")
	require.Equal(t, int64(1), srv.quotaOf(t, tok, ws, "workspace").Usage.RunningTurns)
	require.Equal(t, 200, srv.call(t, "POST", "/api/v1/query", tok, apitype.QueryRequest{Prompt: "hi"}).Status, "another workspace is not limited")
	require.Equal(t, 200, srv.call(t, "POST", "/api/v1/sessions/"+p.SessionID+"/prompts/"+p.RequestID, tok, apitype.PromptAnswer{Answer: "a"}).Status)
	decodeDone(t, st.Until(isEnd))
	require.Eventually(t, func() bool {
		return srv.call(t, "POST", "/api/v1/query", tok, apitype.QueryRequest{Prompt: "hi", WorkspaceID: ws}).Status == 200
	}, 10*time.Second, 5*time.Millisecond, "the slot is free once the turn ended")

	// A reservation refused in the middle of a turn fails the turn: the
	// first call (16 input words, 12 text chunks and a tool use) uses the
	// whole daily quota of the workspace, so the call after the tool's
	// result is refused.
	set("workspace", ws, apitype.QuotaLimits{TokensPerDay: 25})
	before := srv.quotaOf(t, tok, ws, "workspace").Usage.TokensToday
	set("workspace", ws, apitype.QuotaLimits{TokensPerDay: before + 25})
	st = srv.stream(t, tok, apitype.QueryRequest{WorkspaceID: ws,
		Prompt: "@say a b c d e f g h i j k l\n@tool list_files {}"})
	end := st.Until(isEnd)
	require.Equal(t, "error", end.Name, "data: %s", end.Data)
	require.Contains(t, string(end.Data), "quota exceeded: tokens_per_day of workspace "+ws)
	requireQuotaError(t, srv.call(t, "POST", "/api/v1/query", tok, apitype.QueryRequest{Prompt: "hi", WorkspaceID: ws}), "workspace", "tokens_per_day")

	// Requests per minute of the user: every authenticated request counts.
	// (A minute may turn during the loop, so it may take a few more.)
	set("user", u.User.ID, apitype.QuotaLimits{RequestsPerMinute: 3})
	n := 0
	for ; n < 10; n++ {
		if resp := srv.get(t, "/api/v1/users/me", tok); resp.Status != 200 {
			e := requireQuotaError(t, resp, "user", "requests_per_minute")
			require.Positive(t, e.Quota.RetryAfterSeconds)
			require.Equal(t, int64(3), e.Quota.Max)
			break
		}
	}
	require.GreaterOrEqual(t, n, 3)
	require.Less(t, n, 10)
	require.Equal(t, 200, srv.get(t, "/api/v1/users/me", r).Status, "other users are not limited")
}
