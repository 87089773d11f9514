package routing

import (
	"cmp"
	"container/list"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// Provider settings and model routing.
//
// Service is the provider.Selector the host runs turns with when users
// keep provider settings: named upstreams (Anthropic, OpenAI-compatible,
// or the mock) with a base URL, credentials sealed in the store, a model
// catalog, and a scope (the user's own, a workspace's, or server-wide).
//
// A model id resolves as follows. "mock:…" is always the server's mock.
// "provider:model" goes to the caller's default setting if it is of that
// provider and admits the model, else to the first usable setting of that
// provider that admits it (the turn's workspace's, named by
// provider.WithWorkspace, then the caller's own, then the server's, each
// oldest first; other workspaces the caller belongs to never serve a
// turn), else to the server-wide provider of
// that name configured from the environment. A bare "model" (no colon)
// goes to the caller's default setting. A provider setting id given with
// the turn forces that setting (the model's provider part, if any, must
// match it). A setting admits a model when its catalog is empty (the
// upstream decides) or lists the model or has it as default model. A
// setting is usable when it needs no OAuth or its OAuth flow is complete.

// SettingIDPrefix is the id prefix of provider settings.
const SettingIDPrefix = "pset"

// backends are the valid values of a setting's provider, sorted.
var backends = []string{provider.AnthropicName, provider.MockName, provider.OpenAIName}

// Limits on settings.
const (
	maxSettingName   = 100
	maxModelID       = 200
	maxCatalogModels = 1000
	maxSecretBytes   = 8 << 10
	maxUpstreamBody  = 4 << 20
	// oauthEarlyRefresh is how long before its expiry an access token is
	// renewed, so that a call never starts with a token about to lapse.
	oauthEarlyRefresh = time.Minute
	// anthropicAPIVersion is sent with model listings.
	anthropicAPIVersion = "2023-06-01"
)

// Config configures a Service.
type Config struct {
	// Store keeps the settings (required). It must be opened with a
	// master key for settings to carry credentials.
	Store *persist.Store
	// Registry holds the server-wide providers configured from the
	// environment, which serve "provider:model" ids no setting serves. If
	// nil, a registry with only the mock.
	Registry *provider.Registry
	// HTTPClient makes the upstream calls of settings' clients, model
	// listings, connection tests and OAuth token requests. If nil, a
	// client with pooled connections, bounded dial, TLS and header waits,
	// and no overall timeout (each call's context bounds it).
	HTTPClient *http.Client
	// FencedHTTPClient, if set, makes the upstream calls of settings
	// created by anyone but a server admin instead of HTTPClient: a client
	// of actors/egress that refuses loopback, private and link-local
	// destinations on every connection, redirects included.
	FencedHTTPClient *http.Client
	// CacheSize bounds the provider clients kept, one per setting. If
	// zero, 256.
	CacheSize int
	// ModelsTimeout bounds the upstream call of a model listing. If zero,
	// 5s.
	ModelsTimeout time.Duration
	// TestTimeout bounds a connection test. If zero, 30s.
	TestTimeout time.Duration
	// OAuthStateTTL is how long an OAuth flow may take from start to
	// callback. If zero, 10m.
	OAuthStateTTL time.Duration
	// MaxOAuthStates bounds the OAuth flows in progress; past it the
	// oldest is forgotten. If zero, 1024.
	MaxOAuthStates int
	// OAuthRedirectURL is the full URL of the server's OAuth callback as a
	// browser reaches it, sent as redirect_uri. A setting's own
	// redirect_url wins over it. If empty, the URL the caller of
	// StartProviderOAuth derives from the request.
	OAuthRedirectURL string
	// Logger receives the few log lines of settings (never a credential).
	// If nil, logs are discarded.
	Logger *slog.Logger
	// Registerer receives the provider call metrics
	// (seshat_provider_tokens_total, seshat_provider_request_duration_seconds,
	// seshat_provider_errors_total). If nil, none are exported.
	Registerer prometheus.Registerer
}

// Service selects providers per user from their provider settings and
// the server-wide registry, lists and resolves the models a user can call,
// and runs the settings API. It implements provider.Selector and
// provider.Lister. It is safe for concurrent use.
//
// Lock order: mu (the client cache) and stateMu (OAuth flows) are never
// held together, nor while calling the store or the network.
type Service struct {
	cfg     Config
	store   *persist.Store
	access  *tenancy.Access
	reg     *provider.Registry
	http    *http.Client
	log     *slog.Logger
	metrics *providerMetrics

	mu      sync.Mutex
	clients map[string]*list.Element // guarded by mu; values are *settingClient
	lru     *list.List               // guarded by mu; front is the most recently used

	stateMu sync.Mutex
	states  map[string]oauthFlow // guarded by stateMu
}

// New builds the service and registers its metrics. It starts nothing.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("routing: Config.Store is required")
	}
	if cfg.Registry == nil {
		cfg.Registry = provider.NewRegistry()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = provider.NewHTTPClient()
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 256
	}
	if cfg.ModelsTimeout <= 0 {
		cfg.ModelsTimeout = 5 * time.Second
	}
	if cfg.TestTimeout <= 0 {
		cfg.TestTimeout = 30 * time.Second
	}
	if cfg.OAuthStateTTL <= 0 {
		cfg.OAuthStateTTL = 10 * time.Minute
	}
	if cfg.MaxOAuthStates <= 0 {
		cfg.MaxOAuthStates = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newProviderMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg:     cfg,
		store:   cfg.Store,
		access:  tenancy.NewAccess(cfg.Store),
		reg:     cfg.Registry,
		http:    cfg.HTTPClient,
		log:     cfg.Logger.With("component", "providers"),
		metrics: m,
		clients: map[string]*list.Element{},
		lru:     list.New(),
		states:  map[string]oauthFlow{},
	}, nil
}

// OAuthInput is a setting's OAuth client as a caller gives it.
type OAuthInput struct {
	AuthorizeURL string
	TokenURL     string
	ClientID     string
	// ClientSecret: nil keeps the stored one (none on create), "" removes
	// it.
	ClientSecret *string
	Scopes       []string
	RedirectURL  string
}

// isEmpty reports an OAuth input with nothing in it, which removes OAuth
// on update.
func (o OAuthInput) isEmpty() bool {
	return o.AuthorizeURL == "" && o.TokenURL == "" && o.ClientID == "" && o.ClientSecret == nil &&
		len(o.Scopes) == 0 && o.RedirectURL == ""
}

// ProviderSettingInput creates a provider setting.
type ProviderSettingInput struct {
	Name string
	// Provider is "anthropic", "openai" or "mock".
	Provider     string
	BaseURL      string
	APIKey       string
	DefaultModel string
	Models       []persist.ProviderModel
	// Scope is "user", "workspace" or "server"; if empty, "workspace"
	// when WorkspaceID is set, else "user".
	Scope string
	// WorkspaceID names the workspace of a workspace-scoped setting; if
	// empty, the caller's default workspace.
	WorkspaceID string
	OAuth       *OAuthInput
}

// ProviderSettingUpdate changes a setting; nil fields stay.
type ProviderSettingUpdate struct {
	Name         *string
	BaseURL      *string
	DefaultModel *string
	// APIKey replaces the key; "" removes it.
	APIKey *string
	Models *[]persist.ProviderModel
	// OAuth replaces the OAuth client; an empty one removes OAuth. A
	// change of endpoint or client drops the tokens.
	OAuth *OAuthInput
	// Provider, Scope and WorkspaceID cannot change; they are accepted
	// when equal to the setting's.
	Provider    *string
	Scope       *string
	WorkspaceID *string
}

// ProviderSettingView is a setting as a user sees it.
type ProviderSettingView struct {
	Setting persist.ProviderSetting
	// IsDefault tells whether it is the user's default setting.
	IsDefault bool
	// CanManage tells whether the user may change or delete it.
	CanManage bool
}

// ProviderSettingList is the settings a user may use.
type ProviderSettingList struct {
	Settings []ProviderSettingView
	// DefaultID is the user's default setting, or "".
	DefaultID string
}

// ListedModel is one model of a setting's listing.
type ListedModel struct {
	persist.ProviderModel
	// Model is the full "provider:id" to use in a query.
	Model string
	// Source is "catalog" (the setting's own), "upstream" or "both".
	Source string
}

// ProviderModelList is a setting's catalog merged with what its upstream
// reports.
type ProviderModelList struct {
	Models []ListedModel
	// UpstreamError says why the upstream could not be asked, or "".
	UpstreamError string
}

// ProviderTestResult is the outcome of a connection test.
type ProviderTestResult struct {
	OK      bool
	Latency time.Duration
	// Model is the model the test called.
	Model string
	// Error is why the call failed, or "".
	Error string
}

// OAuthStart is where to send the user to authorize a setting.
type OAuthStart struct {
	AuthorizeURL string
	State        string
}

// CreateProviderSetting creates a setting owned as in.Scope says.
func (p *Service) CreateProviderSetting(ctx context.Context, userID string, in ProviderSettingInput) (ProviderSettingView, error) {
	ps := persist.ProviderSetting{ID: agent.NewID(SettingIDPrefix), CreatedBy: userID, Provider: in.Provider}
	if !slices.Contains(backends, in.Provider) {
		return ProviderSettingView{}, fmt.Errorf("%w: provider must be one of %s", agent.ErrInvalid, strings.Join(backends, ", "))
	}
	if err := p.placeSetting(&ps, userID, in.Scope, in.WorkspaceID); err != nil {
		return ProviderSettingView{}, err
	}
	fields := ProviderSettingUpdate{Name: &in.Name, BaseURL: &in.BaseURL, DefaultModel: &in.DefaultModel, Models: &in.Models, OAuth: in.OAuth}
	var sec persist.ProviderSecrets
	if err := applySettingFields(&ps, &sec, fields); err != nil {
		return ProviderSettingView{}, err
	}
	key, err := checkSecret("api_key", in.APIKey)
	if err != nil {
		return ProviderSettingView{}, err
	}
	sec.APIKey = key
	stored, err := p.store.CreateProviderSetting(ctx, ps, sec)
	if err != nil {
		return ProviderSettingView{}, err
	}
	return p.view(userID, stored)
}

// placeSetting sets the scope and owner of a new setting, checking that
// userID may create it there.
func (p *Service) placeSetting(ps *persist.ProviderSetting, userID, scope, workspaceID string) error {
	if scope == "" {
		scope = persist.ScopeUser
		if workspaceID != "" {
			scope = persist.ScopeWorkspace
		}
	}
	switch scope {
	case persist.ScopeUser:
		if workspaceID != "" {
			return fmt.Errorf("%w: workspace_id is only for scope workspace", agent.ErrInvalid)
		}
		ps.Scope, ps.UserID = scope, userID
	case persist.ScopeWorkspace:
		ws, err := p.access.WorkspaceFor(context.Background(), userID, workspaceID, persist.WorkspaceAdmin)
		if err != nil {
			return err
		}
		ps.Scope, ps.WorkspaceID = scope, ws
	case persist.ScopeServer:
		if workspaceID != "" {
			return fmt.Errorf("%w: workspace_id is only for scope workspace", agent.ErrInvalid)
		}
		if err := p.requireAdmin(userID); err != nil {
			return err
		}
		ps.Scope = scope
	default:
		return fmt.Errorf("%w: scope must be user, workspace or server", agent.ErrInvalid)
	}
	return nil
}

func (p *Service) requireAdmin(userID string) error {
	u, err := p.store.UserByID(userID)
	if err != nil {
		return err
	}
	if u.Role != persist.RoleAdmin {
		return fmt.Errorf("%w: only an admin manages server-wide provider settings", agent.ErrForbidden)
	}
	return nil
}

// applySettingFields validates the set fields of u and applies them to
// ps and sec. It is pure, so it can run inside a store write.
func applySettingFields(ps *persist.ProviderSetting, sec *persist.ProviderSecrets, u ProviderSettingUpdate) error {
	if u.Provider != nil && *u.Provider != ps.Provider {
		return fmt.Errorf("%w: the provider of a setting cannot change; create another setting", agent.ErrInvalid)
	}
	if u.Scope != nil && *u.Scope != ps.Scope {
		return fmt.Errorf("%w: the scope of a setting cannot change; create another setting", agent.ErrInvalid)
	}
	if u.WorkspaceID != nil && *u.WorkspaceID != ps.WorkspaceID {
		return fmt.Errorf("%w: the workspace of a setting cannot change; create another setting", agent.ErrInvalid)
	}
	if u.Name != nil {
		name := strings.TrimSpace(*u.Name)
		if name == "" || len([]rune(name)) > maxSettingName {
			return fmt.Errorf("%w: name is required, at most %d characters", agent.ErrInvalid, maxSettingName)
		}
		ps.Name = name
	}
	if u.BaseURL != nil {
		base := strings.TrimSpace(*u.BaseURL)
		if base != "" {
			if err := checkURL("base_url", base); err != nil {
				return err
			}
		}
		base = strings.TrimRight(base, "/")
		// Credentials follow their destination: a key stored for one
		// host is never sent to another.
		if base != ps.BaseURL && sec.APIKey != "" && u.APIKey == nil {
			return fmt.Errorf("%w: changing base_url needs the api_key again", agent.ErrSecretRequired)
		}
		ps.BaseURL = base
	}
	if u.Models != nil {
		models, err := checkCatalog(*u.Models)
		if err != nil {
			return err
		}
		ps.Models = models
	}
	if u.DefaultModel != nil {
		m := strings.TrimSpace(*u.DefaultModel)
		m = strings.TrimPrefix(m, ps.Provider+":")
		if len(m) > maxModelID {
			return fmt.Errorf("%w: default_model is longer than %d bytes", agent.ErrInvalid, maxModelID)
		}
		ps.DefaultModel = m
	}
	if u.APIKey != nil {
		key, err := checkSecret("api_key", *u.APIKey)
		if err != nil {
			return err
		}
		sec.APIKey = key
	}
	if o := u.OAuth; o != nil {
		if o.isEmpty() {
			ps.OAuth, sec.ClientSecret, sec.Token = nil, "", nil
			return nil
		}
		next := persist.ProviderOAuth{
			AuthorizeURL: strings.TrimSpace(o.AuthorizeURL), TokenURL: strings.TrimSpace(o.TokenURL),
			ClientID: strings.TrimSpace(o.ClientID), RedirectURL: strings.TrimSpace(o.RedirectURL),
		}
		if err := checkURL("oauth.authorize_url", next.AuthorizeURL); err != nil {
			return err
		}
		if err := checkURL("oauth.token_url", next.TokenURL); err != nil {
			return err
		}
		if next.RedirectURL != "" {
			if err := checkURL("oauth.redirect_url", next.RedirectURL); err != nil {
				return err
			}
		}
		if next.ClientID == "" {
			return fmt.Errorf("%w: oauth.client_id is required", agent.ErrInvalid)
		}
		for _, s := range o.Scopes {
			if s = strings.TrimSpace(s); s != "" {
				next.Scopes = append(next.Scopes, s)
			}
		}
		if old := ps.OAuth; old != nil && old.TokenURL != next.TokenURL && sec.ClientSecret != "" && o.ClientSecret == nil {
			return fmt.Errorf("%w: changing oauth.token_url needs the oauth.client_secret again", agent.ErrSecretRequired)
		}
		if old := ps.OAuth; old == nil || old.AuthorizeURL != next.AuthorizeURL || old.TokenURL != next.TokenURL || old.ClientID != next.ClientID {
			// Tokens belong to the client that obtained them.
			sec.Token = nil
		}
		if o.ClientSecret != nil {
			cs, err := checkSecret("oauth.client_secret", *o.ClientSecret)
			if err != nil {
				return err
			}
			sec.ClientSecret = cs
		}
		ps.OAuth = &next
	}
	return nil
}

// checkURL accepts an absolute http(s) URL without credentials, query or
// fragment (what an API response shows must hold no secret).
func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %s must be an absolute http or https URL", agent.ErrInvalid, field)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: %s must not carry credentials, a query or a fragment", agent.ErrInvalid, field)
	}
	return nil
}

// checkSecret trims a credential and bounds its size.
func checkSecret(field, v string) (persist.Secret, error) {
	v = strings.TrimSpace(v)
	if len(v) > maxSecretBytes {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", agent.ErrInvalid, field, maxSecretBytes)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: %s contains control characters", agent.ErrInvalid, field)
	}
	return persist.Secret(v), nil
}

// checkCatalog validates a model catalog.
func checkCatalog(in []persist.ProviderModel) ([]persist.ProviderModel, error) {
	if len(in) > maxCatalogModels {
		return nil, fmt.Errorf("%w: at most %d models", agent.ErrInvalid, maxCatalogModels)
	}
	out := make([]persist.ProviderModel, 0, len(in))
	seen := map[string]bool{}
	for i, m := range in {
		m.ID = strings.TrimSpace(m.ID)
		m.DisplayName = strings.TrimSpace(m.DisplayName)
		switch {
		case m.ID == "" || len(m.ID) > maxModelID:
			return nil, fmt.Errorf("%w: models[%d].id is required, at most %d bytes", agent.ErrInvalid, i, maxModelID)
		case seen[m.ID]:
			return nil, fmt.Errorf("%w: models[%d].id %q is listed twice", agent.ErrInvalid, i, m.ID)
		case m.ContextWindow < 0 || m.MaxOutputTokens < 0 || m.InputPricePerMTok < 0 || m.OutputPricePerMTok < 0:
			return nil, fmt.Errorf("%w: models[%d] has a negative figure", agent.ErrInvalid, i)
		}
		seen[m.ID] = true
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ListProviderSettings returns the settings userID may use, in resolution
// order, and their default.
func (p *Service) ListProviderSettings(_ context.Context, userID string) (ProviderSettingList, error) {
	sets, err := p.visibleSettings(userID)
	if err != nil {
		return ProviderSettingList{}, err
	}
	def, err := p.store.DefaultProviderSetting(userID)
	if err != nil {
		return ProviderSettingList{}, err
	}
	out := ProviderSettingList{Settings: make([]ProviderSettingView, 0, len(sets))}
	for _, ps := range sets {
		v, err := p.viewWith(userID, ps, def)
		if err != nil {
			return ProviderSettingList{}, err
		}
		if v.IsDefault {
			out.DefaultID = ps.ID
		}
		out.Settings = append(out.Settings, v)
	}
	return out, nil
}

// GetProviderSetting returns a setting userID may use.
func (p *Service) GetProviderSetting(_ context.Context, userID, id string) (ProviderSettingView, error) {
	ps, err := p.lookup(userID, id)
	if err != nil {
		return ProviderSettingView{}, err
	}
	return p.view(userID, ps)
}

// UpdateProviderSetting changes a setting userID manages.
func (p *Service) UpdateProviderSetting(ctx context.Context, userID, id string, u ProviderSettingUpdate) (ProviderSettingView, error) {
	if _, err := p.manageable(userID, id); err != nil {
		return ProviderSettingView{}, err
	}
	stored, err := p.store.UpdateProviderSetting(ctx, id, func(ps *persist.ProviderSetting, sec *persist.ProviderSecrets) error {
		return applySettingFields(ps, sec, u)
	})
	p.forget(id)
	if err != nil {
		return ProviderSettingView{}, notFound(err, id)
	}
	return p.view(userID, stored)
}

// DeleteProviderSetting deletes a setting userID manages.
func (p *Service) DeleteProviderSetting(ctx context.Context, userID, id string) error {
	if _, err := p.manageable(userID, id); err != nil {
		return err
	}
	err := p.store.DeleteProviderSetting(ctx, id)
	p.forget(id)
	return notFound(err, id)
}

// SetDefaultProviderSetting makes a setting userID may use their default;
// an empty id clears the default.
func (p *Service) SetDefaultProviderSetting(ctx context.Context, userID, id string) error {
	if id != "" {
		if _, err := p.lookup(userID, id); err != nil {
			return err
		}
	}
	return notFound(p.store.SetDefaultProviderSetting(ctx, userID, id), id)
}

// notFound turns the store's not-found of setting id into the runtime's.
func notFound(err error, id string) error { return tenancy.NotFound(err, "provider setting "+id) }

// lookup returns setting id if userID may use it; another tenant's setting
// is not found.
func (p *Service) lookup(userID, id string) (persist.ProviderSetting, error) {
	missing := fmt.Errorf("%w: provider setting %s", agent.ErrNotFound, id)
	if !agent.ValidID(SettingIDPrefix, id) {
		return persist.ProviderSetting{}, missing
	}
	ps, err := p.store.ProviderSetting(id)
	if errors.Is(err, persist.ErrNotFound) {
		return ps, missing
	}
	if err != nil {
		return ps, err
	}
	ok, err := p.visible(userID, ps)
	if err != nil {
		return ps, err
	}
	if !ok {
		return persist.ProviderSetting{}, missing
	}
	return ps, nil
}

// manageable returns setting id if userID may change it: not found if
// they cannot see it, forbidden if they can but not change it.
func (p *Service) manageable(userID, id string) (persist.ProviderSetting, error) {
	ps, err := p.lookup(userID, id)
	if err != nil {
		return ps, err
	}
	ok, err := p.canManage(userID, ps)
	if err != nil {
		return ps, err
	}
	if !ok {
		return ps, fmt.Errorf("%w: you may use provider setting %s but not change it", agent.ErrForbidden, id)
	}
	return ps, nil
}

// visible reports whether userID may use ps: their own, one of a
// workspace they belong to, or a server-wide one.
func (p *Service) visible(userID string, ps persist.ProviderSetting) (bool, error) {
	switch ps.Scope {
	case persist.ScopeUser:
		return ps.UserID == userID, nil
	case persist.ScopeWorkspace:
		role, err := p.access.Role(userID, ps.WorkspaceID)
		return role != "", err
	case persist.ScopeServer:
		return true, nil
	}
	return false, nil
}

// canManage reports whether userID may change ps: the owner of their own,
// the workspace's admins, a server admin for server-wide ones.
func (p *Service) canManage(userID string, ps persist.ProviderSetting) (bool, error) {
	switch ps.Scope {
	case persist.ScopeUser:
		return ps.UserID == userID, nil
	case persist.ScopeWorkspace:
		role, err := p.access.Role(userID, ps.WorkspaceID)
		if err != nil {
			return false, err
		}
		return persist.RoleAllows(role, persist.WorkspaceAdmin), nil
	case persist.ScopeServer:
		u, err := p.store.UserByID(userID)
		if err != nil {
			return false, err
		}
		return u.Role == persist.RoleAdmin, nil
	}
	return false, nil
}

// visibleSettings returns the settings userID may use, in resolution
// order.
func (p *Service) visibleSettings(userID string) ([]persist.ProviderSetting, error) {
	wss, err := p.store.WorkspacesForUser(userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(wss))
	for i, ws := range wss {
		ids[i] = ws.ID
	}
	return p.store.ProviderSettingsFor(userID, ids)
}

// turnSettings returns the settings that may serve a turn of userID in
// workspace wsID, in resolution order: the workspace's (when the caller
// has a role in it), then the caller's own, then the server's. Settings of
// other workspaces the caller belongs to are never among them, so that
// whoever adds the caller to a workspace cannot take over their turns.
func (p *Service) turnSettings(userID, wsID string) ([]persist.ProviderSetting, error) {
	var ids []string
	if wsID != "" {
		role, err := p.access.Role(userID, wsID)
		if err != nil {
			return nil, err
		}
		if role != "" {
			ids = []string{wsID}
		}
	}
	sets, err := p.store.ProviderSettingsFor(userID, ids)
	if err != nil {
		return nil, err
	}
	rank := func(scope string) int {
		switch scope {
		case persist.ScopeWorkspace:
			return 0
		case persist.ScopeUser:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(sets, func(a, b persist.ProviderSetting) int { return cmp.Compare(rank(a.Scope), rank(b.Scope)) })
	return sets, nil
}

// defaultSetting returns the caller's default setting if they have one
// and may still use it.
func (p *Service) defaultSetting(userID string) (persist.ProviderSetting, bool, error) {
	def, err := p.store.DefaultProviderSetting(userID)
	if err != nil || def == "" {
		return persist.ProviderSetting{}, false, err
	}
	ps, err := p.lookup(userID, def)
	if errors.Is(err, agent.ErrNotFound) {
		return ps, false, nil
	}
	return ps, err == nil, err
}

func (p *Service) view(userID string, ps persist.ProviderSetting) (ProviderSettingView, error) {
	def, err := p.store.DefaultProviderSetting(userID)
	if err != nil {
		return ProviderSettingView{}, err
	}
	return p.viewWith(userID, ps, def)
}

func (p *Service) viewWith(userID string, ps persist.ProviderSetting, defaultID string) (ProviderSettingView, error) {
	ok, err := p.canManage(userID, ps)
	if err != nil {
		return ProviderSettingView{}, err
	}
	return ProviderSettingView{Setting: ps, IsDefault: ps.ID == defaultID, CanManage: ok}, nil
}

// usable reports whether a setting can serve calls now.
func usable(ps persist.ProviderSetting) bool { return ps.OAuth == nil || ps.OAuthConnected }

// admits reports whether a setting serves model: any model when its
// catalog is empty, else those of the catalog and its default model.
func admits(ps persist.ProviderSetting, model string) bool {
	if len(ps.Models) == 0 || model == ps.DefaultModel {
		return true
	}
	return slices.ContainsFunc(ps.Models, func(m persist.ProviderModel) bool { return m.ID == model })
}

// catalogIDs names a setting's models for an error message.
func catalogIDs(ps persist.ProviderSetting) string {
	ids := make([]string, 0, len(ps.Models)+1)
	if ps.DefaultModel != "" {
		ids = append(ids, ps.DefaultModel)
	}
	for _, m := range ps.Models {
		if m.ID != ps.DefaultModel {
			ids = append(ids, m.ID)
		}
	}
	return strings.Join(ids, ", ")
}

// Select implements provider.Selector (see the top of this file for the
// rules).
func (p *Service) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	name, id, qualified := strings.Cut(model, ":")
	if !qualified {
		name, id = "", model
	}
	if settingID != "" {
		ps, err := p.lookup(userID, settingID)
		if err != nil {
			return nil, "", err
		}
		if name != "" && name != ps.Provider {
			return nil, "", fmt.Errorf("%w: model %q is not a %s model, which provider setting %s serves",
				agent.ErrInvalid, model, ps.Provider, ps.ID)
		}
		if id == "" {
			id = ps.DefaultModel
		}
		return p.serve(ps, id)
	}
	if name == provider.MockName {
		return p.fromRegistry(name, model)
	}
	if id == "" {
		return nil, "", fmt.Errorf("%w: model %q names no model", agent.ErrInvalid, model)
	}
	sets, err := p.turnSettings(userID, provider.WorkspaceOf(ctx))
	if err != nil {
		return nil, "", err
	}
	if ps, ok, err := p.defaultSetting(userID); err != nil {
		return nil, "", err
	} else if ok && (name == "" || ps.Provider == name) && usable(ps) && (name == "" || admits(ps, id)) {
		return p.serve(ps, id)
	}
	if name == "" {
		return nil, "", fmt.Errorf("%w: model %q names no provider and you have no usable default provider setting: use provider:model (known providers: %s)",
			agent.ErrInvalid, model, p.known(sets))
	}
	for _, ps := range sets {
		if ps.Provider == name && usable(ps) && admits(ps, id) {
			return p.serve(ps, id)
		}
	}
	if slices.Contains(p.reg.Names(), name) {
		return p.fromRegistry(name, model)
	}
	for _, ps := range sets {
		if ps.Provider == name && usable(ps) {
			return nil, "", fmt.Errorf("%w: no %s provider setting of yours serves model %q (provider setting %s serves %s)",
				agent.ErrInvalid, name, id, ps.ID, catalogIDs(ps))
		}
	}
	if slices.Contains(backends, name) {
		return nil, "", fmt.Errorf("%w: no %s provider is configured for you: add a provider setting (known providers: %s)",
			agent.ErrInvalid, name, p.known(sets))
	}
	return nil, "", fmt.Errorf("%w: model %q names unknown provider %q (known providers: %s)",
		agent.ErrInvalid, model, name, p.known(sets))
}

// CheckModel reports whether model (through settingID, if set) resolves
// to a provider for the user.
func (p *Service) CheckModel(ctx context.Context, userID, settingID, model string) error {
	_, _, err := p.Select(ctx, userID, settingID, model)
	return err
}

// known names the providers a user can reach: the registry's and their
// usable settings'.
func (p *Service) known(sets []persist.ProviderSetting) string {
	names := p.reg.Names()
	for _, ps := range sets {
		if usable(ps) {
			names = append(names, ps.Provider)
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

func (p *Service) fromRegistry(name, model string) (provider.Provider, string, error) {
	prov, id, err := p.reg.Resolve(model)
	if err != nil {
		return nil, "", err
	}
	return p.metrics.wrap(name, prov), id, nil
}

// serve returns the client of setting ps for model.
func (p *Service) serve(ps persist.ProviderSetting, model string) (provider.Provider, string, error) {
	if model == "" {
		return nil, "", fmt.Errorf("%w: no model given and provider setting %s has no default_model", agent.ErrInvalid, ps.ID)
	}
	if !admits(ps, model) {
		return nil, "", fmt.Errorf("%w: provider setting %s does not serve model %q (known models: %s)",
			agent.ErrInvalid, ps.ID, model, catalogIDs(ps))
	}
	c, err := p.client(ps)
	if err != nil {
		return nil, "", err
	}
	return c.prov, model, nil
}

// settingClient is the provider client of one version of a setting.
type settingClient struct {
	id      string
	version time.Time
	backend string
	// prov is the metered client the turns use.
	prov provider.Provider
	// http makes the setting's other upstream calls: Bearer from the
	// OAuth token when it has one.
	http   *http.Client
	apiKey string
	oauth  bool
}

// client returns the cached client of ps, building it if the cache holds
// none for this version of the setting.
func (p *Service) client(ps persist.ProviderSetting) (*settingClient, error) {
	if !usable(ps) {
		return nil, fmt.Errorf("%w: provider setting %s is not connected yet: complete its OAuth flow (POST /api/v1/settings/providers/%s/oauth/start)",
			agent.ErrInvalid, ps.ID, ps.ID)
	}
	p.mu.Lock()
	if e, ok := p.clients[ps.ID]; ok {
		c := e.Value.(*settingClient)
		if c.version.Equal(ps.UpdatedAt) {
			p.lru.MoveToFront(e)
			p.mu.Unlock()
			return c, nil
		}
		p.lru.Remove(e)
		delete(p.clients, ps.ID)
	}
	p.mu.Unlock()

	c, err := p.build(ps)
	if err != nil {
		return nil, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.clients[ps.ID]; ok {
		// Built meanwhile by another call: keep the newer version.
		if old := e.Value.(*settingClient); !old.version.Before(c.version) {
			p.lru.MoveToFront(e)
			return old, nil
		}
		p.lru.Remove(e)
	}
	p.clients[ps.ID] = p.lru.PushFront(c)
	for p.lru.Len() > p.cfg.CacheSize {
		last := p.lru.Back()
		p.lru.Remove(last)
		delete(p.clients, last.Value.(*settingClient).id)
	}
	return c, nil
}

// forget drops the cached client of a setting.
func (p *Service) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.clients[id]; ok {
		p.lru.Remove(e)
		delete(p.clients, id)
	}
}

// build makes the client of a setting with its opened credentials.
func (p *Service) build(ps persist.ProviderSetting) (*settingClient, error) {
	sec, err := p.store.ProviderSecrets(ps.ID)
	if err != nil {
		return nil, notFound(err, ps.ID)
	}
	base := p.httpFor(ps)
	c := &settingClient{id: ps.ID, version: ps.UpdatedAt, backend: ps.Provider, http: base, apiKey: string(sec.APIKey)}
	if ps.OAuth != nil {
		if sec.Token == nil {
			return nil, fmt.Errorf("%w: provider setting %s is not connected yet", agent.ErrInvalid, ps.ID)
		}
		id, version := ps.ID, ps.UpdatedAt
		ts := p.oauthConfig(ps, sec, "").TokenSource(&oauth2.Token{
			AccessToken: string(sec.Token.AccessToken), RefreshToken: string(sec.Token.RefreshToken),
			TokenType: sec.Token.TokenType, Expiry: sec.Token.Expiry,
		}, oauthEarlyRefresh, func(tok *oauth2.Token) { p.saveToken(id, version, tok) })
		c.http, c.apiKey, c.oauth = provider.BearerClient(base, ts), "", true
	}
	logger := p.cfg.Logger.With("component", "provider", "provider", ps.Provider, "provider_setting_id", ps.ID)
	var prov provider.Provider
	switch ps.Provider {
	case provider.AnthropicName:
		prov = provider.NewAnthropic(provider.AnthropicConfig{BaseURL: ps.BaseURL, APIKey: c.apiKey, HTTPClient: c.http, Logger: logger})
	case provider.OpenAIName:
		prov = provider.NewOpenAI(provider.OpenAIConfig{BaseURL: ps.BaseURL, APIKey: c.apiKey, HTTPClient: c.http, Logger: logger})
	case provider.MockName:
		prov = provider.NewMock()
	default:
		return nil, fmt.Errorf("%w: provider setting %s names unknown provider %q", agent.ErrInvalid, ps.ID, ps.Provider)
	}
	c.prov = p.metrics.wrap(ps.Provider, prov)
	return c, nil
}

// saveToken persists a refreshed OAuth token of version of setting id. A
// setting changed or deleted meanwhile keeps what it has.
func (p *Service) saveToken(id string, version time.Time, tok *oauth2.Token) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.store.SaveProviderToken(ctx, id, version, persist.OAuthToken{
		AccessToken: persist.Secret(tok.AccessToken), RefreshToken: persist.Secret(tok.RefreshToken),
		TokenType: tok.TokenType, Expiry: tok.Expiry,
	})
	if err != nil {
		p.log.Warn("refreshed OAuth token not saved", "provider_setting_id", id, "error", err)
	}
}

// oauthConfig is the OAuth client of a setting that has one.
func (p *Service) oauthConfig(ps persist.ProviderSetting, sec persist.ProviderSecrets, redirect string) provider.OAuthConfig {
	o := ps.OAuth
	return provider.OAuthConfig{
		AuthorizeURL: o.AuthorizeURL, TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: string(sec.ClientSecret),
		Scopes: o.Scopes, RedirectURL: redirect,
		HTTPClient: &http.Client{Transport: p.httpFor(ps).Transport, Timeout: 30 * time.Second},
	}
}

// httpFor returns the client of a setting's upstream calls: the fenced
// one unless a server admin created the setting.
func (p *Service) httpFor(ps persist.ProviderSetting) *http.Client {
	if p.cfg.FencedHTTPClient == nil {
		return p.http
	}
	if u, err := p.store.UserByID(ps.CreatedBy); err == nil && u.Role == persist.RoleAdmin {
		return p.http
	}
	return p.cfg.FencedHTTPClient
}

// Models implements provider.Lister: the mock, the server-wide providers'
// models and the catalog and default model of every setting userID may
// use now, by id.
func (p *Service) Models(ctx context.Context, userID string) ([]provider.ModelInfo, error) {
	out, err := p.reg.Models(ctx, userID)
	if err != nil {
		return nil, err
	}
	sets, err := p.visibleSettings(userID)
	if err != nil {
		return nil, err
	}
	for _, ps := range sets {
		if !usable(ps) {
			continue
		}
		if ps.DefaultModel != "" {
			out = append(out, provider.ModelInfo{ID: ps.Provider + ":" + ps.DefaultModel})
		}
		for _, m := range ps.Models {
			out = append(out, provider.ModelInfo{ID: ps.Provider + ":" + m.ID, DisplayName: m.DisplayName,
				ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens})
		}
	}
	// The richer entry of an id wins: sort puts ids together, and among
	// equal ids the ones with a display name first.
	slices.SortStableFunc(out, func(a, b provider.ModelInfo) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(b.DisplayName, a.DisplayName)
	})
	return slices.CompactFunc(out, func(a, b provider.ModelInfo) bool { return a.ID == b.ID }), nil
}

// ProviderSettingModels lists a setting's models: its catalog merged with
// what the upstream reports, when it can be reached within ModelsTimeout.
func (p *Service) ProviderSettingModels(ctx context.Context, userID, id string) (ProviderModelList, error) {
	ps, err := p.lookup(userID, id)
	if err != nil {
		return ProviderModelList{}, err
	}
	var upstream []persist.ProviderModel
	var upErr error
	if c, err := p.client(ps); err != nil {
		upErr = err
	} else {
		ctx, cancel := context.WithTimeout(ctx, p.cfg.ModelsTimeout)
		upstream, upErr = p.upstreamModels(ctx, ps, c)
		cancel()
	}
	out := ProviderModelList{Models: mergeModels(ps, upstream)}
	if upErr != nil {
		out.UpstreamError = p.scrub(ps.ID, upErr)
	}
	return out, nil
}

// mergeModels lists the catalog (and default model) first, in order,
// filled in by what the upstream says of the same ids, then the upstream's
// other models in its order.
func mergeModels(ps persist.ProviderSetting, upstream []persist.ProviderModel) []ListedModel {
	up := make(map[string]persist.ProviderModel, len(upstream))
	for _, m := range upstream {
		up[m.ID] = m
	}
	catalog := slices.Clone(ps.Models)
	if ps.DefaultModel != "" && !slices.ContainsFunc(catalog, func(m persist.ProviderModel) bool { return m.ID == ps.DefaultModel }) {
		catalog = append([]persist.ProviderModel{{ID: ps.DefaultModel}}, catalog...)
	}
	out := make([]ListedModel, 0, len(catalog)+len(upstream))
	listed := map[string]bool{}
	for _, m := range catalog {
		src := "catalog"
		if u, ok := up[m.ID]; ok {
			src = "both"
			if m.DisplayName == "" {
				m.DisplayName = u.DisplayName
			}
			if m.ContextWindow == 0 {
				m.ContextWindow = u.ContextWindow
			}
			if m.MaxOutputTokens == 0 {
				m.MaxOutputTokens = u.MaxOutputTokens
			}
		}
		listed[m.ID] = true
		out = append(out, ListedModel{ProviderModel: m, Model: ps.Provider + ":" + m.ID, Source: src})
	}
	for _, m := range upstream {
		if !listed[m.ID] {
			listed[m.ID] = true
			out = append(out, ListedModel{ProviderModel: m, Model: ps.Provider + ":" + m.ID, Source: "upstream"})
		}
	}
	return out
}

// upstreamModels asks a setting's upstream for its models: GET /v1/models
// on Anthropic, GET {base}/models on OpenAI-compatible servers.
func (p *Service) upstreamModels(ctx context.Context, ps persist.ProviderSetting, c *settingClient) ([]persist.ProviderModel, error) {
	var target string
	header := http.Header{}
	switch ps.Provider {
	case provider.MockName:
		return []persist.ProviderModel{{ID: "echo", DisplayName: "Mock (offline echo)"}}, nil
	case provider.AnthropicName:
		base := strings.TrimSuffix(strings.TrimRight(ps.BaseURL, "/"), "/v1")
		if base == "" {
			base = "https://api.anthropic.com"
		}
		target = base + "/v1/models?limit=1000"
		header.Set("anthropic-version", anthropicAPIVersion)
		if c.apiKey != "" {
			header.Set("x-api-key", c.apiKey)
		}
	case provider.OpenAIName:
		base := strings.TrimRight(ps.BaseURL, "/")
		if base == "" {
			base = "https://api.openai.com/v1"
		}
		target = base + "/models"
		if c.apiKey != "" {
			header.Set("authorization", "Bearer "+c.apiKey)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header = header
	req.Header.Set("accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return nil, fmt.Errorf("reading upstream models: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upstream answered %d: %s", resp.StatusCode, upstreamMessage(body))
	}
	var list struct {
		Data []struct {
			ID             string `json:"id"`
			DisplayName    string `json:"display_name"`
			MaxInputTokens int    `json:"max_input_tokens"`
			MaxTokens      int    `json:"max_tokens"`
			ContextLength  int    `json:"context_length"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("upstream models are not the expected JSON: %w", err)
	}
	out := make([]persist.ProviderModel, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID == "" {
			continue
		}
		out = append(out, persist.ProviderModel{ID: m.ID, DisplayName: m.DisplayName,
			ContextWindow: max(m.MaxInputTokens, m.ContextLength), MaxOutputTokens: m.MaxTokens})
	}
	return out, nil
}

// upstreamMessage is the message of an upstream's error body: the
// "message" of an Anthropic or OpenAI envelope, else its first line.
func upstreamMessage(body []byte) string {
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		return env.Error.Message
	}
	s, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// scrub returns err's message with the credentials of setting id taken
// out, in case an upstream echoed one.
func (p *Service) scrub(id string, err error) string {
	msg := err.Error()
	sec, serr := p.store.ProviderSecrets(id)
	if serr != nil {
		return msg
	}
	for _, s := range []persist.Secret{sec.APIKey, sec.ClientSecret} {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, string(s), "[redacted]")
		}
	}
	if t := sec.Token; t != nil {
		for _, s := range []persist.Secret{t.AccessToken, t.RefreshToken} {
			if len(s) >= 4 {
				msg = strings.ReplaceAll(msg, string(s), "[redacted]")
			}
		}
	}
	return msg
}

// TestProviderSetting makes a minimal call (max_tokens 1) through a
// setting userID may use, with model or else the setting's default model
// or first catalog model.
func (p *Service) TestProviderSetting(ctx context.Context, userID, id, model string) (ProviderTestResult, error) {
	ps, err := p.lookup(userID, id)
	if err != nil {
		return ProviderTestResult{}, err
	}
	model = strings.TrimPrefix(strings.TrimSpace(model), ps.Provider+":")
	if model == "" {
		model = ps.DefaultModel
	}
	if model == "" && len(ps.Models) > 0 {
		model = ps.Models[0].ID
	}
	if model == "" && ps.Provider == provider.MockName {
		model = "echo"
	}
	if model == "" {
		return ProviderTestResult{}, fmt.Errorf("%w: name a model to test, or give the setting a default_model", agent.ErrInvalid)
	}
	res := ProviderTestResult{Model: ps.Provider + ":" + model}
	prov, m, err := p.serve(ps, model)
	if err != nil {
		if errors.Is(err, agent.ErrInvalid) && !usable(ps) {
			res.Error = err.Error()
			return res, nil
		}
		return ProviderTestResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.TestTimeout)
	defer cancel()
	start := time.Now()
	_, err = prov.Stream(ctx, &agent.ModelRequest{
		Model:     m,
		Messages:  []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock("ping")}}},
		MaxTokens: 1,
	}, func(agent.ModelChunk) {})
	res.Latency = time.Since(start)
	if err != nil {
		res.Error = p.scrub(ps.ID, err)
		return res, nil
	}
	res.OK = true
	return res, nil
}

// oauthFlow is an OAuth authorization in progress, keyed by its state.
type oauthFlow struct {
	settingID string
	userID    string
	verifier  string
	redirect  string
	// tokenURL and clientID are the client the flow started with; a
	// setting whose client changed meanwhile does not take its tokens.
	tokenURL string
	clientID string
	expires  time.Time
}

// StartProviderOAuth starts the authorization of a setting userID
// manages: it keeps a state and a PKCE verifier and returns the URL to
// send the user to. callbackURL is the server's callback as the request
// reached it, used when neither the setting nor the config names one;
// "" when the request's host may not name it (not a loopback host).
func (p *Service) StartProviderOAuth(_ context.Context, userID, id, callbackURL string) (OAuthStart, error) {
	ps, err := p.manageable(userID, id)
	if err != nil {
		return OAuthStart{}, err
	}
	if ps.OAuth == nil {
		return OAuthStart{}, fmt.Errorf("%w: provider setting %s has no oauth configuration", agent.ErrInvalid, id)
	}
	sec, err := p.store.ProviderSecrets(id)
	if err != nil {
		return OAuthStart{}, notFound(err, id)
	}
	redirect := ps.OAuth.RedirectURL
	if redirect == "" {
		redirect = p.cfg.OAuthRedirectURL
	}
	if redirect == "" {
		redirect = callbackURL
	}
	if redirect == "" {
		return OAuthStart{}, fmt.Errorf("%w: no OAuth redirect URL is known: the request's host names it only when it is a loopback host; "+
			"set SESHAT_PUBLIC_URL to the URL browsers reach this server at (or the setting's oauth.redirect_url)", agent.ErrInvalid)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	flow := oauthFlow{
		settingID: id, userID: userID, verifier: provider.NewOAuthVerifier(), redirect: redirect,
		tokenURL: ps.OAuth.TokenURL, clientID: ps.OAuth.ClientID, expires: time.Now().Add(p.cfg.OAuthStateTTL),
	}
	p.putFlow(state, flow)
	return OAuthStart{AuthorizeURL: p.oauthConfig(ps, sec, redirect).AuthCodeURL(state, flow.verifier), State: state}, nil
}

// putFlow keeps a flow, dropping expired ones and, past MaxOAuthStates,
// the one that expires first.
func (p *Service) putFlow(state string, f oauthFlow) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	now := time.Now()
	for s, g := range p.states {
		if now.After(g.expires) {
			delete(p.states, s)
		}
	}
	for len(p.states) >= p.cfg.MaxOAuthStates {
		oldest := ""
		for s, g := range p.states {
			if oldest == "" || g.expires.Before(p.states[oldest].expires) {
				oldest = s
			}
		}
		delete(p.states, oldest)
	}
	p.states[state] = f
}

// takeFlow removes and returns the flow of state if it has not expired.
func (p *Service) takeFlow(state string) (oauthFlow, bool) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	f, ok := p.states[state]
	delete(p.states, state)
	if !ok || time.Now().After(f.expires) {
		return oauthFlow{}, false
	}
	return f, true
}

// FinishProviderOAuth completes the flow state names: it exchanges code
// for tokens and stores them sealed. The state is the caller's only
// credential, and works once. oauthError is the error the authorization
// server redirected with instead of a code, if any.
func (p *Service) FinishProviderOAuth(ctx context.Context, state, code, oauthError string) (ProviderSettingView, error) {
	flow, ok := p.takeFlow(state)
	if !ok {
		return ProviderSettingView{}, fmt.Errorf("%w: unknown or expired OAuth state", agent.ErrInvalid)
	}
	if oauthError != "" {
		return ProviderSettingView{}, fmt.Errorf("%w: the authorization server refused: %s", agent.ErrInvalid, oauthError)
	}
	if code == "" {
		return ProviderSettingView{}, fmt.Errorf("%w: code is required", agent.ErrInvalid)
	}
	ps, err := p.manageable(flow.userID, flow.settingID)
	if err != nil {
		return ProviderSettingView{}, err
	}
	if ps.OAuth == nil || ps.OAuth.TokenURL != flow.tokenURL || ps.OAuth.ClientID != flow.clientID {
		return ProviderSettingView{}, fmt.Errorf("%w: provider setting %s changed its OAuth client during the authorization; start again", agent.ErrConflict, ps.ID)
	}
	sec, err := p.store.ProviderSecrets(ps.ID)
	if err != nil {
		return ProviderSettingView{}, notFound(err, ps.ID)
	}
	tok, err := p.oauthConfig(ps, sec, flow.redirect).Exchange(ctx, code, flow.verifier)
	if err != nil {
		// The authorization server failed, not the caller: 502, with the
		// status and the OAuth error code but never its body.
		ue := &agent.UpstreamError{Service: "oauth token endpoint", Msg: "the token exchange failed"}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			if re.Response != nil {
				ue.Status = re.Response.StatusCode
			}
			if re.ErrorCode != "" && len(re.ErrorCode) <= 64 {
				ue.Msg += ": " + re.ErrorCode
			}
		}
		p.log.Warn("oauth token exchange failed", "provider_setting_id", ps.ID, "error", err)
		return ProviderSettingView{}, ue
	}
	stored, err := p.store.UpdateProviderSetting(ctx, ps.ID, func(s *persist.ProviderSetting, sec *persist.ProviderSecrets) error {
		if s.OAuth == nil || s.OAuth.TokenURL != flow.tokenURL || s.OAuth.ClientID != flow.clientID {
			return fmt.Errorf("%w: provider setting %s changed its OAuth client during the authorization; start again", agent.ErrConflict, s.ID)
		}
		sec.Token = &persist.OAuthToken{AccessToken: persist.Secret(tok.AccessToken), RefreshToken: persist.Secret(tok.RefreshToken),
			TokenType: tok.TokenType, Expiry: tok.Expiry}
		return nil
	})
	p.forget(ps.ID)
	if err != nil {
		return ProviderSettingView{}, notFound(err, ps.ID)
	}
	p.log.Info("provider setting connected through OAuth", "provider_setting_id", ps.ID)
	return p.view(flow.userID, stored)
}

// providerMetrics are the provider call series.
type providerMetrics struct {
	tokens   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newProviderMetrics(reg prometheus.Registerer) (*providerMetrics, error) {
	m := &providerMetrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_provider_tokens_total", Help: "Tokens of provider calls by provider and kind (input, output).",
		}, []string{"provider", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seshat_provider_request_duration_seconds", Help: "Wall time of a provider call, first byte sent to last byte read.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"provider"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_provider_errors_total", Help: "Provider calls that failed (cancelled calls excluded).",
		}, []string{"provider"}),
	}
	for _, b := range backends {
		m.tokens.WithLabelValues(b, "input")
		m.tokens.WithLabelValues(b, "output")
		m.errors.WithLabelValues(b)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.tokens, m.duration, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// wrap returns prov with its calls recorded under the provider label
// name.
func (m *providerMetrics) wrap(name string, prov provider.Provider) provider.Provider {
	return &meteredProvider{
		inner:    prov,
		input:    m.tokens.WithLabelValues(name, "input"),
		output:   m.tokens.WithLabelValues(name, "output"),
		duration: m.duration.WithLabelValues(name),
		errors:   m.errors.WithLabelValues(name),
	}
}

// meteredProvider records every call of the provider it wraps.
type meteredProvider struct {
	inner    provider.Provider
	input    prometheus.Counter
	output   prometheus.Counter
	duration prometheus.Observer
	errors   prometheus.Counter
}

// Stream implements provider.Provider.
func (m *meteredProvider) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	start := time.Now()
	resp, err := m.inner.Stream(ctx, req, emit)
	m.duration.Observe(time.Since(start).Seconds())
	m.input.Add(float64(max(0, resp.Usage.InputTokens)))
	m.output.Add(float64(max(0, resp.Usage.OutputTokens)))
	if err != nil && ctx.Err() == nil {
		m.errors.Inc()
	}
	return resp, err
}

var (
	_ provider.Selector = (*Service)(nil)
	_ provider.Lister   = (*Service)(nil)
	_ provider.Provider = (*meteredProvider)(nil)
)
