package websearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// Providers.
const (
	ProviderDisabled = "disabled"
	ProviderSearXNG  = "searxng"
	ProviderBrave    = "brave"
	ProviderTavily   = "tavily"
)

// Vendor URLs used when a setting has no base_url.
const (
	BraveURL  = "https://api.search.brave.com"
	TavilyURL = "https://api.tavily.com"
)

// Limits.
const (
	MaxResults        = 20
	DefaultMaxResults = 5
	DefaultTimeout    = 10 * time.Second
	maxDomains        = 100
	maxQueryBytes     = 2000
	maxProviderBody   = 4 << 20
)

// Config configures a Service.
type Config struct {
	// Store holds the settings. Required.
	Store *persist.Store
	// AllowPrivate lets web_fetch reach private and local addresses (the
	// operator's SESHAT_ALLOW_PRIVATE_UPSTREAMS).
	AllowPrivate bool
	// CacheTTL is how long a search result is reused; 0 means 5 minutes,
	// negative turns the cache off.
	CacheTTL time.Duration
	// CacheEntries bounds the cache; 0 means 512.
	CacheEntries int
	// RatePerSecond and Burst bound the calls to each provider; 0 means 2
	// per second with a burst of 10.
	RatePerSecond float64
	Burst         int
	// FetchMaxBytes caps a fetched page; 0 means 1 MiB.
	FetchMaxBytes int64
	// FetchTimeout bounds a fetch; 0 means 20s.
	FetchTimeout time.Duration
}

// Result is one normalised search result.
type Result struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	Snippet     string `json:"snippet"`
	PublishedAt string `json:"published_at,omitempty"`
}

// Query is one search.
type Query struct {
	Query      string
	MaxResults int
	// AllowedDomains and BlockedDomains narrow the settings' lists; at
	// most one of them may be set.
	AllowedDomains, BlockedDomains []string
}

// Response is a search's answer.
type Response struct {
	Query    string
	Provider string
	Results  []Result
	Took     time.Duration
	Cached   bool
}

// Service runs searches and fetches.
type Service struct {
	cfg    Config
	search *http.Client
	fetch  *http.Client

	mu       sync.Mutex
	cache    map[string]cacheEntry
	limiters map[string]*rate.Limiter
	// throttledUntil is when a provider that answered 429 may be asked
	// again.
	throttledUntil map[string]time.Time

	hits, misses atomic.Int64
}

type cacheEntry struct {
	resp    Response
	expires time.Time
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("websearch: Store is required")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 512
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = 2
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 1 << 20
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 20 * time.Second
	}
	return &Service{
		cfg: cfg,
		// The provider URL is a server admin's choice: not fenced.
		search:         egress.NewClient(egress.Policy{AllowPrivate: true, MaxRedirects: 3}),
		fetch:          egress.NewClient(egress.Policy{AllowPrivate: cfg.AllowPrivate, MaxRedirects: 5, Timeout: cfg.FetchTimeout}),
		cache:          map[string]cacheEntry{},
		limiters:       map[string]*rate.Limiter{},
		throttledUntil: map[string]time.Time{},
	}, nil
}

// CacheStats returns the cache's hits and misses since start.
func (s *Service) CacheStats() (hits, misses int64) { return s.hits.Load(), s.misses.Load() }

// Settings returns the settings and the API key.
func (s *Service) Settings() (persist.WebSearchSettings, persist.Secret, error) {
	set, key, err := s.cfg.Store.WebSearch()
	if set.Provider == "" {
		set.Provider = ProviderDisabled
	}
	if set.MaxResults == 0 {
		set.MaxResults = DefaultMaxResults
	}
	return set, key, err
}

// Enabled reports whether a provider is configured.
func (s *Service) Enabled() bool {
	set, _, err := s.Settings()
	return err == nil && set.Provider != ProviderDisabled
}

// Update is a change of the settings; nil fields keep their value.
type Update struct {
	Provider       string
	BaseURL        *string
	APIKey         *string
	MaxResults     *int
	SafeSearch     *string
	AllowedDomains *[]string
	BlockedDomains *[]string
	Timeout        *string
}

// Put validates and stores a change of the settings.
func (s *Service) Put(ctx context.Context, u Update) (persist.WebSearchSettings, error) {
	return s.cfg.Store.UpdateWebSearch(ctx, func(w *persist.WebSearchSettings, key *persist.Secret) error {
		old := *w
		if u.Provider != "" {
			w.Provider = u.Provider
		}
		if u.BaseURL != nil {
			w.BaseURL = strings.TrimRight(*u.BaseURL, "/")
		}
		if u.APIKey != nil {
			*key = persist.Secret(*u.APIKey)
		}
		if u.MaxResults != nil {
			w.MaxResults = *u.MaxResults
		}
		if u.SafeSearch != nil {
			w.SafeSearch = *u.SafeSearch
		}
		if u.AllowedDomains != nil {
			w.AllowedDomains = normDomains(*u.AllowedDomains)
		}
		if u.BlockedDomains != nil {
			w.BlockedDomains = normDomains(*u.BlockedDomains)
		}
		if u.Timeout != nil {
			w.Timeout = *u.Timeout
		}
		// A key follows its destination: a new provider or URL without a
		// new key drops the old one.
		if u.APIKey == nil && (w.Provider != old.Provider || w.BaseURL != old.BaseURL) && *key != "" {
			return fmt.Errorf("%w: changing the provider or base_url needs the api_key again", agent.ErrSecretRequired)
		}
		return validate(*w, *key)
	})
}

func validate(w persist.WebSearchSettings, key persist.Secret) error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", agent.ErrInvalid, msg) }
	switch w.Provider {
	case "", ProviderDisabled:
	case ProviderSearXNG:
		if w.BaseURL == "" {
			return bad("searxng needs a base_url")
		}
	case ProviderBrave, ProviderTavily:
		if key == "" {
			return bad(w.Provider + " needs an api_key")
		}
	default:
		return bad("provider must be disabled, searxng, brave or tavily")
	}
	if w.BaseURL != "" {
		u, err := url.Parse(w.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return bad("base_url must be an http or https URL without user info")
		}
	}
	if w.MaxResults < 0 || w.MaxResults > MaxResults {
		return bad(fmt.Sprintf("max_results must be 1 to %d", MaxResults))
	}
	switch w.SafeSearch {
	case "", "off", "moderate", "strict":
	default:
		return bad("safesearch must be off, moderate or strict")
	}
	if len(w.AllowedDomains) > 0 && len(w.BlockedDomains) > 0 {
		return bad("set allowed_domains or blocked_domains, not both")
	}
	if len(w.AllowedDomains) > maxDomains || len(w.BlockedDomains) > maxDomains {
		return bad(fmt.Sprintf("at most %d domains", maxDomains))
	}
	if w.Timeout != "" {
		d, err := time.ParseDuration(w.Timeout)
		if err != nil || d <= 0 || d > 2*time.Minute {
			return bad("timeout must be a Go duration between 0 and 2m, such as 10s")
		}
	}
	return nil
}

func normDomains(in []string) []string {
	var out []string
	for _, d := range in {
		d = strings.Trim(strings.ToLower(strings.TrimSpace(d)), ".")
		d = strings.TrimPrefix(d, "*.")
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// Search runs q with the configured provider, from the cache when a
// recent identical search answered.
func (s *Service) Search(ctx context.Context, q Query) (Response, error) {
	start := time.Now()
	q.Query = strings.TrimSpace(q.Query)
	if q.Query == "" || len(q.Query) > maxQueryBytes {
		return Response{}, fmt.Errorf("%w: query must be 1 to %d bytes", agent.ErrInvalid, maxQueryBytes)
	}
	if len(q.AllowedDomains) > 0 && len(q.BlockedDomains) > 0 {
		return Response{}, fmt.Errorf("%w: set allowed_domains or blocked_domains, not both", agent.ErrInvalid)
	}
	if len(q.AllowedDomains) > maxDomains || len(q.BlockedDomains) > maxDomains {
		return Response{}, fmt.Errorf("%w: at most %d domains", agent.ErrInvalid, maxDomains)
	}
	set, key, err := s.Settings()
	if err != nil {
		return Response{}, err
	}
	if set.Provider == ProviderDisabled {
		return Response{}, agent.ErrWebSearchDisabled
	}
	if q.MaxResults <= 0 {
		q.MaxResults = set.MaxResults
	}
	if q.MaxResults > MaxResults {
		return Response{}, fmt.Errorf("%w: max_results must be 1 to %d", agent.ErrInvalid, MaxResults)
	}
	f := filter{allow: set.AllowedDomains, block: slices.Concat(set.BlockedDomains, normDomains(q.BlockedDomains))}
	if reqAllow := normDomains(q.AllowedDomains); len(reqAllow) > 0 {
		f.allow = narrow(f.allow, reqAllow)
		if len(f.allow) == 0 {
			return Response{Query: q.Query, Provider: set.Provider, Results: []Result{}, Took: time.Since(start)}, nil
		}
	}

	ck := cacheKey(set, q.Query, q.MaxResults, f)
	if r, ok := s.cached(ck); ok {
		r.Took, r.Cached = time.Since(start), true
		return r, nil
	}
	if err := s.admit(set.Provider); err != nil {
		return Response{}, err
	}
	timeout := DefaultTimeout
	if d, err := time.ParseDuration(set.Timeout); err == nil && d > 0 {
		timeout = d
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Ask for more when results will be filtered out.
	ask := q.MaxResults
	if len(f.allow) > 0 || len(f.block) > 0 {
		ask = min(MaxResults, ask*2)
	}
	raw, err := s.call(cctx, set, key, q.Query, ask, f)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return Response{}, &agent.UpstreamError{Service: set.Provider, Msg: "the search provider did not answer in " + timeout.String()}
		}
		var ue *agent.UpstreamError
		if errors.As(err, &ue) && ue.Status == http.StatusTooManyRequests {
			s.throttle(set.Provider, ue.RetryAfter)
		}
		return Response{}, err
	}
	results := make([]Result, 0, q.MaxResults)
	for _, r := range raw {
		if len(results) == q.MaxResults {
			break
		}
		if f.pass(r.URL) {
			results = append(results, r)
		}
	}
	resp := Response{Query: q.Query, Provider: set.Provider, Results: results}
	s.store(ck, resp)
	resp.Took = time.Since(start)
	return resp, nil
}

// Test runs a one-word search against the provider, bypassing the cache.
func (s *Service) Test(ctx context.Context) (time.Duration, error) {
	set, key, err := s.Settings()
	if err != nil {
		return 0, err
	}
	if set.Provider == ProviderDisabled {
		return 0, agent.ErrWebSearchDisabled
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	_, err = s.call(cctx, set, key, "test", 1, filter{})
	return time.Since(start), err
}

func (s *Service) call(ctx context.Context, set persist.WebSearchSettings, key persist.Secret, q string, n int, f filter) ([]Result, error) {
	switch set.Provider {
	case ProviderSearXNG:
		return s.searxng(ctx, set, q, n)
	case ProviderBrave:
		return s.brave(ctx, set, key, q, n)
	case ProviderTavily:
		return s.tavily(ctx, set, key, q, n, f)
	}
	return nil, agent.ErrWebSearchDisabled
}

// admit takes a token of the provider's limiter, or refuses at once.
func (s *Service) admit(provider string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.throttledUntil[provider]; ok {
		if wait := time.Until(until); wait > 0 {
			return &agent.UpstreamError{Service: provider, Status: http.StatusTooManyRequests,
				Msg: "the search provider is throttling requests; try again later", RetryAfter: wait}
		}
		delete(s.throttledUntil, provider)
	}
	l := s.limiters[provider]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.RatePerSecond), s.cfg.Burst)
		s.limiters[provider] = l
	}
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return &agent.UpstreamError{Service: provider, Msg: "too many searches right now; try again shortly", RetryAfter: d}
	}
	return nil
}

// throttle keeps a provider that answered 429 unasked for its Retry-After
// (5s if it gave none, at most a minute).
func (s *Service) throttle(provider string, after time.Duration) {
	if after <= 0 {
		after = 5 * time.Second
	}
	after = min(after, time.Minute)
	s.mu.Lock()
	s.throttledUntil[provider] = time.Now().Add(after)
	s.mu.Unlock()
}

func cacheKey(set persist.WebSearchSettings, q string, n int, f filter) string {
	return strings.Join([]string{set.Provider, set.BaseURL, set.SafeSearch, set.UpdatedAt.String(), q,
		fmt.Sprint(n), strings.Join(f.allow, ","), strings.Join(f.block, ",")}, "\x00")
}

func (s *Service) cached(k string) (Response, bool) {
	if s.cfg.CacheTTL < 0 {
		return Response{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[k]
	if !ok || time.Now().After(e.expires) {
		s.misses.Add(1)
		return Response{}, false
	}
	s.hits.Add(1)
	r := e.resp
	r.Results = slices.Clone(r.Results)
	return r, true
}

func (s *Service) store(k string, r Response) {
	if s.cfg.CacheTTL < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.cache) >= s.cfg.CacheEntries {
		for key, e := range s.cache {
			if now.After(e.expires) {
				delete(s.cache, key)
			}
		}
		for key := range s.cache {
			if len(s.cache) < s.cfg.CacheEntries {
				break
			}
			delete(s.cache, key)
		}
	}
	s.cache[k] = cacheEntry{resp: Response{Query: r.Query, Provider: r.Provider, Results: slices.Clone(r.Results)}, expires: now.Add(s.cfg.CacheTTL)}
}

// filter is the effective domain lists of a search.
type filter struct{ allow, block []string }

func (f filter) pass(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, d := range f.block {
		if matchDomain(host, d) {
			return false
		}
	}
	if len(f.allow) == 0 {
		return true
	}
	for _, d := range f.allow {
		if matchDomain(host, d) {
			return true
		}
	}
	return false
}

func matchDomain(host, d string) bool { return host == d || strings.HasSuffix(host, "."+d) }

// narrow keeps the request's allowed domains that the settings allow (all
// of them when the settings allow every domain).
func narrow(settings, req []string) []string {
	if len(settings) == 0 {
		return req
	}
	var out []string
	for _, r := range req {
		for _, s := range settings {
			if matchDomain(r, s) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
