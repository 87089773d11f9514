package routing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// settingsEnv is a store with a master key, a Providers over it, an admin
// (the first user) and a member.
type settingsEnv struct {
	dir           string
	key           []byte
	store         *persist.Store
	p             *Service
	prom          *prometheus.Registry
	reg           *provider.Registry
	admin, member persist.User
}

func newSettingsEnv(t *testing.T, reg *provider.Registry) *settingsEnv {
	t.Helper()
	e := &settingsEnv{dir: t.TempDir(), key: bytes.Repeat([]byte{9}, persist.MasterKeyBytes), reg: reg}
	e.open(t)
	var err error
	e.admin, err = e.store.CreateUser(t.Context(), persist.User{Email: "admin@example.com"}, persist.Workspace{Name: "admin's"})
	require.NoError(t, err)
	e.member, err = e.store.CreateUser(t.Context(), persist.User{Email: "member@example.com"}, persist.Workspace{Name: "member's"})
	require.NoError(t, err)
	return e
}

// open opens the store and builds Providers over it, as a server start
// does.
func (e *settingsEnv) open(t *testing.T) {
	t.Helper()
	s, err := persist.Open(persist.Config{Dir: e.dir, NoSync: true, MasterKey: e.key})
	require.NoError(t, err)
	e.store = s
	e.prom = prometheus.NewRegistry()
	e.p, err = New(Config{Store: s, Registry: e.reg, Registerer: e.prom})
	require.NoError(t, err)
	client := e.p.http
	t.Cleanup(func() {
		client.CloseIdleConnections()
		if e.store == s { // restart and join close the ones before
			require.NoError(t, s.Check())
			require.NoError(t, s.Close())
		}
	})
}

// restart closes the store and opens it again with a new Providers.
func (e *settingsEnv) restart(t *testing.T) {
	t.Helper()
	e.p.http.CloseIdleConnections()
	require.NoError(t, e.store.Check())
	require.NoError(t, e.store.Close())
	e.open(t)
}

// join gives user the editor role in workspace ws.
func (e *settingsEnv) join(t *testing.T, user, ws string) {
	t.Helper()
	_, err := e.store.SetWorkspaceGrant(t.Context(), ws, user, persist.WorkspaceEditor, true)
	require.NoError(t, err)
}

func (e *settingsEnv) create(t *testing.T, user string, in ProviderSettingInput) persist.ProviderSetting {
	t.Helper()
	v, err := e.p.CreateProviderSetting(t.Context(), user, in)
	require.NoError(t, err)
	return v.Setting
}

// chatUpstream is an OpenAI-compatible server that answers every chat
// completion with the text "from NAME" and records the calls.
type chatUpstream struct {
	srv  *httptest.Server
	name string

	mu    sync.Mutex
	calls []*http.Request
}

func startChatUpstream(t *testing.T, name string) *chatUpstream {
	t.Helper()
	u := &chatUpstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.calls = append(u.calls, r)
		u.mu.Unlock()
		if r.URL.Path == "/v1/models" {
			w.Header().Set("content-type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"gpt-up","object":"model","owned_by":"x"},{"id":"shared","object":"model"}]}`)
			return
		}
		w.Header().Set("content-type", "text/event-stream")
		chunk := func(v string) { _, _ = io.WriteString(w, "data: "+v+"\n\n") }
		chunk(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"from ` + name + `"},"finish_reason":null}]}`)
		chunk(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
		chunk(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`)
		chunk(`[DONE]`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *chatUpstream) base() string { return u.srv.URL + "/v1" }

func (u *chatUpstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.calls) == 0 {
		return nil
	}
	return u.calls[len(u.calls)-1]
}

// answer runs one call through what Select picks and returns its text.
func answer(t *testing.T, p *Service, user, settingID, model string) (string, error) {
	t.Helper()
	return call(t, p, user, settingID, model, "hi")
}

// call is answer with a prompt of its own.
func call(t *testing.T, p *Service, user, settingID, model, prompt string) (string, error) {
	t.Helper()
	prov, id, err := p.Select(t.Context(), user, settingID, model)
	if err != nil {
		return "", err
	}
	resp, err := prov.Stream(t.Context(), &agent.ModelRequest{Model: id,
		Messages: []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(prompt)}}}}, func(agent.ModelChunk) {})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, blk := range resp.Content {
		b.WriteString(blk.Text)
	}
	return b.String(), nil
}

func TestProviderSettingsTenancy(t *testing.T) {
	e := newSettingsEnv(t, nil)
	ctx := t.Context()
	admin, member := e.admin.ID, e.member.ID

	mine := e.create(t, member, ProviderSettingInput{Name: "mine", Provider: "mock"})
	require.Equal(t, persist.ScopeUser, mine.Scope)
	require.True(t, strings.HasPrefix(mine.ID, "pset_"))

	// Another user's setting does not exist for the admin either.
	_, err := e.p.GetProviderSetting(ctx, admin, mine.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = e.p.UpdateProviderSetting(ctx, admin, mine.ID, ProviderSettingUpdate{Name: ptr("x")})
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.ErrorIs(t, e.p.DeleteProviderSetting(ctx, admin, mine.ID), agent.ErrNotFound)
	require.ErrorIs(t, e.p.SetDefaultProviderSetting(ctx, admin, mine.ID), agent.ErrNotFound)
	_, _, err = e.p.Select(ctx, admin, mine.ID, "mock:echo")
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = e.p.GetProviderSetting(ctx, admin, "pset_../x")
	require.ErrorIs(t, err, agent.ErrNotFound)

	// Server-wide: admins create and change, everyone uses.
	_, err = e.p.CreateProviderSetting(ctx, member, ProviderSettingInput{Name: "s", Provider: "mock", Scope: "server"})
	require.ErrorIs(t, err, agent.ErrForbidden)
	srv := e.create(t, admin, ProviderSettingInput{Name: "shared", Provider: "mock", Scope: "server"})
	v, err := e.p.GetProviderSetting(ctx, member, srv.ID)
	require.NoError(t, err)
	require.False(t, v.CanManage)
	_, err = e.p.UpdateProviderSetting(ctx, member, srv.ID, ProviderSettingUpdate{Name: ptr("mine now")})
	require.ErrorIs(t, err, agent.ErrForbidden)
	require.ErrorIs(t, e.p.DeleteProviderSetting(ctx, member, srv.ID), agent.ErrForbidden)
	require.NoError(t, e.p.SetDefaultProviderSetting(ctx, member, srv.ID), "using is allowed")
	v, err = e.p.UpdateProviderSetting(ctx, admin, srv.ID, ProviderSettingUpdate{Name: ptr("renamed")})
	require.NoError(t, err)
	require.True(t, v.CanManage)
	require.Equal(t, "renamed", v.Setting.Name)

	// Workspace-wide: the owner manages, members use, others do not see.
	ws := e.create(t, admin, ProviderSettingInput{Name: "team", Provider: "mock", Scope: "workspace"})
	require.Equal(t, e.admin.DefaultWorkspaceID, ws.WorkspaceID)
	_, err = e.p.GetProviderSetting(ctx, member, ws.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = e.p.CreateProviderSetting(ctx, member, ProviderSettingInput{Name: "t", Provider: "mock", WorkspaceID: e.admin.DefaultWorkspaceID})
	require.ErrorIs(t, err, agent.ErrNotFound)
	e.join(t, member, e.admin.DefaultWorkspaceID)
	v, err = e.p.GetProviderSetting(ctx, member, ws.ID)
	require.NoError(t, err)
	require.False(t, v.CanManage)
	_, _, err = e.p.Select(ctx, member, ws.ID, "mock:echo")
	require.NoError(t, err)
	_, err = e.p.UpdateProviderSetting(ctx, member, ws.ID, ProviderSettingUpdate{Name: ptr("x")})
	require.ErrorIs(t, err, agent.ErrForbidden)
	_, err = e.p.CreateProviderSetting(ctx, member, ProviderSettingInput{Name: "t", Provider: "mock", WorkspaceID: e.admin.DefaultWorkspaceID})
	require.ErrorIs(t, err, agent.ErrForbidden)

	list, err := e.p.ListProviderSettings(ctx, member)
	require.NoError(t, err)
	var ids []string
	for _, s := range list.Settings {
		ids = append(ids, s.Setting.ID)
	}
	require.Equal(t, []string{mine.ID, ws.ID, srv.ID}, ids, "own, then workspace, then server")
	require.Equal(t, srv.ID, list.DefaultID)

	// Fields are checked; scope and provider do not change.
	for name, in := range map[string]ProviderSettingInput{
		"provider":      {Name: "x", Provider: "gemini"},
		"scope":         {Name: "x", Provider: "mock", Scope: "galaxy"},
		"name":          {Name: " ", Provider: "mock"},
		"base_url":      {Name: "x", Provider: "openai", BaseURL: "ftp://example.com"},
		"userinfo":      {Name: "x", Provider: "openai", BaseURL: "https://user:pass@example.com/v1"},
		"duplicate":     {Name: "x", Provider: "mock", Models: []persist.ProviderModel{{ID: "a"}, {ID: "a"}}},
		"negative":      {Name: "x", Provider: "mock", Models: []persist.ProviderModel{{ID: "a", ContextWindow: -1}}},
		"oauth":         {Name: "x", Provider: "openai", OAuth: &OAuthInput{AuthorizeURL: "https://a/x", TokenURL: "https://a/t"}},
		"user with ws":  {Name: "x", Provider: "mock", Scope: "user", WorkspaceID: e.member.DefaultWorkspaceID},
		"key too large": {Name: "x", Provider: "mock", APIKey: strings.Repeat("k", maxSecretBytes+1)},
	} {
		_, err := e.p.CreateProviderSetting(ctx, member, in)
		require.ErrorIs(t, err, agent.ErrInvalid, name)
	}
	_, err = e.p.UpdateProviderSetting(ctx, member, mine.ID, ProviderSettingUpdate{Provider: ptr("openai")})
	require.ErrorIs(t, err, agent.ErrInvalid)
	_, err = e.p.UpdateProviderSetting(ctx, member, mine.ID, ProviderSettingUpdate{Scope: ptr("server")})
	require.ErrorIs(t, err, agent.ErrInvalid)

	require.NoError(t, e.p.DeleteProviderSetting(ctx, member, mine.ID))
	_, err = e.p.GetProviderSetting(ctx, member, mine.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
}

func TestSelectRouting(t *testing.T) {
	env := startChatUpstream(t, "env")
	reg := provider.NewRegistry()
	reg.Register("openai", provider.NewOpenAI(provider.OpenAIConfig{BaseURL: env.base()}))
	reg.SetModels("openai", provider.ModelInfo{ID: "gpt-env"})
	e := newSettingsEnv(t, reg)
	ctx := t.Context()
	user := e.member.ID

	// Without settings: the mock, and the environment's providers.
	got, err := call(t, e.p, user, "", "mock:echo", "@say hi there")
	require.NoError(t, err)
	require.Equal(t, "hi there", got)
	got, err = answer(t, e.p, user, "", "openai:gpt")
	require.NoError(t, err)
	require.Equal(t, "from env", got)
	_, _, err = e.p.Select(ctx, user, "", "anthropic:claude")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, "no anthropic provider is configured for you")
	require.ErrorContains(t, err, "known providers: mock, openai")
	_, _, err = e.p.Select(ctx, user, "", "gemini:pro")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, `unknown provider "gemini"`)
	_, _, err = e.p.Select(ctx, user, "", "gpt")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, "no usable default provider setting")

	// A server-wide setting beats the environment; the user's own beats
	// the server's.
	srvUp, ownUp := startChatUpstream(t, "server"), startChatUpstream(t, "own")
	srv := e.create(t, e.admin.ID, ProviderSettingInput{Name: "srv", Provider: "openai", BaseURL: srvUp.base(), Scope: "server", APIKey: "sk-server-key-1234"})
	got, err = answer(t, e.p, user, "", "openai:gpt")
	require.NoError(t, err)
	require.Equal(t, "from server", got)
	require.Equal(t, "Bearer sk-server-key-1234", srvUp.last().Header.Get("Authorization"))
	own := e.create(t, user, ProviderSettingInput{Name: "own", Provider: "openai", BaseURL: ownUp.base(), APIKey: "sk-own-key-12345",
		DefaultModel: "openai:gpt-own", Models: []persist.ProviderModel{{ID: "only", DisplayName: "Only"}}})
	require.Equal(t, "gpt-own", own.DefaultModel, "the provider part is dropped")
	got, err = answer(t, e.p, user, "", "openai:only")
	require.NoError(t, err)
	require.Equal(t, "from own", got)
	got, err = answer(t, e.p, user, "", "openai:gpt-own")
	require.NoError(t, err)
	require.Equal(t, "from own", got)
	got, err = answer(t, e.p, user, "", "openai:gpt")
	require.NoError(t, err)
	require.Equal(t, "from server", got, "the own setting's catalog does not list gpt")

	// The default setting wins, and serves bare model ids.
	require.NoError(t, e.p.SetDefaultProviderSetting(ctx, user, srv.ID))
	got, err = answer(t, e.p, user, "", "openai:only")
	require.NoError(t, err)
	require.Equal(t, "from server", got)
	got, err = answer(t, e.p, user, "", "gpt-4o")
	require.NoError(t, err)
	require.Equal(t, "from server", got)
	_, model, err := e.p.Select(ctx, user, "", "gpt-4o")
	require.NoError(t, err)
	require.Equal(t, "gpt-4o", model)

	// A forced setting serves its own provider's models only.
	got, err = answer(t, e.p, user, own.ID, "openai:only")
	require.NoError(t, err)
	require.Equal(t, "from own", got)
	_, model, err = e.p.Select(ctx, user, own.ID, "")
	require.NoError(t, err)
	require.Equal(t, "gpt-own", model, "no model: the setting's default")
	_, _, err = e.p.Select(ctx, user, own.ID, "anthropic:claude")
	require.ErrorIs(t, err, agent.ErrInvalid)
	_, _, err = e.p.Select(ctx, user, own.ID, "openai:gpt")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, "known models: gpt-own, only")

	// An OAuth setting that is not connected is skipped, or refused when
	// forced.
	require.NoError(t, e.p.SetDefaultProviderSetting(ctx, user, ""))
	pending := e.create(t, user, ProviderSettingInput{Name: "pending", Provider: "anthropic",
		OAuth: &OAuthInput{AuthorizeURL: "https://auth.example/a", TokenURL: "https://auth.example/t", ClientID: "c"}})
	_, _, err = e.p.Select(ctx, user, "", "anthropic:claude")
	require.ErrorContains(t, err, "no anthropic provider is configured")
	_, _, err = e.p.Select(ctx, user, pending.ID, "anthropic:claude")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, "not connected")

	// The listing holds the mock, the environment's and the settings'
	// models.
	models, err := e.p.Models(ctx, user)
	require.NoError(t, err)
	var ids []string
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []string{"mock:echo", "openai:gpt-env", "openai:gpt-own", "openai:only"}, ids)
	require.Equal(t, "Only", models[3].DisplayName)

	// Every call is counted under its provider.
	input := e.p.metrics.tokens.WithLabelValues("openai", "input")
	output := e.p.metrics.tokens.WithLabelValues("openai", "output")
	in0, out0 := testutil.ToFloat64(input), testutil.ToFloat64(output)
	require.Positive(t, in0)
	_, err = answer(t, e.p, user, "", "openai:gpt")
	require.NoError(t, err)
	require.Equal(t, in0+7, testutil.ToFloat64(input))
	require.Equal(t, out0+2, testutil.ToFloat64(output))
	require.Zero(t, testutil.ToFloat64(e.p.metrics.errors.WithLabelValues("openai")))
	_, err = call(t, e.p, user, "", "mock:echo", "@error boom")
	require.Error(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(e.p.metrics.errors.WithLabelValues("mock")))
	n, err := testutil.GatherAndCount(e.prom, "seshat_provider_tokens_total", "seshat_provider_request_duration_seconds", "seshat_provider_errors_total")
	require.NoError(t, err)
	require.Positive(t, n)
}

func TestSettingClientFollowsUpdates(t *testing.T) {
	e := newSettingsEnv(t, nil)
	ctx := t.Context()
	user := e.member.ID
	one, two := startChatUpstream(t, "one"), startChatUpstream(t, "two")
	ps := e.create(t, user, ProviderSettingInput{Name: "s", Provider: "openai", BaseURL: one.base(), APIKey: "sk-first-key-0001"})

	got, err := answer(t, e.p, user, ps.ID, "openai:m")
	require.NoError(t, err)
	require.Equal(t, "from one", got)
	got, err = answer(t, e.p, user, ps.ID, "openai:m")
	require.NoError(t, err)
	require.Equal(t, "from one", got)
	require.Equal(t, 1, e.p.lru.Len(), "one client per setting")

	_, err = e.p.UpdateProviderSetting(ctx, user, ps.ID, ProviderSettingUpdate{BaseURL: ptr(two.base()), APIKey: ptr("sk-second-key-0002")})
	require.NoError(t, err)
	got, err = answer(t, e.p, user, ps.ID, "openai:m")
	require.NoError(t, err)
	require.Equal(t, "from two", got)
	require.Equal(t, "Bearer sk-second-key-0002", two.last().Header.Get("Authorization"))

	// The key survives a restart, sealed.
	e.restart(t)
	got, err = answer(t, e.p, user, ps.ID, "openai:m")
	require.NoError(t, err)
	require.Equal(t, "from two", got)
	require.Equal(t, "Bearer sk-second-key-0002", two.last().Header.Get("Authorization"))

	// Removing the key stops sending it.
	v, err := e.p.UpdateProviderSetting(ctx, user, ps.ID, ProviderSettingUpdate{APIKey: ptr("")})
	require.NoError(t, err)
	require.False(t, v.Setting.HasAPIKey)
	_, err = answer(t, e.p, user, ps.ID, "openai:m")
	require.NoError(t, err)
	require.Empty(t, two.last().Header.Get("Authorization"))

	require.NoError(t, e.p.DeleteProviderSetting(ctx, user, ps.ID))
	require.Zero(t, e.p.lru.Len())
	_, _, err = e.p.Select(ctx, user, ps.ID, "openai:m")
	require.ErrorIs(t, err, agent.ErrNotFound)
}

func TestSettingClientCacheIsBounded(t *testing.T) {
	e := newSettingsEnv(t, nil)
	e.p.cfg.CacheSize = 2
	var ids []string
	for i := range 3 {
		ps := e.create(t, e.member.ID, ProviderSettingInput{Name: fmt.Sprint(i), Provider: "mock"})
		ids = append(ids, ps.ID)
		_, _, err := e.p.Select(t.Context(), e.member.ID, ps.ID, "mock:echo")
		require.NoError(t, err)
	}
	require.Equal(t, 2, e.p.lru.Len())
	require.NotContains(t, e.p.clients, ids[0], "the least recently used went")
}

func TestSettingModelsMergeUpstream(t *testing.T) {
	e := newSettingsEnv(t, nil)
	ctx := t.Context()
	user := e.member.ID

	var anthropicHeaders http.Header
	ant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		anthropicHeaders = r.Header.Clone()
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, `{"data":[{"type":"model","id":"claude-up","display_name":"Claude Up","created_at":"2025-01-01T00:00:00Z","max_input_tokens":200000,"max_tokens":64000},`+
			`{"type":"model","id":"claude-cat","display_name":"Claude Cat (upstream)","created_at":"2025-01-01T00:00:00Z"}],"has_more":false,"first_id":"claude-up","last_id":"claude-cat"}`)
	}))
	t.Cleanup(ant.Close)
	ps := e.create(t, user, ProviderSettingInput{Name: "a", Provider: "anthropic", BaseURL: ant.URL + "/v1", APIKey: "sk-ant-list-key-9",
		Models: []persist.ProviderModel{{ID: "claude-cat", InputPricePerMTok: 3}, {ID: "claude-private", DisplayName: "Private"}}})
	list, err := e.p.ProviderSettingModels(ctx, user, ps.ID)
	require.NoError(t, err)
	require.Empty(t, list.UpstreamError)
	require.Equal(t, "sk-ant-list-key-9", anthropicHeaders.Get("x-api-key"))
	require.Equal(t, "2023-06-01", anthropicHeaders.Get("anthropic-version"))
	require.Equal(t, []ListedModel{
		{ProviderModel: persist.ProviderModel{ID: "claude-cat", DisplayName: "Claude Cat (upstream)", InputPricePerMTok: 3}, Model: "anthropic:claude-cat", Source: "both"},
		{ProviderModel: persist.ProviderModel{ID: "claude-private", DisplayName: "Private"}, Model: "anthropic:claude-private", Source: "catalog"},
		{ProviderModel: persist.ProviderModel{ID: "claude-up", DisplayName: "Claude Up", ContextWindow: 200000, MaxOutputTokens: 64000}, Model: "anthropic:claude-up", Source: "upstream"},
	}, list.Models)

	oa := startChatUpstream(t, "oa")
	ps = e.create(t, user, ProviderSettingInput{Name: "o", Provider: "openai", BaseURL: oa.base(), APIKey: "sk-openai-list-1", DefaultModel: "shared"})
	list, err = e.p.ProviderSettingModels(ctx, user, ps.ID)
	require.NoError(t, err)
	require.Equal(t, "Bearer sk-openai-list-1", oa.last().Header.Get("Authorization"))
	require.Equal(t, []string{"openai:shared", "openai:gpt-up"}, listedIDs(list))
	require.Equal(t, "both", list.Models[0].Source)

	// An upstream that cannot be reached leaves the catalog and says why.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	ps = e.create(t, user, ProviderSettingInput{Name: "d", Provider: "openai", BaseURL: deadURL, DefaultModel: "m1"})
	list, err = e.p.ProviderSettingModels(ctx, user, ps.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"openai:m1"}, listedIDs(list))
	require.Contains(t, list.UpstreamError, "upstream unreachable")

	// An upstream that echoes the key does not get it into the answer.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	t.Cleanup(echo.Close)
	ps = e.create(t, user, ProviderSettingInput{Name: "e", Provider: "openai", BaseURL: echo.URL, APIKey: "sk-echoed-secret-77"})
	list, err = e.p.ProviderSettingModels(ctx, user, ps.ID)
	require.NoError(t, err)
	require.Contains(t, list.UpstreamError, "upstream answered 401")
	require.NotContains(t, list.UpstreamError, "sk-echoed-secret-77")
	res, err := e.p.TestProviderSetting(ctx, user, ps.ID, "gpt")
	require.NoError(t, err)
	require.False(t, res.OK)
	require.NotContains(t, res.Error, "sk-echoed-secret-77")
	require.Contains(t, res.Error, "[redacted]")
}

func listedIDs(l ProviderModelList) []string {
	var out []string
	for _, m := range l.Models {
		out = append(out, m.Model)
	}
	return out
}

func TestTestProviderSetting(t *testing.T) {
	e := newSettingsEnv(t, nil)
	user := e.member.ID
	var body map[string]any
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-t","content":[{"type":"text","text":"p"}],"stop_reason":"max_tokens","usage":{"input_tokens":8,"output_tokens":1}}`)
	}))
	t.Cleanup(up.Close)
	ps := e.create(t, user, ProviderSettingInput{Name: "a", Provider: "anthropic", BaseURL: up.URL, APIKey: "sk-ant-test-0000", DefaultModel: "claude-t"})
	res, err := e.p.TestProviderSetting(t.Context(), user, ps.ID, "")
	require.NoError(t, err)
	require.True(t, res.OK, res.Error)
	require.Equal(t, "anthropic:claude-t", res.Model)
	require.EqualValues(t, 1, body["max_tokens"])
	require.Equal(t, "claude-t", body["model"])

	noModel := e.create(t, user, ProviderSettingInput{Name: "n", Provider: "openai"})
	_, err = e.p.TestProviderSetting(t.Context(), user, noModel.ID, "")
	require.ErrorIs(t, err, agent.ErrInvalid)
	_, err = e.p.TestProviderSetting(t.Context(), e.admin.ID, ps.ID, "")
	require.ErrorIs(t, err, agent.ErrNotFound)
}

// oauthServer is an authorization server with PKCE codes and rotating
// refresh tokens, and a model upstream that accepts only its access
// tokens.
type oauthServer struct {
	srv       *httptest.Server
	expiresIn int

	mu        sync.Mutex
	codes     map[string]string
	refresh   map[string]bool
	access    map[string]bool
	n         int
	refreshes int
}

func startOAuthServer(t *testing.T, expiresIn int) *oauthServer {
	t.Helper()
	o := &oauthServer{expiresIn: expiresIn, codes: map[string]string{}, refresh: map[string]bool{}, access: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.n++
		code := fmt.Sprintf("code%d", o.n)
		o.codes[code] = r.URL.Query().Get("code_challenge")
		o.mu.Unlock()
		to, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		q := to.Query()
		q.Set("code", code)
		q.Set("state", r.URL.Query().Get("state"))
		to.RawQuery = q.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		o.mu.Lock()
		defer o.mu.Unlock()
		bad := func() {
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		}
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			ch, ok := o.codes[r.PostForm.Get("code")]
			delete(o.codes, r.PostForm.Get("code"))
			if !ok || ch != base64.RawURLEncoding.EncodeToString(sum[:]) {
				bad()
				return
			}
		case "refresh_token":
			if !o.refresh[r.PostForm.Get("refresh_token")] {
				bad()
				return
			}
			delete(o.refresh, r.PostForm.Get("refresh_token"))
			o.refreshes++
		}
		o.n++
		at, rt := fmt.Sprintf("at-%d", o.n), fmt.Sprintf("rt-%d", o.n)
		o.access[at], o.refresh[rt] = true, true
		w.Header().Set("content-type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"token_type":"Bearer","expires_in":%d}`, at, rt, o.expiresIn)
	})
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		o.mu.Lock()
		ok := o.access[at]
		o.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"bad token"}}`)
			return
		}
		w.Header().Set("content-type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"authorized"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	})
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

// authorize plays the browser: it follows the authorization URL to the
// redirect and returns the callback's code and state.
func (o *oauthServer) authorize(t *testing.T, authURL string) (code, state string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query().Get("code"), loc.Query().Get("state")
}

func TestProviderOAuthFlowAndRefresh(t *testing.T) {
	e := newSettingsEnv(t, nil)
	ctx := t.Context()
	user := e.member.ID
	// Tokens live 30s and are renewed a minute early: each call renews.
	o := startOAuthServer(t, 30)
	ps := e.create(t, user, ProviderSettingInput{Name: "oauth", Provider: "openai", BaseURL: o.srv.URL + "/v1",
		OAuth: &OAuthInput{AuthorizeURL: o.srv.URL + "/authorize", TokenURL: o.srv.URL + "/token", ClientID: "client",
			ClientSecret: ptr("client-secret-xyz"), Scopes: []string{"models"}}})
	require.True(t, ps.HasClientSecret)
	require.False(t, ps.OAuthConnected)

	_, err := e.p.StartProviderOAuth(ctx, e.admin.ID, ps.ID, "http://seshat.test/cb")
	require.ErrorIs(t, err, agent.ErrNotFound)
	start, err := e.p.StartProviderOAuth(ctx, user, ps.ID, "http://seshat.test/cb")
	require.NoError(t, err)
	require.Contains(t, start.AuthorizeURL, "code_challenge_method=S256")
	require.Contains(t, start.AuthorizeURL, "redirect_uri="+url.QueryEscape("http://seshat.test/cb"))
	code, state := o.authorize(t, start.AuthorizeURL)
	require.Equal(t, start.State, state)

	_, err = e.p.FinishProviderOAuth(ctx, "forged", code, "")
	require.ErrorIs(t, err, agent.ErrInvalid)
	v, err := e.p.FinishProviderOAuth(ctx, state, code, "")
	require.NoError(t, err)
	require.True(t, v.Setting.OAuthConnected)
	_, err = e.p.FinishProviderOAuth(ctx, state, code, "")
	require.ErrorIs(t, err, agent.ErrInvalid, "a state works once")

	// Calls carry the access token; each one finds it due and renews it,
	// and the renewed tokens are kept sealed.
	for range 2 {
		got, err := answer(t, e.p, user, "", "openai:m")
		require.NoError(t, err)
		require.Equal(t, "authorized", got)
	}
	require.Equal(t, 2, o.refreshes)
	sec, err := e.store.ProviderSecrets(ps.ID)
	require.NoError(t, err)
	o.mu.Lock()
	require.True(t, o.refresh[string(sec.Token.RefreshToken)], "the stored refresh token is the live one")
	o.mu.Unlock()

	// After a restart the stored (rotated) tokens still work.
	e.restart(t)
	got, err := answer(t, e.p, user, "", "openai:m")
	require.NoError(t, err)
	require.Equal(t, "authorized", got)
	require.Equal(t, 3, o.refreshes)

	// Denied authorization and expired flows are refused.
	start, err = e.p.StartProviderOAuth(ctx, user, ps.ID, "http://seshat.test/cb")
	require.NoError(t, err)
	_, err = e.p.FinishProviderOAuth(ctx, start.State, "", "access_denied")
	require.ErrorIs(t, err, agent.ErrInvalid)
	require.ErrorContains(t, err, "access_denied")
	e.p.cfg.OAuthStateTTL = -time.Second
	start, err = e.p.StartProviderOAuth(ctx, user, ps.ID, "http://seshat.test/cb")
	require.NoError(t, err)
	code, _ = o.authorize(t, start.AuthorizeURL)
	_, err = e.p.FinishProviderOAuth(ctx, start.State, code, "")
	require.ErrorIs(t, err, agent.ErrInvalid)

	// Changing the client drops the tokens.
	v, err = e.p.UpdateProviderSetting(ctx, user, ps.ID, ProviderSettingUpdate{OAuth: &OAuthInput{
		AuthorizeURL: o.srv.URL + "/authorize", TokenURL: o.srv.URL + "/token", ClientID: "other"}})
	require.NoError(t, err)
	require.False(t, v.Setting.OAuthConnected)
	require.True(t, v.Setting.HasClientSecret, "nil client_secret keeps it")
	v, err = e.p.UpdateProviderSetting(ctx, user, ps.ID, ProviderSettingUpdate{OAuth: &OAuthInput{}})
	require.NoError(t, err)
	require.Nil(t, v.Setting.OAuth)
	require.False(t, v.Setting.HasClientSecret)
}

func TestOAuthStatesAreBounded(t *testing.T) {
	e := newSettingsEnv(t, nil)
	e.p.cfg.MaxOAuthStates = 3
	ps := e.create(t, e.member.ID, ProviderSettingInput{Name: "o", Provider: "openai",
		OAuth: &OAuthInput{AuthorizeURL: "https://auth.example/a", TokenURL: "https://auth.example/t", ClientID: "c"}})
	var states []string
	for range 5 {
		s, err := e.p.StartProviderOAuth(t.Context(), e.member.ID, ps.ID, "http://seshat.test/cb")
		require.NoError(t, err)
		states = append(states, s.State)
	}
	require.Len(t, e.p.states, 3)
	_, ok := e.p.takeFlow(states[0])
	require.False(t, ok, "the oldest flow was forgotten")
	_, ok = e.p.takeFlow(states[4])
	require.True(t, ok)
}

func ptr[T any](v T) *T { return &v }
