package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// These tests drive the provider settings API and real agent turns through
// settings, against httptest upstreams that speak the Anthropic Messages
// and OpenAI chat-completions streaming wire formats.

const settingsPath = "/api/v1/settings/providers"

// modelUpstream is an outside model API: it records every request and
// answers through handle.
type modelUpstream struct {
	srv *httptest.Server

	mu sync.Mutex
	// Guarded by mu.
	requests []upstreamRequest
}

// upstreamRequest is one request an upstream received.
type upstreamRequest struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

func startModelUpstream(t *testing.T, handle func(w http.ResponseWriter, r upstreamRequest)) *modelUpstream {
	t.Helper()
	u := &modelUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := upstreamRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		if len(raw) > 0 {
			_ = json.Unmarshal(raw, &req.Body)
		}
		u.mu.Lock()
		u.requests = append(u.requests, req)
		u.mu.Unlock()
		handle(w, req)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// Requests returns what the upstream received at path.
func (u *modelUpstream) Requests(path string) []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []upstreamRequest
	for _, r := range u.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// writeEvents writes SSE events one by one, flushing each, as a real
// upstream does.
func writeEvents(w http.ResponseWriter, events ...string) {
	w.Header().Set("content-type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, ev := range events {
		_, _ = io.WriteString(w, ev+"\n\n")
		w.(http.Flusher).Flush()
	}
}

// lastMessageHas reports whether the last message of a chat request holds
// a tool result: a tool_result block (Anthropic) or a "tool" role message
// (OpenAI).
func lastMessageHas(body map[string]any, anthropicShape bool) bool {
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		return false
	}
	last, _ := msgs[len(msgs)-1].(map[string]any)
	if !anthropicShape {
		return last["role"] == "tool"
	}
	blocks, _ := last["content"].([]any)
	for _, b := range blocks {
		if m, _ := b.(map[string]any); m["type"] == "tool_result" {
			return true
		}
	}
	return false
}

// anthropicEvent is one SSE event of the Messages stream.
func anthropicEvent(typ, data string) string { return "event: " + typ + "\ndata: " + data }

// startAnthropicUpstream speaks the Messages API: asked with tools, it
// first answers with text and a list_files tool use whose input arrives in
// input_json_delta pieces; asked again with the tool result, it answers
// with text. GET /v1/models lists two models.
func startAnthropicUpstream(t *testing.T) *modelUpstream {
	return startModelUpstream(t, func(w http.ResponseWriter, r upstreamRequest) {
		if r.Method == http.MethodGet && r.Path == "/v1/models" {
			w.Header().Set("content-type", "application/json")
			_, _ = io.WriteString(w, `{"data":[{"type":"model","id":"claude-test","display_name":"Claude Test","created_at":"2025-05-01T00:00:00Z","max_input_tokens":200000,"max_tokens":32000},`+
				`{"type":"model","id":"claude-other","display_name":"Claude Other","created_at":"2025-04-01T00:00:00Z"}],"has_more":false,"first_id":"claude-test","last_id":"claude-other"}`)
			return
		}
		if r.Path != "/v1/messages" {
			http.NotFound(w, nil)
			return
		}
		start := anthropicEvent("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":1}}}`)
		stop := anthropicEvent("message_stop", `{"type":"message_stop"}`)
		if lastMessageHas(r.Body, true) {
			writeEvents(w, start,
				anthropicEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
				anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"You have "}}`),
				anthropicEvent("ping", `{"type":"ping"}`),
				anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"notes.txt."}}`),
				anthropicEvent("content_block_stop", `{"type":"content_block_stop","index":0}`),
				anthropicEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}`),
				stop)
			return
		}
		writeEvents(w, start,
			anthropicEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}`),
			anthropicEvent("content_block_stop", `{"type":"content_block_stop","index":0}`),
			anthropicEvent("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A","name":"list_files","input":{}}}`),
			anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
			anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}`),
			anthropicEvent("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"}"}}`),
			anthropicEvent("content_block_stop", `{"type":"content_block_stop","index":1}`),
			anthropicEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}`),
			stop)
	})
}

// openaiChunk is one chat.completion.chunk event.
func openaiChunk(choices, usage string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-test","choices":` + choices + `,"usage":` + usage + `}`
}

// startOpenAIUpstream speaks chat completions: asked with tools, it first
// answers with a list_files tool call split across chunks; asked again
// with the tool result, it streams text.
func startOpenAIUpstream(t *testing.T) *modelUpstream {
	return startModelUpstream(t, func(w http.ResponseWriter, r upstreamRequest) {
		if r.Path != "/v1/chat/completions" {
			http.NotFound(w, nil)
			return
		}
		usage := openaiChunk(`[]`, `{"prompt_tokens":90,"completion_tokens":12,"total_tokens":102}`)
		if lastMessageHas(r.Body, false) {
			writeEvents(w,
				openaiChunk(`[{"index":0,"delta":{"role":"assistant","content":"You have "},"finish_reason":null}]`, `null`),
				openaiChunk(`[{"index":0,"delta":{"content":"notes.txt."},"finish_reason":null}]`, `null`),
				openaiChunk(`[{"index":0,"delta":{},"finish_reason":"stop"}]`, `null`),
				usage, "data: [DONE]")
			return
		}
		writeEvents(w,
			openaiChunk(`[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_01","type":"function","function":{"name":"list_files","arguments":""}}]},"finish_reason":null}]`, `null`),
			openaiChunk(`[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":null}]`, `null`),
			openaiChunk(`[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]},"finish_reason":null}]`, `null`),
			openaiChunk(`[{"index":0,"delta":{},"finish_reason":"tool_calls"}]`, `null`),
			usage, "data: [DONE]")
	})
}

// createSetting creates a provider setting and returns it.
func (s *testServer) createSetting(t *testing.T, token string, req apitype.CreateProviderSettingRequest) apitype.ProviderSetting {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: settingsPath, Token: token, Body: req})
	require.Equal(t, http.StatusCreated, resp.Status, "create setting: %s", resp.Body)
	var out apitype.ProviderSetting
	resp.JSON(t, &out)
	return out
}

// toolTurn streams a query that lists the workspace's files through model
// and setting, and checks the events and the session's history.
func toolTurn(t *testing.T, s *testServer, token, model, settingID string) []eventstream.Event {
	t.Helper()
	st := s.stream(t, token, apitype.QueryRequest{Prompt: "Which files do I have?", Model: model, ProviderSettingID: settingID})
	events := st.Rest()
	require.NotEmpty(t, events)
	first := decodeRuntime(t, events[0])
	require.Equal(t, "session", first.Type)
	var started, finished *apitype.RuntimeEvent
	var text strings.Builder
	for _, ev := range events[1 : len(events)-1] {
		switch ev.Name {
		case "runtime":
			r := decodeRuntime(t, ev)
			switch r.Type {
			case "tool_started":
				started = &r
			case "tool_finished":
				finished = &r
			}
		case "":
			var d apitype.Delta
			require.NoError(t, json.Unmarshal(ev.Data, &d))
			text.WriteString(d.Text)
		}
	}
	require.NotNil(t, started, "tool_started")
	require.Equal(t, "list_files", started.Name)
	require.NotNil(t, finished, "tool_finished")
	require.Equal(t, started.ToolUseID, finished.ToolUseID)
	require.False(t, *finished.IsError)
	require.Equal(t, "notes.txt", *finished.Output)
	require.Contains(t, text.String(), "You have notes.txt.")

	done := decodeDone(t, events[len(events)-1])
	require.Equal(t, "You have notes.txt.", done.Content)
	require.Equal(t, "end_turn", done.StopReason)
	require.Len(t, done.ToolUses, 1)
	require.Equal(t, "list_files", done.ToolUses[0].Name)
	require.Len(t, done.ToolResults, 1)
	require.Equal(t, "notes.txt", done.ToolResults[0].Content)
	require.Positive(t, done.Usage.InputTokens)
	require.Positive(t, done.Usage.OutputTokens)

	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+done.SessionID, token).JSON(t, &sess)
	require.Len(t, sess.Messages, 4)
	require.Equal(t, "user", sess.Messages[0].Role)
	require.Equal(t, "assistant", sess.Messages[1].Role)
	var uses []string
	for _, b := range sess.Messages[1].Content {
		uses = append(uses, b.Type)
	}
	require.Contains(t, uses, "tool_use")
	require.Equal(t, "user", sess.Messages[2].Role)
	require.Equal(t, "tool_result", sess.Messages[2].Content[0].Type)
	require.Equal(t, "notes.txt", *sess.Messages[2].Content[0].Content)
	require.Equal(t, "assistant", sess.Messages[3].Role)
	require.Equal(t, "You have notes.txt.", sess.Messages[3].Content[0].Text)
	return events
}

func TestProviderSettingsAnthropicToolTurn(t *testing.T) {
	up := startAnthropicUpstream(t)
	s := startServer(t, "", nil)
	tok := s.register(t, "anthropic@example.com", "password123").Token
	// These tests count the upstream calls of the turn alone.
	memoryOff(t, s, tok)
	require.Equal(t, http.StatusCreated, s.upload(t, tok, "notes.txt", "text/plain", []byte("hello"), nil).Status)

	const key = "sk-ant-api03-e2e-SECRET-abcd"
	ps := s.createSetting(t, tok, apitype.CreateProviderSettingRequest{
		Name: "Anthropic", Provider: "anthropic", BaseURL: up.srv.URL, APIKey: key, DefaultModel: "claude-test",
	})
	require.True(t, ps.APIKeySet)
	require.Equal(t, "…abcd", ps.APIKeyHint)
	require.Equal(t, "user", ps.Scope)

	toolTurn(t, s, tok, "anthropic:claude-test", ps.ID)

	calls := up.Requests("/v1/messages")
	require.Len(t, calls, 2)
	for _, c := range calls {
		require.Equal(t, key, c.Header.Get("x-api-key"))
		require.Equal(t, "2023-06-01", c.Header.Get("anthropic-version"))
		require.Equal(t, "claude-test", c.Body["model"])
		require.Equal(t, true, c.Body["stream"])
	}
	var toolNames []string
	for _, tl := range calls[0].Body["tools"].([]any) {
		toolNames = append(toolNames, tl.(map[string]any)["name"].(string))
	}
	require.Contains(t, toolNames, "list_files")
	msgs := calls[1].Body["messages"].([]any)
	result := msgs[len(msgs)-1].(map[string]any)["content"].([]any)[0].(map[string]any)
	require.Equal(t, "toolu_01A", result["tool_use_id"])

	// The calls were counted.
	metrics := string(s.get(t, "/metrics", "").Body)
	require.Contains(t, metrics, `seshat_provider_tokens_total{kind="input",provider="anthropic"} 240`)
	require.Contains(t, metrics, `seshat_provider_tokens_total{kind="output",provider="anthropic"} 36`)
	require.Contains(t, metrics, `seshat_provider_request_duration_seconds_count{provider="anthropic"} 2`)
	require.Contains(t, metrics, `seshat_provider_errors_total{provider="anthropic"} 0`)
}

func TestProviderSettingsOpenAIToolTurn(t *testing.T) {
	up := startOpenAIUpstream(t)
	s := startServer(t, "", nil)
	tok := s.register(t, "openai@example.com", "password123").Token
	// These tests count the upstream calls of the turn alone.
	memoryOff(t, s, tok)
	require.Equal(t, http.StatusCreated, s.upload(t, tok, "notes.txt", "text/plain", []byte("hello"), nil).Status)

	const key = "sk-proj-e2e-SECRET-wxyz"
	ps := s.createSetting(t, tok, apitype.CreateProviderSettingRequest{
		Name: "Compatible", Provider: "openai", BaseURL: up.srv.URL + "/v1", APIKey: key,
		Models: []apitype.ProviderModel{{ID: "gpt-test", DisplayName: "GPT Test", ContextWindow: 128000, InputPricePerMTok: 2.5}},
	})
	require.Equal(t, "…wxyz", ps.APIKeyHint)
	require.Equal(t, []apitype.ProviderModel{{ID: "gpt-test", DisplayName: "GPT Test", ContextWindow: 128000, InputPricePerMTok: 2.5}}, ps.Models)

	toolTurn(t, s, tok, "openai:gpt-test", ps.ID)

	calls := up.Requests("/v1/chat/completions")
	require.Len(t, calls, 2)
	for _, c := range calls {
		require.Equal(t, "Bearer "+key, c.Header.Get("Authorization"))
		require.Equal(t, "gpt-test", c.Body["model"])
	}
	msgs := calls[1].Body["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	require.Equal(t, "tool", last["role"])
	require.Equal(t, "call_01", last["tool_call_id"])
	require.Equal(t, "notes.txt", last["content"])

	// Without provider_setting_id, "openai:…" finds the user's setting.
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "Which files?", Model: "openai:gpt-test"})
	require.Equal(t, "You have notes.txt.", r.Content)
	require.Len(t, up.Requests("/v1/chat/completions"), 4)

	// A model outside the setting's catalog is refused up front.
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: tok,
		Body: apitype.QueryRequest{Prompt: "x", Model: "openai:gpt-unlisted", ProviderSettingID: ps.ID}})
	e := requireAPIError(t, resp, http.StatusBadRequest, "invalid_request")
	require.Contains(t, e.Error, "gpt-test")

	// A bare model id goes through the default setting.
	resp = s.do(t, request{Method: http.MethodPut, Path: settingsPath + "/default", Token: tok,
		Body: apitype.DefaultProviderSettingRequest{ProviderSettingID: ps.ID}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	r = s.query(t, tok, apitype.QueryRequest{Prompt: "Which files?", Model: "gpt-test"})
	require.Equal(t, "You have notes.txt.", r.Content)
}

func TestProviderSettingsTenancyOverHTTP(t *testing.T) {
	s := startServer(t, "", nil)
	admin := s.register(t, "admin@example.com", "password123").Token
	member := s.register(t, "member@example.com", "password123").Token

	own := s.createSetting(t, member, apitype.CreateProviderSettingRequest{Name: "mine", Provider: "mock"})
	require.True(t, strings.HasPrefix(own.ID, "pset_"))
	require.True(t, own.CanManage)

	// Another user's setting is not found, whatever the verb.
	requireAPIError(t, s.get(t, settingsPath+"/"+own.ID, admin), http.StatusNotFound, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPatch, Path: settingsPath + "/" + own.ID, Token: admin,
		Body: map[string]any{"name": "x"}}), http.StatusNotFound, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodDelete, Path: settingsPath + "/" + own.ID, Token: admin}), http.StatusNotFound, "not_found")
	requireAPIError(t, s.get(t, settingsPath+"/"+own.ID+"/models", admin), http.StatusNotFound, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + own.ID + "/test", Token: admin}), http.StatusNotFound, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPut, Path: settingsPath + "/default", Token: admin,
		Body: apitype.DefaultProviderSettingRequest{ProviderSettingID: own.ID}}), http.StatusNotFound, "not_found")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: admin,
		Body: apitype.QueryRequest{Prompt: "x", Model: "mock:echo", ProviderSettingID: own.ID}}), http.StatusNotFound, "not_found")

	// Server-wide settings: members may not create or change them.
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: settingsPath, Token: member,
		Body: apitype.CreateProviderSettingRequest{Name: "srv", Provider: "mock", Scope: "server"}}), http.StatusForbidden, "forbidden")
	srv := s.createSetting(t, admin, apitype.CreateProviderSettingRequest{Name: "srv", Provider: "mock", Scope: "server"})
	var got apitype.ProviderSetting
	resp := s.get(t, settingsPath+"/"+srv.ID, member)
	require.Equal(t, http.StatusOK, resp.Status)
	resp.JSON(t, &got)
	require.False(t, got.CanManage)
	requireAPIError(t, s.do(t, request{Method: http.MethodPatch, Path: settingsPath + "/" + srv.ID, Token: member,
		Body: map[string]any{"name": "x"}}), http.StatusForbidden, "forbidden")
	requireAPIError(t, s.do(t, request{Method: http.MethodDelete, Path: settingsPath + "/" + srv.ID, Token: member}), http.StatusForbidden, "forbidden")
	resp = s.do(t, request{Method: http.MethodPatch, Path: settingsPath + "/" + srv.ID, Token: admin, Body: map[string]any{"name": "renamed"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)

	// Everyone may use it, and pick it as default.
	resp = s.do(t, request{Method: http.MethodPut, Path: settingsPath + "/default", Token: member,
		Body: apitype.DefaultProviderSettingRequest{ProviderSettingID: srv.ID}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	r := s.query(t, member, apitype.QueryRequest{Prompt: "@say via server", Model: "echo"})
	require.Equal(t, "via server", r.Content)

	var list apitype.ProviderSettingList
	s.get(t, settingsPath, member).JSON(t, &list)
	require.Len(t, list.Data, 2)
	require.Equal(t, own.ID, list.Data[0].ID)
	require.Equal(t, srv.ID, list.Data[1].ID)
	require.True(t, list.Data[1].IsDefault)
	require.Equal(t, srv.ID, list.DefaultProviderSettingID)
	s.get(t, settingsPath, admin).JSON(t, &list)
	require.Len(t, list.Data, 1, "the admin does not see the member's own setting")
	require.Empty(t, list.DefaultProviderSettingID)

	// Bad input is a 400 naming the problem.
	e := requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: settingsPath, Token: member,
		Body: map[string]any{"name": "x", "provider": "gemini"}}), http.StatusBadRequest, "invalid_request")
	require.Contains(t, e.Error, "anthropic, mock, openai")
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: settingsPath, Token: member,
		Body: map[string]any{"name": "x", "provider": "openai", "base_url": "https://user:pw@example.com"}}), http.StatusBadRequest, "invalid_request")
	requireAPIError(t, s.get(t, settingsPath, ""), http.StatusUnauthorized, "unauthorized")

	resp = s.do(t, request{Method: http.MethodDelete, Path: settingsPath + "/" + own.ID, Token: member})
	require.Equal(t, http.StatusNoContent, resp.Status)
	requireAPIError(t, s.get(t, settingsPath+"/"+own.ID, member), http.StatusNotFound, "not_found")
}

// scanner collects every response body of a test, to check that a secret
// appears in none.
type scanner struct {
	s      *testServer
	bodies [][]byte
}

func (sc *scanner) do(t *testing.T, req request) response {
	t.Helper()
	resp := sc.s.do(t, req)
	sc.bodies = append(sc.bodies, resp.Body)
	return resp
}

func (sc *scanner) requireAbsent(t *testing.T, secret string) {
	t.Helper()
	for _, b := range sc.bodies {
		require.NotContains(t, string(b), secret)
	}
}

// requireNotInDir checks that no file under dir holds secret.
func requireNotInDir(t *testing.T, dir, secret string) {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.False(t, bytes.Contains(b, []byte(secret)), "%s holds the secret", path)
		n++
		return nil
	}))
	require.Positive(t, n)
}

func TestProviderSettingsSecretNeverLeaks(t *testing.T) {
	up := startAnthropicUpstream(t)
	dir := t.TempDir()
	env := map[string]string{"SESHAT_DEBUG": "true"}
	s := startServer(t, dir, env)
	tok := s.register(t, "secret@example.com", "password123").Token
	require.Equal(t, http.StatusCreated, s.upload(t, tok, "notes.txt", "text/plain", []byte("hello"), nil).Status)
	sc := &scanner{s: s}

	const key = "sk-ant-NEVER-SHOWN-0123456789-KEY9"
	resp := sc.do(t, request{Method: http.MethodPost, Path: settingsPath, Token: tok, Body: apitype.CreateProviderSettingRequest{
		Name: "a", Provider: "anthropic", BaseURL: up.srv.URL, APIKey: key, DefaultModel: "claude-test",
		Models: []apitype.ProviderModel{{ID: "claude-test", OutputPricePerMTok: 15}},
	}})
	require.Equal(t, http.StatusCreated, resp.Status)
	var ps apitype.ProviderSetting
	resp.JSON(t, &ps)
	require.Equal(t, "…KEY9", ps.APIKeyHint)
	require.NotContains(t, string(resp.Body), `"api_key"`, "only api_key_set and api_key_hint")

	sc.do(t, request{Method: http.MethodGet, Path: settingsPath, Token: tok})
	sc.do(t, request{Method: http.MethodGet, Path: settingsPath + "/" + ps.ID, Token: tok})
	sc.do(t, request{Method: http.MethodPatch, Path: settingsPath + "/" + ps.ID, Token: tok, Body: map[string]any{"name": "renamed"}})

	// The model listing merges the catalog with the upstream's list.
	resp = sc.do(t, request{Method: http.MethodGet, Path: settingsPath + "/" + ps.ID + "/models", Token: tok})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var models apitype.ProviderModelList
	resp.JSON(t, &models)
	require.Empty(t, models.UpstreamError)
	require.Equal(t, []apitype.ListedModel{
		{ProviderModel: apitype.ProviderModel{ID: "claude-test", DisplayName: "Claude Test", ContextWindow: 200000, MaxOutputTokens: 32000, OutputPricePerMTok: 15},
			Model: "anthropic:claude-test", Source: "both"},
		{ProviderModel: apitype.ProviderModel{ID: "claude-other", DisplayName: "Claude Other"}, Model: "anthropic:claude-other", Source: "upstream"},
	}, models.Data)
	listing := up.Requests("/v1/models")
	require.Len(t, listing, 1)
	require.Equal(t, key, listing[0].Header.Get("x-api-key"))

	// The connection test makes a one-token call.
	resp = sc.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + ps.ID + "/test", Token: tok})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var tr apitype.ProviderTestResult
	resp.JSON(t, &tr)
	require.True(t, tr.OK, tr.Error)
	require.Equal(t, "anthropic:claude-test", tr.Model)
	require.GreaterOrEqual(t, tr.LatencyMS, int64(0))
	calls := up.Requests("/v1/messages")
	require.EqualValues(t, 1, calls[len(calls)-1].Body["max_tokens"])

	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "files?", Model: "anthropic:claude-test", ProviderSettingID: ps.ID})
	var streamed bytes.Buffer
	for _, ev := range st.Rest() {
		streamed.Write(ev.Data)
	}
	require.Contains(t, streamed.String(), "notes.txt")
	sc.bodies = append(sc.bodies, streamed.Bytes())
	sc.do(t, request{Method: http.MethodGet, Path: "/api/v1/sessions", Token: tok})
	sc.do(t, request{Method: http.MethodGet, Path: "/metrics"})

	sc.requireAbsent(t, key)
	require.NoError(t, s.Stop())
	require.NotContains(t, s.Log.String(), key, "the log never holds the key")
	require.Contains(t, s.Log.String(), "tool_name=list_files", "the debug log did record the turn")
	requireNotInDir(t, dir, key)

	// After a restart the setting still works: the key opens again.
	s = startServer(t, dir, env)
	tok = loginToken(t, s, "secret@example.com", "password123")
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "files?", Model: "anthropic:claude-test", ProviderSettingID: ps.ID})
	require.Equal(t, "You have notes.txt.", r.Content)
	calls = up.Requests("/v1/messages")
	require.Equal(t, key, calls[len(calls)-1].Header.Get("x-api-key"))
	require.NoError(t, s.Stop())
	require.NotContains(t, s.Log.String(), key)
	requireNotInDir(t, dir, key)
}

// loginToken logs in and returns the token.
func loginToken(t testing.TB, s *testServer, email, password string) string {
	t.Helper()
	r := s.login(t, email, password)
	require.Equal(t, http.StatusOK, r.Status, "login: %s", r.Body)
	var out apitype.AuthResponse
	r.JSON(t, &out)
	return out.Token
}

func TestProviderSettingsWrongMasterKey(t *testing.T) {
	dir := t.TempDir()
	keyA := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	s := startServer(t, dir, map[string]string{"SESHAT_MASTER_KEY": keyA})
	tok := s.register(t, "keys@example.com", "password123").Token
	s.createSetting(t, tok, apitype.CreateProviderSettingRequest{Name: "a", Provider: "openai", APIKey: "sk-sealed-with-A"})
	require.NoError(t, s.Stop())

	keyB := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	_, err := tryStartServer(t, dir, map[string]string{"SESHAT_MASTER_KEY": keyB})
	require.ErrorIs(t, err, persist.ErrWrongMasterKey)
	require.ErrorContains(t, err, "SESHAT_MASTER_KEY is not the key")

	// Without the variable the server would generate a key of its own:
	// that is refused too, rather than losing the credentials.
	_, err = tryStartServer(t, dir, nil)
	require.ErrorIs(t, err, persist.ErrWrongMasterKey)

	// The original key, in another spelling of the same 32 bytes, works.
	s = startServer(t, dir, map[string]string{"SESHAT_MASTER_KEY": strings.Repeat("01", 32)})
	tok = loginToken(t, s, "keys@example.com", "password123")
	var list apitype.ProviderSettingList
	s.get(t, settingsPath, tok).JSON(t, &list)
	require.Len(t, list.Data, 1)
	require.True(t, list.Data[0].APIKeySet)
}

func TestProviderSettingsModelsUnreachableUpstream(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "models@example.com", "password123").Token
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	ps := s.createSetting(t, tok, apitype.CreateProviderSettingRequest{Name: "down", Provider: "openai", BaseURL: deadURL + "/v1",
		DefaultModel: "llama3", Models: []apitype.ProviderModel{{ID: "qwen", DisplayName: "Qwen"}}})
	var models apitype.ProviderModelList
	resp := s.get(t, settingsPath+"/"+ps.ID+"/models", tok)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.JSON(t, &models)
	require.Contains(t, models.UpstreamError, "upstream unreachable")
	require.Equal(t, []apitype.ListedModel{
		{ProviderModel: apitype.ProviderModel{ID: "llama3"}, Model: "openai:llama3", Source: "catalog"},
		{ProviderModel: apitype.ProviderModel{ID: "qwen", DisplayName: "Qwen"}, Model: "openai:qwen", Source: "catalog"},
	}, models.Data)

	var tr apitype.ProviderTestResult
	resp = s.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + ps.ID + "/test", Token: tok, Body: map[string]string{"model": "qwen"}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.JSON(t, &tr)
	require.False(t, tr.OK)
	require.Equal(t, "openai:qwen", tr.Model)
	require.NotEmpty(t, tr.Error)
}

// authServer is an OAuth 2.0 authorization server (PKCE codes, rotating
// refresh tokens, short-lived access tokens) in front of an
// OpenAI-compatible model API that takes only its access tokens.
type authServer struct {
	srv *httptest.Server

	mu sync.Mutex
	// Guarded by mu.
	codes     map[string]string // code -> PKCE challenge
	refresh   map[string]bool
	access    map[string]bool
	n         int
	refreshes int
}

func startAuthServer(t *testing.T) *authServer {
	t.Helper()
	a := &authServer{codes: map[string]string{}, refresh: map[string]bool{}, access: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "seshat" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.n++
		code := "code-" + strconv.Itoa(a.n)
		a.codes[code] = q.Get("code_challenge")
		a.mu.Unlock()
		to, _ := url.Parse(q.Get("redirect_uri"))
		back := to.Query()
		back.Set("code", code)
		back.Set("state", q.Get("state"))
		to.RawQuery = back.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		w.Header().Set("content-type", "application/json")
		bad := func(code string) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":%q}`, code)
		}
		if id != "seshat" || secret != "client-SECRET-e2e" {
			bad("invalid_client")
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			ch, ok := a.codes[r.PostForm.Get("code")]
			delete(a.codes, r.PostForm.Get("code"))
			if !ok || ch != base64.RawURLEncoding.EncodeToString(sum[:]) {
				bad("invalid_grant")
				return
			}
		case "refresh_token":
			if !a.refresh[r.PostForm.Get("refresh_token")] {
				bad("invalid_grant")
				return
			}
			delete(a.refresh, r.PostForm.Get("refresh_token"))
			a.refreshes++
		default:
			bad("unsupported_grant_type")
			return
		}
		a.n++
		at, rt := "access-TOKEN-"+strconv.Itoa(a.n), "refresh-TOKEN-"+strconv.Itoa(a.n)
		a.access[at], a.refresh[rt] = true, true
		// 30s tokens are renewed before every call (a minute early).
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"token_type":"Bearer","expires_in":30}`, at, rt)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		ok := a.access[at]
		a.mu.Unlock()
		if !ok {
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"invalid token","type":"invalid_request_error"}}`)
			return
		}
		writeEvents(w,
			openaiChunk(`[{"index":0,"delta":{"role":"assistant","content":"signed in"},"finish_reason":"stop"}]`, `null`),
			"data: [DONE]")
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *authServer) refreshCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshes
}

func TestProviderSettingsOAuthFlowWithRefresh(t *testing.T) {
	a := startAuthServer(t)
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	tok := s.register(t, "oauth@example.com", "password123").Token
	// These tests count the upstream calls of the turn alone.
	memoryOff(t, s, tok)
	secret := "client-SECRET-e2e"
	ps := s.createSetting(t, tok, apitype.CreateProviderSettingRequest{Name: "sso", Provider: "openai", BaseURL: a.srv.URL + "/v1",
		DefaultModel: "gpt-sso",
		OAuth: &apitype.ProviderOAuthRequest{AuthorizeURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token",
			ClientID: "seshat", ClientSecret: &secret, Scopes: []string{"models.read", "inference"}}})
	require.NotNil(t, ps.OAuth)
	require.True(t, ps.OAuth.ClientSecretSet)
	require.False(t, ps.OAuth.Connected)

	// Not connected yet: the setting cannot serve.
	requireAPIError(t, s.do(t, request{Method: http.MethodPost, Path: "/api/v1/query", Token: tok,
		Body: apitype.QueryRequest{Prompt: "x", Model: "openai:gpt-sso", ProviderSettingID: ps.ID}}), http.StatusBadRequest, "invalid_request")

	resp := s.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + ps.ID + "/oauth/start", Token: tok})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var start apitype.OAuthStart
	resp.JSON(t, &start)
	authURL, err := url.Parse(start.AuthorizeURL)
	require.NoError(t, err)
	require.Equal(t, s.URL+"/api/v1/settings/providers/oauth/callback", authURL.Query().Get("redirect_uri"))
	require.Equal(t, "models.read inference", authURL.Query().Get("scope"))
	require.Equal(t, start.State, authURL.Query().Get("state"))
	require.NotContains(t, start.AuthorizeURL, secret)

	// The browser goes to the authorization server, which sends it back
	// to the public callback with the code.
	browser := &http.Client{Transport: s.Client.Transport}
	cb, err := browser.Get(start.AuthorizeURL)
	require.NoError(t, err)
	body, err := io.ReadAll(cb.Body)
	require.NoError(t, err)
	cb.Body.Close()
	require.Equal(t, http.StatusOK, cb.StatusCode, "%s", body)
	var connected apitype.ProviderSetting
	require.NoError(t, json.Unmarshal(body, &connected))
	require.True(t, connected.OAuth.Connected)
	require.NotNil(t, connected.OAuth.ExpiresAt)
	require.NotContains(t, string(body), "TOKEN")

	// The state worked once.
	requireAPIError(t, s.get(t, oauthCallbackURL(start.State, "code-1"), ""), http.StatusBadRequest, "invalid_request")

	// Turns carry the access token, renewed before it expires.
	for i := range 2 {
		r := s.query(t, tok, apitype.QueryRequest{Prompt: "hello", Model: "openai:gpt-sso", ProviderSettingID: ps.ID})
		require.Equal(t, "signed in", r.Content)
		require.Equal(t, i+1, a.refreshCount())
	}

	// The renewed (rotated) tokens were kept: they work after a restart.
	require.NoError(t, s.Stop())
	require.NotContains(t, s.Log.String(), "TOKEN-")
	require.NotContains(t, s.Log.String(), secret)
	requireNotInDir(t, dir, "TOKEN-")
	requireNotInDir(t, dir, secret)
	s = startServer(t, dir, nil)
	tok = loginToken(t, s, "oauth@example.com", "password123")
	r := s.query(t, tok, apitype.QueryRequest{Prompt: "hello", Model: "openai:gpt-sso"})
	require.Equal(t, "signed in", r.Content)
	require.Equal(t, 3, a.refreshCount())

	// A denied authorization comes back as a 400.
	resp = s.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + ps.ID + "/oauth/start", Token: tok})
	resp.JSON(t, &start)
	e := requireAPIError(t, s.get(t, settingsPath+"/oauth/callback?error=access_denied&state="+url.QueryEscape(start.State), ""),
		http.StatusBadRequest, "invalid_request")
	require.Contains(t, e.Error, "access_denied")

	// A token exchange the authorization server refuses is its failure:
	// 502, with its error code and never its body.
	resp = s.do(t, request{Method: http.MethodPost, Path: settingsPath + "/" + ps.ID + "/oauth/start", Token: tok})
	resp.JSON(t, &start)
	e = requireAPIError(t, s.get(t, oauthCallbackURL(start.State, "forged-code"), ""), http.StatusBadGateway, "upstream_error")
	require.Contains(t, e.Error, "invalid_grant")
}

func oauthCallbackURL(state, code string) string {
	return settingsPath + "/oauth/callback?" + url.Values{"state": {state}, "code": {code}}.Encode()
}

func TestProviderSettingsStoreKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, persist.MasterKeyBytes)
	require.Equal(t, raw, storeKey(raw), "32 bytes are the key")
	require.Equal(t, raw, storeKey([]byte(base64.StdEncoding.EncodeToString(raw))))
	require.Equal(t, raw, storeKey([]byte(base64.RawURLEncoding.EncodeToString(raw))))
	require.Equal(t, raw, storeKey([]byte(strings.Repeat("07", 32)+"\n")))
	pass := []byte("a passphrase that is longer than thirty-two bytes")
	k := storeKey(pass)
	require.Len(t, k, persist.MasterKeyBytes)
	require.Equal(t, k, storeKey(pass), "the same passphrase gives the same key")
	require.NotEqual(t, k, storeKey(append(pass, '!')))

	// A secrets file is created once; a second creator finds it.
	name := filepath.Join(t.TempDir(), secretsFileName)
	require.NoError(t, createFileExclusive(name, []byte("{}\n"), 0o600))
	require.ErrorIs(t, createFileExclusive(name, []byte(`{"jwt_secret":"x"}`), 0o600), fs.ErrExist)
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, "{}\n", string(b))
}
