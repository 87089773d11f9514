package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Default model ids per provider, used when that provider's credentials
// are the first found (API.md "Default model").
const (
	defaultAnthropicModel = "anthropic:claude-sonnet-4-5"
	defaultOpenAIModel    = "openai:gpt-4o-mini"
	mockModel             = "mock:echo"
)

// Config is the server's whole configuration: flags win over environment
// variables, which win over the defaults noted on each field.
type Config struct {
	// Addr is the listen address: -addr, SESHAT_ADDR. Default ":8090".
	Addr string
	// DataDir holds the store and secrets.json: -data-dir,
	// SESHAT_DATA_DIR. Default "./data".
	DataDir string
	// Debug enables debug logs and the localhost CORS allowlist: -debug,
	// SESHAT_DEBUG. Default false.
	Debug bool
	// MaxUploadBytes caps an uploaded file: SESHAT_MAX_UPLOAD_BYTES.
	// Default 50 MiB.
	MaxUploadBytes int64
	// JWTSecret signs tokens: SESHAT_JWT_SECRET (at least 32 bytes). If
	// unset, generated once and kept in DataDir/secrets.json.
	JWTSecret []byte
	// MasterKey encrypts provider credentials at rest: SESHAT_MASTER_KEY
	// (at least 32 bytes: 32 raw bytes, base64 or hex text of 32 bytes, or
	// a longer passphrase, stretched with HKDF-SHA256). If unset,
	// generated once and kept in DataDir/secrets.json. Starting with
	// another key than the credentials were sealed with fails.
	MasterKey []byte
	// SessionIdle is how long an idle session actor stays in memory:
	// SESHAT_SESSION_IDLE. Default 5m.
	SessionIdle time.Duration
	// PermissionTimeout is how long a permission request waits before it is
	// denied: SESHAT_PERMISSION_TIMEOUT. Default 10m.
	PermissionTimeout time.Duration
	// SSEKeepalive is the idle interval between `: keepalive` comments:
	// SESHAT_SSE_KEEPALIVE. Default 15s.
	SSEKeepalive time.Duration
	// DebugAddr, if set, serves Go's pprof profiles on this loopback
	// address: SESHAT_DEBUG_ADDR (for example 127.0.0.1:6060).
	DebugAddr string
	// MaxStreams caps open streams over all users: SESHAT_MAX_STREAMS.
	MaxStreams int
	// MaxSubscribers caps the streams following one session:
	// SESHAT_MAX_SUBSCRIBERS_PER_SESSION.
	MaxSubscribers int
	// MaxTurnEvents bounds the events of one turn kept for re-attaching:
	// SESHAT_MAX_TURN_EVENTS.
	MaxTurnEvents int
	// ReadTimeout bounds reading one request, headers and body (a client
	// that sends its headers byte by byte is cut): SESHAT_READ_TIMEOUT.
	ReadTimeout time.Duration
	// JobRunHistory is how many runs each scheduled job keeps:
	// SESHAT_JOB_RUN_HISTORY.
	JobRunHistory int
	// SSEWriteTimeout is how long one write to a stream may wait for a
	// client that does not read before the client is cut: SESHAT_SSE_WRITE_TIMEOUT.
	SSEWriteTimeout time.Duration
	// MaxTurnsPerUser caps running turns per user:
	// SESHAT_MAX_TURNS_PER_USER. Default 256.
	MaxTurnsPerUser int
	// MaxStreamsPerUser caps open streams per user:
	// SESHAT_MAX_STREAMS_PER_USER. Default 1024.
	MaxStreamsPerUser int
	// AnthropicAPIKey is ANTHROPIC_API_KEY.
	AnthropicAPIKey string
	// AnthropicBaseURL is ANTHROPIC_BASE_URL, for a proxy or a test upstream.
	AnthropicBaseURL string
	// OpenAIAPIKey is OPENAI_API_KEY.
	OpenAIAPIKey string
	// OpenAIBaseURL is OPENAI_BASE_URL, for OpenAI-compatible servers.
	OpenAIBaseURL string
	// PublicURL is the server's base URL as browsers reach it
	// (https://seshat.example.com): SESHAT_PUBLIC_URL. The OAuth redirect
	// URI of provider settings is built from it. If empty, each request
	// that starts an OAuth flow names it from its Host header.
	PublicURL string
	// DefaultModel is the model of sessions that name none:
	// SESHAT_DEFAULT_MODEL, else chosen from the provider credentials
	// present (anthropic, then openai), else "mock:echo".
	DefaultModel string
	// BcryptCost is the bcrypt cost of new password hashes:
	// SESHAT_BCRYPT_COST, 4 to 31. Default 10 (bcrypt.DefaultCost).
	BcryptCost int
	// ShutdownTimeout bounds the graceful drain of connections at
	// shutdown. Default 15s.
	ShutdownTimeout time.Duration
	// AuditRetention is how long audit log entries are kept:
	// SESHAT_AUDIT_RETENTION. Default 0: forever.
	AuditRetention time.Duration
	// QuotaReserveTokens is the output a model call without max_tokens
	// reserves (and is capped at) under a token quota:
	// SESHAT_QUOTA_RESERVE_TOKENS. Default 4096.
	QuotaReserveTokens int
}

// errUsage marks a configuration error: main exits with status 2.
var errUsage = errors.New("usage")

// loadConfig builds the Config from args (without the program name) and
// getenv. Secrets not given are left nil; loadSecrets fills them from the
// data dir.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Config{
		Addr:              ":8090",
		DataDir:           "./data",
		MaxUploadBytes:    50 << 20,
		SessionIdle:       5 * time.Minute,
		PermissionTimeout: 10 * time.Minute,
		SSEKeepalive:      15 * time.Second,
		SSEWriteTimeout:   30 * time.Second,
		JobRunHistory:     100,
		ReadTimeout:       15 * time.Second,
		MaxStreams:        50000,
		MaxSubscribers:    64,
		MaxTurnEvents:     10000,
		MaxTurnsPerUser:   256,
		MaxStreamsPerUser: 1024,
		BcryptCost:        10,
		ShutdownTimeout:   15 * time.Second,

		QuotaReserveTokens: 4096,
	}
	env := envReader{getenv: getenv}
	env.str("SESHAT_ADDR", &cfg.Addr)
	env.str("SESHAT_DATA_DIR", &cfg.DataDir)
	env.boolean("SESHAT_DEBUG", &cfg.Debug)
	env.int64("SESHAT_MAX_UPLOAD_BYTES", &cfg.MaxUploadBytes)
	env.secret("SESHAT_JWT_SECRET", &cfg.JWTSecret)
	env.secret("SESHAT_MASTER_KEY", &cfg.MasterKey)
	env.duration("SESHAT_SESSION_IDLE", &cfg.SessionIdle)
	env.duration("SESHAT_PERMISSION_TIMEOUT", &cfg.PermissionTimeout)
	env.duration("SESHAT_SSE_KEEPALIVE", &cfg.SSEKeepalive)
	env.duration("SESHAT_SSE_WRITE_TIMEOUT", &cfg.SSEWriteTimeout)
	env.duration("SESHAT_READ_TIMEOUT", &cfg.ReadTimeout)
	env.str("SESHAT_DEBUG_ADDR", &cfg.DebugAddr)
	env.integer("SESHAT_MAX_TURNS_PER_USER", &cfg.MaxTurnsPerUser)
	env.integer("SESHAT_MAX_STREAMS_PER_USER", &cfg.MaxStreamsPerUser)
	env.integer("SESHAT_JOB_RUN_HISTORY", &cfg.JobRunHistory)
	env.integer("SESHAT_MAX_STREAMS", &cfg.MaxStreams)
	env.integer("SESHAT_MAX_SUBSCRIBERS_PER_SESSION", &cfg.MaxSubscribers)
	env.integer("SESHAT_MAX_TURN_EVENTS", &cfg.MaxTurnEvents)
	env.integer("SESHAT_BCRYPT_COST", &cfg.BcryptCost)
	env.str("ANTHROPIC_API_KEY", &cfg.AnthropicAPIKey)
	env.str("ANTHROPIC_BASE_URL", &cfg.AnthropicBaseURL)
	env.str("OPENAI_API_KEY", &cfg.OpenAIAPIKey)
	env.str("OPENAI_BASE_URL", &cfg.OpenAIBaseURL)
	env.str("SESHAT_PUBLIC_URL", &cfg.PublicURL)
	env.str("SESHAT_DEFAULT_MODEL", &cfg.DefaultModel)
	env.duration("SESHAT_AUDIT_RETENTION", &cfg.AuditRetention)
	env.integer("SESHAT_QUOTA_RESERVE_TOKENS", &cfg.QuotaReserveTokens)
	if err := errors.Join(env.errs...); err != nil {
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}

	fs := flag.NewFlagSet("seshat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env SESHAT_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (env SESHAT_DATA_DIR)")
	fs.BoolVar(&cfg.Debug, "debug", cfg.Debug, "debug logs and localhost CORS (env SESHAT_DEBUG)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}

	var bad []error
	if cfg.Addr == "" {
		bad = append(bad, errors.New("the listen address is empty"))
	}
	if cfg.DataDir == "" {
		bad = append(bad, errors.New("the data dir is empty"))
	}
	if cfg.MaxUploadBytes <= 0 {
		bad = append(bad, errors.New("SESHAT_MAX_UPLOAD_BYTES must be positive"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SESHAT_SESSION_IDLE", cfg.SessionIdle},
		{"SESHAT_PERMISSION_TIMEOUT", cfg.PermissionTimeout},
		{"SESHAT_SSE_KEEPALIVE", cfg.SSEKeepalive},
		{"SESHAT_SSE_WRITE_TIMEOUT", cfg.SSEWriteTimeout},
		{"SESHAT_READ_TIMEOUT", cfg.ReadTimeout},
	} {
		if d.v <= 0 {
			bad = append(bad, fmt.Errorf("%s must be positive", d.name))
		}
	}
	if cfg.MaxStreams <= 0 || cfg.MaxSubscribers <= 0 || cfg.MaxTurnEvents <= 0 {
		bad = append(bad, errors.New("SESHAT_MAX_STREAMS, SESHAT_MAX_SUBSCRIBERS_PER_SESSION and SESHAT_MAX_TURN_EVENTS must be positive"))
	}
	if cfg.DebugAddr != "" && !loopbackAddr(cfg.DebugAddr) {
		bad = append(bad, fmt.Errorf("SESHAT_DEBUG_ADDR %q must be a loopback address such as 127.0.0.1:6060", cfg.DebugAddr))
	}
	if cfg.JobRunHistory <= 0 {
		bad = append(bad, errors.New("SESHAT_JOB_RUN_HISTORY must be positive"))
	}
	if cfg.AuditRetention < 0 {
		bad = append(bad, errors.New("SESHAT_AUDIT_RETENTION must not be negative (0 keeps entries forever)"))
	}
	if cfg.QuotaReserveTokens <= 0 {
		bad = append(bad, errors.New("SESHAT_QUOTA_RESERVE_TOKENS must be positive"))
	}
	if cfg.MaxTurnsPerUser <= 0 || cfg.MaxStreamsPerUser <= 0 {
		bad = append(bad, errors.New("SESHAT_MAX_TURNS_PER_USER and SESHAT_MAX_STREAMS_PER_USER must be positive"))
	}
	if cfg.BcryptCost < 4 || cfg.BcryptCost > 31 {
		bad = append(bad, errors.New("SESHAT_BCRYPT_COST must be between 4 and 31"))
	}
	if cfg.JWTSecret != nil && len(cfg.JWTSecret) < secretBytes {
		bad = append(bad, fmt.Errorf("SESHAT_JWT_SECRET must be at least %d bytes, got %d", secretBytes, len(cfg.JWTSecret)))
	}
	if u, err := url.Parse(cfg.PublicURL); cfg.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		bad = append(bad, fmt.Errorf("SESHAT_PUBLIC_URL=%q: want an absolute http or https URL", cfg.PublicURL))
	}
	if cfg.MasterKey != nil && len(cfg.MasterKey) < secretBytes {
		bad = append(bad, fmt.Errorf("SESHAT_MASTER_KEY must be at least %d bytes, got %d", secretBytes, len(cfg.MasterKey)))
	}
	if err := errors.Join(bad...); err != nil {
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.DefaultModel == "" {
		cfg.DefaultModel = defaultModel(cfg)
	}
	return cfg, nil
}

// defaultModel picks the default model from the provider credentials
// present, in API.md's order.
func defaultModel(cfg Config) string {
	switch {
	case cfg.AnthropicAPIKey != "":
		return defaultAnthropicModel
	case cfg.OpenAIAPIKey != "" || cfg.OpenAIBaseURL != "":
		return defaultOpenAIModel
	}
	return mockModel
}

// envReader parses environment variables, collecting every error so that
// one run reports them all.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(e.getenv(name))
	return v, v != ""
}

func (e *envReader) str(name string, dst *string) {
	if v, ok := e.lookup(name); ok {
		*dst = v
	}
}

// secret keeps the value byte for byte: trimming could change a secret.
func (e *envReader) secret(name string, dst *[]byte) {
	if v := e.getenv(name); v != "" {
		*dst = []byte(v)
	}
}

func (e *envReader) boolean(name string, dst *bool) {
	if v, ok := e.lookup(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
			return
		}
		*dst = b
	}
}

func (e *envReader) integer(name string, dst *int) {
	if v, ok := e.lookup(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: want an integer", name, v))
			return
		}
		*dst = n
	}
}

func (e *envReader) int64(name string, dst *int64) {
	if v, ok := e.lookup(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: want an integer number of bytes", name, v))
			return
		}
		*dst = n
	}
}

func (e *envReader) duration(name string, dst *time.Duration) {
	if v, ok := e.lookup(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: want a Go duration such as 30s or 5m", name, v))
			return
		}
		*dst = d
	}
}

// loopbackAddr reports whether addr is host:port with a loopback host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
