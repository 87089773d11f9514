package websearch_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/websearch"
)

func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func benchProvider() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"query":%q,"results":[{"url":"https://go.dev/","title":"Go","content":"c","publishedDate":null},{"url":"https://pkg.go.dev/","title":"Pkg","content":"c","publishedDate":"2025-01-02T03:04:05Z"}]}`, r.URL.Query().Get("q"))
	}))
}

// BenchmarkSearch compares a search through the Service (settings read,
// limiter, normalising; cache off) with a bare GET of the same provider,
// and reports the cache hit rate of a skewed query mix (80 % of searches
// over 20 % of 500 queries) with the cache on.
func BenchmarkSearch(b *testing.B) {
	p := benchProvider()
	defer p.Close()
	b.Run("provider_direct", func(b *testing.B) {
		d := make([]time.Duration, 0, b.N)
		for i := range b.N {
			start := time.Now()
			resp, err := http.Get(fmt.Sprintf("%s/search?q=q%d&format=json", p.URL, i))
			require.NoError(b, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			d = append(d, time.Since(start))
		}
		percentiles(b, d)
	})
	b.Run("service_uncached", func(b *testing.B) {
		s := newService(b, func(c *websearch.Config) { c.CacheTTL, c.RatePerSecond, c.Burst = -1, 1e9, 1<<30 })
		_, err := s.Put(b.Context(), websearch.Update{Provider: "searxng", BaseURL: ptr(p.URL)})
		require.NoError(b, err)
		d := make([]time.Duration, 0, b.N)
		for i := range b.N {
			start := time.Now()
			_, err := s.Search(b.Context(), websearch.Query{Query: fmt.Sprintf("q%d", i)})
			d = append(d, time.Since(start))
			require.NoError(b, err)
		}
		percentiles(b, d)
	})
	b.Run("service_cached_mix", func(b *testing.B) {
		s := newService(b, func(c *websearch.Config) { c.RatePerSecond, c.Burst = 1e9, 1<<30 })
		_, err := s.Put(b.Context(), websearch.Update{Provider: "searxng", BaseURL: ptr(p.URL)})
		require.NoError(b, err)
		r := rand.New(rand.NewPCG(1, 2))
		for range b.N {
			q := r.IntN(400) + 100
			if r.Float64() < 0.8 {
				q = r.IntN(100)
			}
			_, err := s.Search(b.Context(), websearch.Query{Query: fmt.Sprintf("q%d", q)})
			require.NoError(b, err)
		}
		hits, misses := s.CacheStats()
		b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
	})
}
