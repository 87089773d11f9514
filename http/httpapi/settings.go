package httpapi

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// ProviderSettings is what the provider settings handlers need of the
// runtime. *routing.Host implements it.
type ProviderSettings interface {
	CreateProviderSetting(ctx context.Context, userID string, in routing.ProviderSettingInput) (routing.ProviderSettingView, error)
	ListProviderSettings(ctx context.Context, userID string) (routing.ProviderSettingList, error)
	GetProviderSetting(ctx context.Context, userID, id string) (routing.ProviderSettingView, error)
	UpdateProviderSetting(ctx context.Context, userID, id string, u routing.ProviderSettingUpdate) (routing.ProviderSettingView, error)
	DeleteProviderSetting(ctx context.Context, userID, id string) error
	SetDefaultProviderSetting(ctx context.Context, userID, id string) error
	ProviderSettingModels(ctx context.Context, userID, id string) (routing.ProviderModelList, error)
	TestProviderSetting(ctx context.Context, userID, id, model string) (routing.ProviderTestResult, error)
	StartProviderOAuth(ctx context.Context, userID, id, callbackURL string) (routing.OAuthStart, error)
	FinishProviderOAuth(ctx context.Context, state, code, oauthError string) (routing.ProviderSettingView, error)
}

// oauthCallbackPath is the route the authorization server sends the
// user's browser back to.
const oauthCallbackPath = "/api/v1/settings/providers/oauth/callback"

// POST /api/v1/settings/providers → 201 setting.
func (s *Server) createProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.CreateProviderSettingRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := s.deps.Providers.CreateProviderSetting(s.opCtx, p.UserID, routing.ProviderSettingInput{
		Name: req.Name, Provider: req.Provider, BaseURL: req.BaseURL, APIKey: req.APIKey,
		DefaultModel: req.DefaultModel, Models: catalogOf(req.Models), Scope: req.Scope,
		WorkspaceID: req.WorkspaceID, OAuth: oauthInputOf(req.OAuth),
	})
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusCreated, providerSettingOf(v))
}

// GET /api/v1/settings/providers → 200 {data, default_provider_setting_id}.
func (s *Server) listProviderSettings(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Providers.ListProviderSettings(s.opCtx, p.UserID)
	if err != nil {
		return err
	}
	out := apitype.ProviderSettingList{Data: make([]apitype.ProviderSetting, len(list.Settings)), DefaultProviderSettingID: list.DefaultID}
	for i, v := range list.Settings {
		out.Data[i] = providerSettingOf(v)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/settings/providers/{id} → 200 setting.
func (s *Server) getProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	v, err := s.deps.Providers.GetProviderSetting(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, providerSettingOf(v))
}

// PATCH /api/v1/settings/providers/{id} → 200 setting.
func (s *Server) updateProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.UpdateProviderSettingRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	u := routing.ProviderSettingUpdate{
		Name: req.Name, BaseURL: req.BaseURL, APIKey: req.APIKey, DefaultModel: req.DefaultModel,
		OAuth: oauthInputOf(req.OAuth), Provider: req.Provider, Scope: req.Scope, WorkspaceID: req.WorkspaceID,
	}
	if req.Models != nil {
		models := catalogOf(*req.Models)
		u.Models = &models
	}
	v, err := s.deps.Providers.UpdateProviderSetting(s.opCtx, p.UserID, pathParam(ctx, "id"), u)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, providerSettingOf(v))
}

// DELETE /api/v1/settings/providers/{id} → 204.
func (s *Server) deleteProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	if err := s.deps.Providers.DeleteProviderSetting(s.opCtx, p.UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// PUT /api/v1/settings/providers/default {provider_setting_id} → 200
// {default_provider_setting_id}.
func (s *Server) setDefaultProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.DefaultProviderSettingRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	if err := s.deps.Providers.SetDefaultProviderSetting(s.opCtx, p.UserID, req.ProviderSettingID); err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.DefaultProviderSetting{DefaultProviderSettingID: req.ProviderSettingID})
}

// GET /api/v1/settings/providers/{id}/models → 200 {data, upstream_error?}.
func (s *Server) providerSettingModels(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Providers.ProviderSettingModels(s.opCtx, p.UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	out := apitype.ProviderModelList{Data: make([]apitype.ListedModel, len(list.Models)), UpstreamError: list.UpstreamError}
	for i, m := range list.Models {
		out.Data[i] = apitype.ListedModel{ProviderModel: providerModelOf(m.ProviderModel), Model: m.Model, Source: m.Source}
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// POST /api/v1/settings/providers/{id}/test {model?} → 200 {ok,
// latency_ms, model, error?}.
func (s *Server) testProviderSetting(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var req apitype.TestProviderSettingRequest
	if err := decodeJSONOrEmpty(ctx, &req); err != nil {
		return err
	}
	res, err := s.deps.Providers.TestProviderSetting(s.opCtx, p.UserID, pathParam(ctx, "id"), req.Model)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.ProviderTestResult{
		OK: res.OK, LatencyMS: res.Latency.Milliseconds(), Model: res.Model, Error: res.Error,
	})
}

// POST /api/v1/settings/providers/{id}/oauth/start → 200 {authorize_url,
// state}.
func (s *Server) startProviderOAuth(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	start, err := s.deps.Providers.StartProviderOAuth(s.opCtx, p.UserID, pathParam(ctx, "id"), callbackURL(ctx))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.OAuthStart{AuthorizeURL: start.AuthorizeURL, State: start.State})
}

// GET /api/v1/settings/providers/oauth/callback?code=&state= (public: the
// state is the credential) → 200 setting.
func (s *Server) providerOAuthCallback(ctx *fasthttp.RequestCtx) error {
	args := ctx.QueryArgs()
	v, err := s.deps.Providers.FinishProviderOAuth(s.opCtx, string(args.Peek("state")), string(args.Peek("code")), string(args.Peek("error")))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, providerSettingOf(v))
}

// callbackURL is the OAuth callback as the client reached this server:
// its Host, and https when the connection or a proxy's
// X-Forwarded-Proto says so. The Host header is the client's to write,
// so it names the callback only when it is a loopback host (localhost,
// 127.0.0.0/8, ::1), a server a browser on the same machine reaches;
// any other host gives "", and the setting or SESHAT_PUBLIC_URL must
// name the callback (else the start is a 400 saying so).
func callbackURL(ctx *fasthttp.RequestCtx) string {
	host := string(ctx.Host())
	if !loopbackHost(host) {
		return ""
	}
	scheme := "http"
	if ctx.IsTLS() || string(ctx.Request.Header.Peek("X-Forwarded-Proto")) == "https" {
		scheme = "https"
	}
	return scheme + "://" + host + oauthCallbackPath
}

// loopbackHost reports whether a Host header (with or without a port)
// names this machine: "localhost" or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Zone() == "" && addr.Unmap().IsLoopback()
}

func catalogOf(in []apitype.ProviderModel) []persist.ProviderModel {
	if in == nil {
		return nil
	}
	out := make([]persist.ProviderModel, len(in))
	for i, m := range in {
		out[i] = persist.ProviderModel{ID: m.ID, DisplayName: m.DisplayName, ContextWindow: m.ContextWindow,
			MaxOutputTokens: m.MaxOutputTokens, InputPricePerMTok: m.InputPricePerMTok, OutputPricePerMTok: m.OutputPricePerMTok}
	}
	return out
}

func oauthInputOf(o *apitype.ProviderOAuthRequest) *routing.OAuthInput {
	if o == nil {
		return nil
	}
	return &routing.OAuthInput{AuthorizeURL: o.AuthorizeURL, TokenURL: o.TokenURL, ClientID: o.ClientID,
		ClientSecret: o.ClientSecret, Scopes: o.Scopes, RedirectURL: o.RedirectURL}
}

func providerModelOf(m persist.ProviderModel) apitype.ProviderModel {
	return apitype.ProviderModel{ID: m.ID, DisplayName: m.DisplayName, ContextWindow: m.ContextWindow,
		MaxOutputTokens: m.MaxOutputTokens, InputPricePerMTok: m.InputPricePerMTok, OutputPricePerMTok: m.OutputPricePerMTok}
}

// providerSettingOf shows a setting; its credentials are never part of
// what it is given, so they cannot be shown.
func providerSettingOf(v routing.ProviderSettingView) apitype.ProviderSetting {
	ps := v.Setting
	out := apitype.ProviderSetting{
		ID: ps.ID, Name: ps.Name, Provider: ps.Provider, BaseURL: ps.BaseURL, DefaultModel: ps.DefaultModel,
		Models: make([]apitype.ProviderModel, len(ps.Models)), Scope: ps.Scope, WorkspaceID: ps.WorkspaceID,
		APIKeySet: ps.HasAPIKey, APIKeyHint: ps.APIKeyHint, IsDefault: v.IsDefault, CanManage: v.CanManage,
		CreatedAt: ps.CreatedAt.UTC(), UpdatedAt: ps.UpdatedAt.UTC(),
	}
	for i, m := range ps.Models {
		out.Models[i] = providerModelOf(m)
	}
	if o := ps.OAuth; o != nil {
		out.OAuth = &apitype.ProviderOAuth{
			AuthorizeURL: o.AuthorizeURL, TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecretSet: ps.HasClientSecret,
			Scopes: o.Scopes, RedirectURL: o.RedirectURL, Connected: ps.OAuthConnected,
		}
		if out.OAuth.Scopes == nil {
			out.OAuth.Scopes = []string{}
		}
		if !ps.OAuthExpiry.IsZero() {
			t := ps.OAuthExpiry.UTC().Truncate(time.Second)
			out.OAuth.ExpiresAt = &t
		}
	}
	return out
}
