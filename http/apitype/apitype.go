// Package apitype holds the wire types of the native /api/v1 API: request
// and response bodies with the snake_case JSON names API.md pins, and the
// error body every native endpoint returns.
//
// It imports only the standard library, so clients, tests and the load
// bench can use it without pulling in the server. The types are plain data;
// converting runtime and store records into them is the server's job.
package apitype

// Error is the body of every native error response.
type Error struct {
	// Error is a human-readable message; it never carries internals.
	Error string `json:"error"`
	// Code is a stable machine code such as "not_found" or "session_busy".
	Code string `json:"code"`
	// RequestID is the X-Request-ID of the request, for support and logs.
	RequestID string `json:"request_id"`
	// Quota names the limit that refused a 429 quota_exceeded request.
	Quota *QuotaExceeded `json:"quota,omitempty"`
}

// List is the envelope of every listing: {"data": [...]}.
type List[T any] struct {
	Data []T `json:"data"`
}

// NewList returns a List of items that encodes as [] rather than null when
// items is empty.
func NewList[T any](items []T) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Data: items}
}

// Health is the body of GET /health.
type Health struct {
	Status string `json:"status"`
}

// Metrics is the body of GET /api/v1/metrics: a flat map from series name
// to value. Counters and gauges are summed over their labels; histograms and
// summaries appear as NAME_count and NAME_sum.
type Metrics struct {
	Metrics map[string]float64 `json:"metrics"`
}
