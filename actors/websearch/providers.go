package websearch

import (
	"bytes"
	"context"
	"encoding/json"

	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// do sends req and decodes a 200 JSON answer into v. Other statuses are
// UpstreamErrors with a short message of our own: the provider's body is
// never echoed.
func (s *Service) do(req *http.Request, provider string, v any) error {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "seshat-host")
	resp, err := s.search.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return req.Context().Err()
		}
		return &agent.UpstreamError{Service: provider, Msg: "the search provider could not be reached"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderBody+1))
	if err != nil {
		if req.Context().Err() != nil {
			return req.Context().Err()
		}
		return &agent.UpstreamError{Service: provider, Msg: "the search provider's answer broke off"}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &agent.UpstreamError{Service: provider, Status: resp.StatusCode,
			Msg: "the search provider is throttling requests; try again later", RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case provider == ProviderSearXNG && resp.StatusCode == http.StatusForbidden:
		return &agent.UpstreamError{Service: provider, Status: resp.StatusCode,
			Msg: "SearXNG refused the JSON format: add json to search.formats in its settings.yml"}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &agent.UpstreamError{Service: provider, Status: resp.StatusCode, Msg: "the search provider refused the API key"}
	case resp.StatusCode != http.StatusOK:
		return &agent.UpstreamError{Service: provider, Status: resp.StatusCode, Msg: "the search provider failed"}
	case len(body) > maxProviderBody:
		return &agent.UpstreamError{Service: provider, Msg: "the search provider's answer is too large"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &agent.UpstreamError{Service: provider, Msg: "the search provider's answer is not the JSON expected"}
	}
	return nil
}

func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

// searxng: GET {base}/search?q=…&format=json. The instance must list json
// in search.formats, else it answers 403.
func (s *Service) searxng(ctx context.Context, set persist.WebSearchSettings, q string, n int) ([]Result, error) {
	v := url.Values{"q": {q}, "format": {"json"}, "pageno": {"1"}}
	switch set.SafeSearch {
	case "off":
		v.Set("safesearch", "0")
	case "strict":
		v.Set("safesearch", "2")
	default:
		v.Set("safesearch", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(set.BaseURL, "/")+"/search?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []struct {
			URL           string  `json:"url"`
			Title         string  `json:"title"`
			Content       string  `json:"content"`
			PublishedDate *string `json:"publishedDate"`
		} `json:"results"`
	}
	if err := s.do(req, ProviderSearXNG, &out); err != nil {
		return nil, err
	}
	res := make([]Result, 0, len(out.Results))
	for _, r := range out.Results {
		res = append(res, Result{Title: r.Title, URL: r.URL, Snippet: r.Content, PublishedAt: normDate(deref(r.PublishedDate))})
	}
	return res, nil
}

// brave: GET {base}/res/v1/web/search?q=…&count=… with
// X-Subscription-Token.
func (s *Service) brave(ctx context.Context, set persist.WebSearchSettings, key persist.Secret, q string, n int) ([]Result, error) {
	base := set.BaseURL
	if base == "" {
		base = BraveURL
	}
	safe := set.SafeSearch
	if safe == "" {
		safe = "moderate"
	}
	v := url.Values{"q": {q}, "count": {strconv.Itoa(n)}, "safesearch": {safe}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/res/v1/web/search?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Subscription-Token", string(key))
	var out struct {
		Web struct {
			Results []struct {
				Title       string `json:"title"`
				URL         string `json:"url"`
				Description string `json:"description"`
				PageAge     string `json:"page_age"`
				Age         string `json:"age"`
			} `json:"results"`
		} `json:"web"`
	}
	if err := s.do(req, ProviderBrave, &out); err != nil {
		return nil, err
	}
	res := make([]Result, 0, len(out.Web.Results))
	for _, r := range out.Web.Results {
		res = append(res, Result{Title: stripTags(r.Title), URL: r.URL, Snippet: stripTags(r.Description), PublishedAt: normDate(r.PageAge)})
	}
	return res, nil
}

// tavily: POST {base}/search with a JSON body and a bearer API key.
func (s *Service) tavily(ctx context.Context, set persist.WebSearchSettings, key persist.Secret, q string, n int, f filter) ([]Result, error) {
	base := set.BaseURL
	if base == "" {
		base = TavilyURL
	}
	body, err := json.Marshal(map[string]any{
		"query": q, "max_results": n, "search_depth": "basic",
		"include_domains": nonNil(f.allow), "exclude_domains": nonNil(f.block),
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/search", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(key))
	var out struct {
		Results []struct {
			Title         string `json:"title"`
			URL           string `json:"url"`
			Content       string `json:"content"`
			PublishedDate string `json:"published_date"`
		} `json:"results"`
	}
	if err := s.do(req, ProviderTavily, &out); err != nil {
		return nil, err
	}
	res := make([]Result, 0, len(out.Results))
	for _, r := range out.Results {
		res = append(res, Result{Title: r.Title, URL: r.URL, Snippet: r.Content, PublishedAt: normDate(r.PublishedDate)})
	}
	return res, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// normDate turns a provider's date into RFC 3339 (UTC) when it parses,
// else keeps it as given; empty stays empty.
func normDate(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", time.RFC1123, time.RFC1123Z} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return s
}

// stripTags removes the <strong> marks Brave puts around matches.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
