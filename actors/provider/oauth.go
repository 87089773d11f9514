package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// OAuthConfig is an OAuth 2.0 client of an authorization server, for
// upstreams that take a Bearer access token instead of an API key: the
// authorization code flow with PKCE (S256), and refreshing the tokens it
// yields.
type OAuthConfig struct {
	// AuthorizeURL and TokenURL are the server's endpoints (required).
	AuthorizeURL string
	TokenURL     string
	// ClientID identifies the client (required).
	ClientID string
	// ClientSecret authenticates a confidential client. If empty, the
	// client is public and PKCE alone protects the exchange.
	ClientSecret string
	// Scopes are requested at authorization. If nil, none.
	Scopes []string
	// RedirectURL is the redirect URI sent with the authorization request
	// and the exchange; they must match.
	RedirectURL string
	// HTTPClient makes the token requests. If nil, a client with a 30s
	// timeout.
	HTTPClient *http.Client
}

// oauthTimeout bounds a token request when OAuthConfig.HTTPClient is nil.
const oauthTimeout = 30 * time.Second

// ErrOAuthNoRefresh is returned by a TokenSource whose access token has
// expired when there is no refresh token to renew it with: the user must
// authorize again.
var ErrOAuthNoRefresh = errors.New("oauth: access token expired and there is no refresh token")

func (c OAuthConfig) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: c.AuthorizeURL, TokenURL: c.TokenURL},
		RedirectURL:  c.RedirectURL,
		Scopes:       c.Scopes,
	}
}

// withClient returns ctx carrying the HTTP client token requests use.
func (c OAuthConfig) withClient(ctx context.Context) context.Context {
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: oauthTimeout}
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// NewOAuthVerifier returns a fresh PKCE code verifier (32 random bytes,
// base64url), to keep server-side until the exchange.
func NewOAuthVerifier() string { return oauth2.GenerateVerifier() }

// AuthCodeURL returns the URL to send the user to: the authorization
// endpoint with the client, redirect URI, scopes, state and the S256
// challenge of verifier.
func (c OAuthConfig) AuthCodeURL(state, verifier string) string {
	return c.config().AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// Exchange trades an authorization code for a token, proving with verifier
// that this client started the flow.
func (c OAuthConfig) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	return c.config().Exchange(c.withClient(ctx), code, oauth2.VerifierOption(verifier))
}

// TokenSource returns a TokenSource that serves tok until it is about to
// expire (earlyRefresh before its expiry; a token without an expiry is
// served forever) and then renews it with the refresh token, calling saved
// with every renewed token before handing it out, so that the caller can
// persist it (a rotated refresh token is the only one that works next).
// Renewals are serialized. A failed renewal fails the call that needed it
// and is tried again on the next one. saved may be nil.
func (c OAuthConfig) TokenSource(tok *oauth2.Token, earlyRefresh time.Duration, saved func(*oauth2.Token)) oauth2.TokenSource {
	r := &refresher{conf: c.config(), ctx: c.withClient(context.Background()), saved: saved}
	if tok != nil {
		r.refreshToken = tok.RefreshToken
	}
	return oauth2.ReuseTokenSourceWithExpiry(tok, r, earlyRefresh)
}

// refresher renews a token with its refresh token. Its Token is only
// called by the ReuseTokenSource around it, which serializes the calls, so
// refreshToken needs no lock.
type refresher struct {
	conf         *oauth2.Config
	ctx          context.Context
	saved        func(*oauth2.Token)
	refreshToken string
}

// Token implements oauth2.TokenSource.
func (r *refresher) Token() (*oauth2.Token, error) {
	if r.refreshToken == "" {
		return nil, ErrOAuthNoRefresh
	}
	// A source made of a token with only a refresh token renews at once.
	tok, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: r.refreshToken}).Token()
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" {
		r.refreshToken = tok.RefreshToken
	}
	if r.saved != nil {
		r.saved(tok)
	}
	return tok, nil
}

// BearerClient returns a client that makes base's requests (base's
// transport and timeout; if nil, http.DefaultClient's) with an
// "Authorization: Bearer" header from ts, replacing any the request had.
// A token that cannot be had fails the request.
func BearerClient(base *http.Client, ts oauth2.TokenSource) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	return &http.Client{
		Transport:     &oauth2.Transport{Source: ts, Base: base.Transport},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
		Timeout:       base.Timeout,
	}
}
