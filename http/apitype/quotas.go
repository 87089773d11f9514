package apitype

import "time"

// QuotaLimits are the limits of a scope; 0 is unlimited.
type QuotaLimits struct {
	RequestsPerMinute int64 `json:"requests_per_minute"`
	TokensPerDay      int64 `json:"tokens_per_day"`
	TokensPerMonth    int64 `json:"tokens_per_month"`
	ConcurrentTurns   int64 `json:"concurrent_turns"`
	StoredBytes       int64 `json:"stored_bytes"`
}

// QuotaUsage is what a scope uses of its limits.
type QuotaUsage struct {
	RequestsThisMinute int64 `json:"requests_this_minute"`
	TokensToday        int64 `json:"tokens_today"`
	TokensThisMonth    int64 `json:"tokens_this_month"`
	ReservedTokens     int64 `json:"reserved_tokens"`
	RunningTurns       int64 `json:"running_turns"`
	StoredBytes        int64 `json:"stored_bytes"`
}

// Quota is a scope's limits and usage.
type Quota struct {
	// Scope is "user", "workspace" or "organization"; ID its id.
	Scope     string      `json:"scope"`
	ID        string      `json:"id"`
	Limits    QuotaLimits `json:"limits"`
	Usage     QuotaUsage  `json:"usage"`
	UpdatedAt *time.Time  `json:"updated_at"`
	UpdatedBy string      `json:"updated_by,omitempty"`
}

// QuotaExceeded says, in a 429 quota_exceeded error, which limit refused
// the request.
type QuotaExceeded struct {
	Scope string `json:"scope"`
	ID    string `json:"id"`
	Limit string `json:"limit"`
	Max   int64  `json:"max"`
	Used  int64  `json:"used"`
	// RetryAfterSeconds is also in the Retry-After header; 0 when only
	// freeing room helps (stored bytes).
	RetryAfterSeconds int `json:"retry_after_seconds"`
}
