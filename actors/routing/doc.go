// Package routing is provider settings and model selection: the named
// upstreams a user, a workspace or the server keeps (Anthropic,
// OpenAI-compatible or the mock; a base URL, credentials sealed in the
// store, a model catalog, an optional OAuth client), which of them serves
// a "provider:model" id for a user, and the models a user can list.
//
// Service implements provider.Selector (the host runs every turn's model
// calls through it) and provider.Lister, and serves the settings API:
// create, list, change and delete settings, a user's default setting,
// connection tests, model listings merged with what the upstream
// reports, and the OAuth authorization code flow with token refresh.
// Who may use or manage a workspace's settings is asked of
// tenancy.Access. Upstream calls use one HTTP client
// (provider.NewHTTPClient unless Config.HTTPClient is set); each setting's
// provider client is cached by setting version (an LRU of
// Config.CacheSize).
//
// Imports actors/{agent,provider,tenancy}, persist, golang.org/x/oauth2 and
// the Prometheus client; never protoactor, the actor packages or http/.
package routing
