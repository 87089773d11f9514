package apitype

import "time"

// ProviderModel is one model of a provider setting's catalog. Prices are
// per million tokens; zero fields are unknown and left out.
type ProviderModel struct {
	ID                 string  `json:"id"`
	DisplayName        string  `json:"display_name,omitempty"`
	ContextWindow      int     `json:"context_window,omitempty"`
	MaxOutputTokens    int     `json:"max_output_tokens,omitempty"`
	InputPricePerMTok  float64 `json:"input_price_per_mtok,omitempty"`
	OutputPricePerMTok float64 `json:"output_price_per_mtok,omitempty"`
}

// ProviderOAuthRequest is the OAuth 2.0 client of a provider setting, as a
// request gives it. ClientSecret is write-only: omitted keeps the stored
// one, "" removes it. In a PATCH, an object with no field set removes
// OAuth from the setting.
type ProviderOAuthRequest struct {
	AuthorizeURL string   `json:"authorize_url"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret *string  `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	RedirectURL  string   `json:"redirect_url,omitempty"`
}

// CreateProviderSettingRequest is the body of POST
// /api/v1/settings/providers. APIKey is write-only.
type CreateProviderSettingRequest struct {
	Name string `json:"name"`
	// Provider is "anthropic", "openai" or "mock".
	Provider     string                `json:"provider"`
	BaseURL      string                `json:"base_url,omitempty"`
	APIKey       string                `json:"api_key,omitempty"`
	DefaultModel string                `json:"default_model,omitempty"`
	Models       []ProviderModel       `json:"models,omitempty"`
	WorkspaceID  string                `json:"workspace_id,omitempty"`
	Scope        string                `json:"scope,omitempty"`
	OAuth        *ProviderOAuthRequest `json:"oauth,omitempty"`
}

// UpdateProviderSettingRequest is the body of PATCH
// /api/v1/settings/providers/{id}: the fields present change. APIKey ""
// removes the key. Provider, Scope and WorkspaceID cannot change and are
// accepted only with the setting's own values.
type UpdateProviderSettingRequest struct {
	Name         *string               `json:"name,omitempty"`
	BaseURL      *string               `json:"base_url,omitempty"`
	APIKey       *string               `json:"api_key,omitempty"`
	DefaultModel *string               `json:"default_model,omitempty"`
	Models       *[]ProviderModel      `json:"models,omitempty"`
	OAuth        *ProviderOAuthRequest `json:"oauth,omitempty"`
	Provider     *string               `json:"provider,omitempty"`
	Scope        *string               `json:"scope,omitempty"`
	WorkspaceID  *string               `json:"workspace_id,omitempty"`
}

// ProviderOAuth is a setting's OAuth client and connection as the API
// shows them; no secret or token is ever shown.
type ProviderOAuth struct {
	AuthorizeURL    string   `json:"authorize_url"`
	TokenURL        string   `json:"token_url"`
	ClientID        string   `json:"client_id"`
	ClientSecretSet bool     `json:"client_secret_set"`
	Scopes          []string `json:"scopes"`
	RedirectURL     string   `json:"redirect_url,omitempty"`
	// Connected tells whether the authorization completed; ExpiresAt is
	// when the current access token expires (renewed automatically).
	Connected bool       `json:"connected"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ProviderSetting is a provider setting as the API shows it. The API key
// never appears: APIKeySet tells whether there is one and APIKeyHint shows
// its last 4 characters ("…wxyz").
type ProviderSetting struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Provider     string          `json:"provider"`
	BaseURL      string          `json:"base_url"`
	DefaultModel string          `json:"default_model"`
	Models       []ProviderModel `json:"models"`
	Scope        string          `json:"scope"`
	WorkspaceID  string          `json:"workspace_id,omitempty"`
	APIKeySet    bool            `json:"api_key_set"`
	APIKeyHint   string          `json:"api_key_hint,omitempty"`
	OAuth        *ProviderOAuth  `json:"oauth,omitempty"`
	// IsDefault tells whether it is the caller's default setting and
	// CanManage whether the caller may change or delete it.
	IsDefault bool      `json:"is_default"`
	CanManage bool      `json:"can_manage"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ProviderSettingList is the body of GET /api/v1/settings/providers: the
// settings the caller may use, in the order models resolve through them
// (own, workspace, server), and the caller's default.
type ProviderSettingList struct {
	Data                     []ProviderSetting `json:"data"`
	DefaultProviderSettingID string            `json:"default_provider_setting_id"`
}

// DefaultProviderSettingRequest is the body of PUT
// /api/v1/settings/providers/default; an empty id clears the default.
type DefaultProviderSettingRequest struct {
	ProviderSettingID string `json:"provider_setting_id"`
}

// DefaultProviderSetting answers PUT /api/v1/settings/providers/default.
type DefaultProviderSetting struct {
	DefaultProviderSettingID string `json:"default_provider_setting_id"`
}

// ListedModel is one model of GET /api/v1/settings/providers/{id}/models.
// Model is the id to use in a query ("provider:id"); Source is "catalog",
// "upstream" or "both".
type ListedModel struct {
	ProviderModel
	Model  string `json:"model"`
	Source string `json:"source"`
}

// ProviderModelList is the body of GET
// /api/v1/settings/providers/{id}/models. UpstreamError, when set, says
// why the upstream's own list is missing.
type ProviderModelList struct {
	Data          []ListedModel `json:"data"`
	UpstreamError string        `json:"upstream_error,omitempty"`
}

// TestProviderSettingRequest is the optional body of POST
// /api/v1/settings/providers/{id}/test.
type TestProviderSettingRequest struct {
	Model string `json:"model,omitempty"`
}

// ProviderTestResult answers POST /api/v1/settings/providers/{id}/test.
type ProviderTestResult struct {
	OK        bool   `json:"ok"`
	LatencyMS int64  `json:"latency_ms"`
	Model     string `json:"model"`
	Error     string `json:"error,omitempty"`
}

// OAuthStart answers POST /api/v1/settings/providers/{id}/oauth/start:
// send the user to AuthorizeURL.
type OAuthStart struct {
	AuthorizeURL string `json:"authorize_url"`
	State        string `json:"state"`
}
