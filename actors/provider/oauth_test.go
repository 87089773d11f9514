package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// authServer is an OAuth 2.0 authorization server: codes bound to a PKCE
// challenge, access tokens that expire after expiresIn seconds, and
// refresh tokens that rotate on every use.
type authServer struct {
	srv       *httptest.Server
	expiresIn int

	mu sync.Mutex
	// Guarded by mu.
	codes     map[string]string // code -> S256 challenge
	refresh   map[string]bool   // refresh tokens still valid
	access    map[string]bool   // access tokens issued
	n         int
	refreshes int
}

func startAuthServer(t testing.TB, expiresIn int) *authServer {
	t.Helper()
	a := &authServer{expiresIn: expiresIn, codes: map[string]string{}, refresh: map[string]bool{}, access: map[string]bool{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.token))
	t.Cleanup(a.srv.Close)
	return a
}

// approve plays the user who approves the authorization request at
// authURL: it returns the code the redirect would carry, after checking
// the request.
func (a *authServer) approve(t testing.TB, authURL, wantState string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, wantState, q.Get("state"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.NotEmpty(t, q.Get("code_challenge"))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	code := fmt.Sprintf("code%d", a.n)
	a.codes[code] = q.Get("code_challenge")
	return code
}

func (a *authServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	fail := func(code string) {
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if id != "client" || secret != "shh" {
		fail("invalid_client")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		challenge, ok := a.codes[r.PostForm.Get("code")]
		delete(a.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			fail("invalid_grant")
			return
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !a.refresh[rt] {
			fail("invalid_grant")
			return
		}
		delete(a.refresh, rt) // rotation: a refresh token works once
		a.refreshes++
	default:
		fail("unsupported_grant_type")
		return
	}
	a.n++
	at, rt := fmt.Sprintf("at%d", a.n), fmt.Sprintf("rt%d", a.n)
	a.access[at], a.refresh[rt] = true, true
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "refresh_token": rt, "expires_in": a.expiresIn,
	})
}

func (a *authServer) config() OAuthConfig {
	return OAuthConfig{
		AuthorizeURL: a.srv.URL + "/authorize", TokenURL: a.srv.URL + "/token",
		ClientID: "client", ClientSecret: "shh", Scopes: []string{"inference"},
		RedirectURL: "http://seshat.example/callback", HTTPClient: a.srv.Client(),
	}
}

func (a *authServer) refreshCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshes
}

func TestOAuthCodeFlowWithPKCE(t *testing.T) {
	a := startAuthServer(t, 3600)
	cfg := a.config()
	verifier := NewOAuthVerifier()
	authURL := cfg.AuthCodeURL("state1", verifier)
	require.True(t, strings.HasPrefix(authURL, a.srv.URL+"/authorize?"))
	q, err := url.ParseQuery(authURL[strings.IndexByte(authURL, '?')+1:])
	require.NoError(t, err)
	require.Equal(t, "client", q.Get("client_id"))
	require.Equal(t, "http://seshat.example/callback", q.Get("redirect_uri"))
	require.Equal(t, "inference", q.Get("scope"))
	require.NotContains(t, authURL, verifier, "only the challenge leaves the server")

	// Another verifier than the one the challenge was made of fails.
	code := a.approve(t, authURL, "state1")
	_, err = cfg.Exchange(t.Context(), code, NewOAuthVerifier())
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "invalid_grant", re.ErrorCode)

	code = a.approve(t, authURL, "state1")
	tok, err := cfg.Exchange(t.Context(), code, verifier)
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
}

func TestOAuthTokenSourceRefreshesBeforeExpiryAndSaves(t *testing.T) {
	// Tokens live 30s and are renewed a minute before they expire, so
	// every token is due for renewal as soon as it is handed out.
	a := startAuthServer(t, 30)
	cfg := a.config()
	verifier := NewOAuthVerifier()
	code := a.approve(t, cfg.AuthCodeURL("s", verifier), "s")
	first, err := cfg.Exchange(t.Context(), code, verifier)
	require.NoError(t, err)

	// The upstream accepts only tokens the server issued.
	var seen []string
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		valid := ok && a.access[at]
		a.mu.Unlock()
		mu.Lock()
		seen = append(seen, at)
		mu.Unlock()
		if !valid || r.Header.Get("x-api-key") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(up.Close)

	var saved []*oauth2.Token
	ts := cfg.TokenSource(first, time.Minute, func(tok *oauth2.Token) { saved = append(saved, tok) })
	client := BearerClient(up.Client(), ts)
	for range 2 {
		resp, err := client.Get(up.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	require.Equal(t, 2, a.refreshCount(), "each call found its token due and renewed it")
	require.Len(t, saved, 2)
	require.NotEqual(t, first.RefreshToken, saved[0].RefreshToken, "the rotated refresh token is saved")
	require.Equal(t, []string{saved[0].AccessToken, saved[1].AccessToken}, seen)

	// A token far from expiry is served as it is.
	long := cfg.TokenSource(&oauth2.Token{AccessToken: saved[1].AccessToken, RefreshToken: saved[1].RefreshToken,
		Expiry: time.Now().Add(time.Hour)}, time.Minute, nil)
	tok, err := long.Token()
	require.NoError(t, err)
	require.Equal(t, saved[1].AccessToken, tok.AccessToken)
	require.Equal(t, 2, a.refreshCount())

	// A used refresh token no longer works: the failure reaches the call.
	stale := cfg.TokenSource(&oauth2.Token{AccessToken: "old", RefreshToken: first.RefreshToken, Expiry: time.Now()}, time.Minute, nil)
	_, err = BearerClient(up.Client(), stale).Get(up.URL)
	require.ErrorContains(t, err, "invalid_grant")

	// Without a refresh token an expired token cannot be renewed.
	none := cfg.TokenSource(&oauth2.Token{AccessToken: "old", Expiry: time.Now()}, time.Minute, nil)
	_, err = none.Token()
	require.ErrorIs(t, err, ErrOAuthNoRefresh)
}

func TestOAuthBearerReachesProviderCalls(t *testing.T) {
	u := startUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) { replaySSE(t, w, "openai/tool_calls.sse") })
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-static"})
	p := NewOpenAI(OpenAIConfig{BaseURL: u.srv.URL + "/v1", HTTPClient: BearerClient(u.srv.Client(), ts)})
	_, _, err := collect(t.Context(), p, openaiRequest())
	require.NoError(t, err)
	calls := u.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, "Bearer at-static", calls[0].Header.Get("Authorization"))

	a := NewAnthropic(AnthropicConfig{BaseURL: u.srv.URL, HTTPClient: BearerClient(u.srv.Client(), ts), MaxRetries: -1})
	_, _, _ = collect(t.Context(), a, anthropicRequest())
	calls = u.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, "Bearer at-static", calls[1].Header.Get("Authorization"))
	require.Empty(t, calls[1].Header.Get("x-api-key"))
}
