package websearch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/websearch"
	"github.com/seshat-host/seshat/persist"
)

func newService(t testing.TB, mod func(*websearch.Config)) *websearch.Service {
	t.Helper()
	st, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true, MasterKey: bytes.Repeat([]byte{3}, persist.MasterKeyBytes)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	cfg := websearch.Config{Store: st}
	if mod != nil {
		mod(&cfg)
	}
	s, err := websearch.New(cfg)
	require.NoError(t, err)
	return s
}

func ptr[T any](v T) *T { return &v }

// searxng answers as a SearXNG instance does; jsonOff makes it answer 403
// as one whose settings.yml lacks the json format.
func searxng(t *testing.T, jsonOff *atomic.Bool, calls *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		require.Equal(t, "/search", r.URL.Path)
		require.Equal(t, "json", r.URL.Query().Get("format"))
		if jsonOff.Load() {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, "<html><body>403 Forbidden</body></html>")
			return
		}
		q := r.URL.Query().Get("q")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"number_of_results":0,"results":[
			{"url":"https://go.dev/doc/","title":"Go docs","content":"About %s","engine":"duckduckgo","publishedDate":null},
			{"url":"https://blocked.example.org/a","title":"Blocked","content":"no","engine":"bing","publishedDate":"2024-03-01T10:00:00"},
			{"url":"https://pkg.go.dev/net/http","title":"net/http","content":"package http","engine":"google","publishedDate":"2025-01-02T03:04:05Z"}
		],"answers":[],"corrections":[],"infoboxes":[],"suggestions":[],"unresponsive_engines":[]}`, q, q)
	}))
}

func TestSearXNGNormalisesFiltersCachesAndReports403(t *testing.T) {
	var jsonOff atomic.Bool
	var calls atomic.Int64
	srv := searxng(t, &jsonOff, &calls)
	defer srv.Close()
	s := newService(t, nil)
	ctx := t.Context()

	_, err := s.Search(ctx, websearch.Query{Query: "go"})
	require.ErrorIs(t, err, agent.ErrWebSearchDisabled)

	_, err = s.Put(ctx, websearch.Update{Provider: "searxng", BaseURL: ptr(srv.URL + "/"), BlockedDomains: ptr([]string{"Blocked.Example.org"})})
	require.NoError(t, err)

	resp, err := s.Search(ctx, websearch.Query{Query: "golang"})
	require.NoError(t, err)
	require.Equal(t, "searxng", resp.Provider)
	require.Equal(t, []websearch.Result{
		{Title: "Go docs", URL: "https://go.dev/doc/", Snippet: "About golang"},
		{Title: "net/http", URL: "https://pkg.go.dev/net/http", Snippet: "package http", PublishedAt: "2025-01-02T03:04:05Z"},
	}, resp.Results)

	again, err := s.Search(ctx, websearch.Query{Query: "golang"})
	require.NoError(t, err)
	require.True(t, again.Cached)
	require.Equal(t, resp.Results, again.Results)
	require.EqualValues(t, 1, calls.Load())

	only, err := s.Search(ctx, websearch.Query{Query: "golang", AllowedDomains: []string{"pkg.go.dev"}})
	require.NoError(t, err)
	require.Len(t, only.Results, 1)
	require.Equal(t, "https://pkg.go.dev/net/http", only.Results[0].URL)

	_, err = s.Search(ctx, websearch.Query{Query: "x", AllowedDomains: []string{"a"}, BlockedDomains: []string{"b"}})
	require.ErrorIs(t, err, agent.ErrInvalid)

	jsonOff.Store(true)
	_, err = s.Test(ctx)
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, http.StatusForbidden, ue.Status)
	require.Contains(t, ue.Msg, "search.formats")
	require.NotContains(t, err.Error(), "<html>", "the provider's body is not echoed")
}

func TestBraveSendsTokenAndThrottlingFailsFast(t *testing.T) {
	var calls atomic.Int64
	var throttle atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		require.Equal(t, "/res/v1/web/search", r.URL.Path)
		require.Equal(t, "brave-key", r.Header.Get("X-Subscription-Token"))
		require.Equal(t, "3", r.URL.Query().Get("count"))
		if throttle.Load() {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"type":"ErrorResponse","error":{"code":"RATE_LIMITED","status":429}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"search","query":{"original":"q"},"web":{"type":"search","results":[
			{"title":"The <strong>Go</strong> Blog","url":"https://go.dev/blog","description":"News about <strong>Go</strong>","page_age":"2024-05-06T07:08:09","age":"May 6, 2024"}]}}`)
	}))
	defer srv.Close()
	s := newService(t, func(c *websearch.Config) { c.CacheTTL = -1 })
	ctx := t.Context()
	_, err := s.Put(ctx, websearch.Update{Provider: "brave"})
	require.ErrorIs(t, err, agent.ErrInvalid, "brave needs a key")
	_, err = s.Put(ctx, websearch.Update{Provider: "brave", BaseURL: ptr(srv.URL), APIKey: ptr("brave-key"), MaxResults: ptr(3)})
	require.NoError(t, err)

	resp, err := s.Search(ctx, websearch.Query{Query: "go"})
	require.NoError(t, err)
	require.Equal(t, []websearch.Result{{Title: "The Go Blog", URL: "https://go.dev/blog", Snippet: "News about Go", PublishedAt: "2024-05-06T07:08:09Z"}}, resp.Results)

	throttle.Store(true)
	_, err = s.Search(ctx, websearch.Query{Query: "go"})
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.True(t, ue.Throttled())
	require.NotContains(t, err.Error(), "RATE_LIMITED")
	before := calls.Load()
	_, err = s.Search(ctx, websearch.Query{Query: "go again"})
	require.ErrorAs(t, err, &ue)
	require.Positive(t, ue.RetryAfter)
	require.Equal(t, before, calls.Load(), "a throttled provider is not asked again before its Retry-After")

	_, err = s.Put(ctx, websearch.Update{Provider: "brave", BaseURL: ptr("https://elsewhere.example")})
	require.ErrorIs(t, err, agent.ErrSecretRequired, "the key does not follow a new URL")
}

func TestTavilyPostsJSONAndLimiterRefuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "/search", r.URL.Path)
		require.Equal(t, "Bearer tvly-key", r.Header.Get("Authorization"))
		var body struct {
			Query          string   `json:"query"`
			MaxResults     int      `json:"max_results"`
			IncludeDomains []string `json:"include_domains"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		require.Equal(t, []string{"example.com"}, body.IncludeDomains)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"follow_up_questions":null,"answer":null,"images":[],"results":[
			{"title":"Example","url":"https://www.example.com/","content":"An example","score":0.9,"raw_content":null,"published_date":"Mon, 02 Jan 2006 15:04:05 GMT"},
			{"title":"Other","url":"https://other.net/","content":"filtered","score":0.5}],"response_time":0.42}`, body.Query)
	}))
	defer srv.Close()
	s := newService(t, func(c *websearch.Config) { c.CacheTTL, c.RatePerSecond, c.Burst = -1, 0.001, 2 })
	ctx := t.Context()
	_, err := s.Put(ctx, websearch.Update{Provider: "tavily", BaseURL: ptr(srv.URL), APIKey: ptr("tvly-key"), AllowedDomains: ptr([]string{"example.com"})})
	require.NoError(t, err)
	resp, err := s.Search(ctx, websearch.Query{Query: "example"})
	require.NoError(t, err)
	require.Equal(t, []websearch.Result{{Title: "Example", URL: "https://www.example.com/", Snippet: "An example", PublishedAt: "2006-01-02T15:04:05Z"}}, resp.Results)
	_, err = s.Search(ctx, websearch.Query{Query: "example 2"})
	require.NoError(t, err)
	_, err = s.Search(ctx, websearch.Query{Query: "example 3"})
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue, "the third call within the burst is refused, not queued")
	require.True(t, ue.Throttled())
}

func TestFetchConvertsFencesAndCaps(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, `<html><head><title>T</title></head><body><h1>Hello</h1><p>A <a href="https://go.dev">link</a>.</p></body></html>`)
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, strings.Repeat("x", 5000))
		case "/bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write([]byte{0, 1, 2})
		case "/loop":
			http.Redirect(w, r, srv.URL+"/loop", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	fenced := newService(t, nil)
	_, err := fenced.Fetch(t.Context(), srv.URL+"/page")
	require.ErrorIs(t, err, agent.ErrInvalid, "loopback is fenced")
	_, err = fenced.Fetch(t.Context(), "file:///etc/passwd")
	require.ErrorIs(t, err, agent.ErrInvalid)

	s := newService(t, func(c *websearch.Config) { c.AllowPrivate, c.FetchMaxBytes = true, 1000 })
	p, err := s.Fetch(t.Context(), srv.URL+"/page")
	require.NoError(t, err)
	require.Contains(t, p.Text, "# Hello")
	require.Contains(t, p.Text, "[link](https://go.dev)")

	p, err = s.Fetch(t.Context(), srv.URL+"/big")
	require.NoError(t, err)
	require.True(t, p.Truncated)
	require.Len(t, p.Text, 1000)

	_, err = s.Fetch(t.Context(), srv.URL+"/bin")
	var ue *agent.UpstreamError
	require.ErrorAs(t, err, &ue)
	_, err = s.Fetch(t.Context(), srv.URL+"/loop")
	require.ErrorAs(t, err, &ue, "redirects are capped")
	_, err = s.Fetch(t.Context(), srv.URL+"/missing")
	require.ErrorAs(t, err, &ue)
	require.Equal(t, http.StatusNotFound, ue.Status)

	out, err := s.FetchTool().Run(t.Context(), tool.Call{Input: json.RawMessage(fmt.Sprintf(`{"url":%q}`, srv.URL+"/page")), Progress: func(string) {}})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "URL: "+srv.URL+"/page"))
	require.True(t, s.FetchTool().NeedsApproval())
	require.False(t, s.SearchTool().NeedsApproval())
}
