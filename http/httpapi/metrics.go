package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/seshat-host/seshat/http/apitype"
)

// routeUnmatched is the route label of requests no route took: unknown
// paths, wrong methods and requests that could not be read. Raw paths are
// never labels, so clients cannot grow the series set.
const routeUnmatched = "unmatched"

// httpMetrics are the server's own series.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seshat_http_request_duration_seconds",
			Help:    "Time until the handler returned (for streams: until the stream began), by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one answered request. d is zero for requests answered
// before routing (the fasthttp ErrorHandler), which are counted but not
// timed.
func (m *httpMetrics) observe(method []byte, route string, code int, d time.Duration) {
	meth := methodLabel(method)
	m.requests.WithLabelValues(meth, route, strconv.Itoa(code)).Inc()
	if d > 0 {
		m.duration.WithLabelValues(meth, route).Observe(d.Seconds())
	}
}

// methodLabel keeps the method label to the standard methods, since the
// method is client-chosen text.
func methodLabel(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodPut:
		return fasthttp.MethodPut
	case fasthttp.MethodPatch:
		return fasthttp.MethodPatch
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	case fasthttp.MethodOptions:
		return fasthttp.MethodOptions
	}
	return methodOther
}

// methodOther is the method label of a method that is not a standard one.
const methodOther = "OTHER"

func newPromHandler(g prometheus.Gatherer) fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

// GET /metrics: the Prometheus text format.
func (s *Server) promMetrics(ctx *fasthttp.RequestCtx) error {
	s.prom(ctx)
	return nil
}

// jsonRuntimeSeries are the Go and process series /api/v1/metrics reports
// besides every seshat_ series.
var jsonRuntimeSeries = map[string]bool{
	"go_goroutines":                 true,
	"go_threads":                    true,
	"go_memstats_alloc_bytes":       true,
	"go_memstats_heap_inuse_bytes":  true,
	"go_memstats_sys_bytes":         true,
	"go_gc_duration_seconds":        true,
	"process_resident_memory_bytes": true,
	"process_open_fds":              true,
	"process_max_fds":               true,
	"process_cpu_seconds_total":     true,
	"process_start_time_seconds":    true,
}

// GET /api/v1/metrics: the same figures as /metrics, flattened to JSON.
func (s *Server) jsonMetrics(ctx *fasthttp.RequestCtx) error {
	families, err := s.gatherer.Gather()
	if err != nil && len(families) == 0 {
		return err
	}
	out := make(map[string]float64)
	for _, mf := range families {
		name := mf.GetName()
		if !strings.HasPrefix(name, "seshat_") && !jsonRuntimeSeries[name] {
			continue
		}
		flatten(out, name, mf)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.Metrics{Metrics: out})
}

// flatten adds a family to out: counters, gauges and untyped series summed
// over their labels; histograms and summaries as NAME_count and NAME_sum.
func flatten(out map[string]float64, name string, mf *dto.MetricFamily) {
	switch mf.GetType() {
	case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
		out[name] = sum
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		var count, sum float64
		for _, m := range mf.GetMetric() {
			count += float64(m.GetHistogram().GetSampleCount())
			sum += m.GetHistogram().GetSampleSum()
		}
		out[name+"_count"], out[name+"_sum"] = count, sum
	case dto.MetricType_SUMMARY:
		var count, sum float64
		for _, m := range mf.GetMetric() {
			count += float64(m.GetSummary().GetSampleCount())
			sum += m.GetSummary().GetSampleSum()
		}
		out[name+"_count"], out[name+"_sum"] = count, sum
	}
}
