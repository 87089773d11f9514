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

// Sign-up policies (SESHAT_SIGNUP) and log formats (SESHAT_LOG_FORMAT).
const (
	signupOpen   = "open"
	signupInvite = "invite"
	signupClosed = "closed"
	logText      = "text"
	logJSON      = "json"
)

// Config is the server's whole configuration. Each field is filled from
// one line of the settings table, which names its flag, environment
// variable and default: flags win over environment variables, which win
// over the defaults.
type Config struct {
	// Addr is the listen address.
	Addr string
	// DataDir holds the store and secrets.json.
	DataDir string
	// BlobDir, if set, holds uploaded files' bytes instead of
	// DataDir/blobs, with the embedded store only.
	BlobDir string
	// Debug enables debug logs and the localhost CORS allowlist.
	Debug bool
	// LogFormat is "text" or "json".
	LogFormat string
	// AccessLog logs one line per request at info.
	AccessLog bool
	// Signup is who may register: "open", "invite" or "closed".
	Signup string
	// RegisterPerMinute caps registrations per client address per
	// minute; 0 turns the cap off.
	RegisterPerMinute int
	// MaxConns caps the connections served at once; 0 means 90 % of the
	// open-file limit, worked out at start.
	MaxConns int
	// MaxConnsPerIP caps the connections of one client address; 0 turns
	// the cap off.
	MaxConnsPerIP int
	// MaxUploadBytes caps an uploaded file.
	MaxUploadBytes int64
	// JWTSecret signs tokens (at least 32 bytes). If nil, generated once
	// and kept in DataDir/secrets.json.
	JWTSecret []byte
	// MasterKey encrypts provider credentials at rest (at least 32 bytes:
	// 32 raw bytes, base64 or hex text of 32 bytes, or a longer
	// passphrase, stretched with HKDF-SHA256). If nil, generated once and
	// kept in DataDir/secrets.json. Starting with another key than the
	// credentials were sealed with fails.
	MasterKey []byte
	// SessionIdle is how long an idle session actor stays in memory.
	SessionIdle time.Duration
	// PermissionTimeout is how long a permission request waits before it
	// is denied.
	PermissionTimeout time.Duration
	// SSEKeepalive is the idle interval between `: keepalive` comments.
	SSEKeepalive time.Duration
	// SSEIdleLifetime ends a stream that follows a session with no
	// running turn after this long (event: runtime idle_timeout).
	SSEIdleLifetime time.Duration
	// GRPCAddr, if set, serves the gRPC API (gRPC, gRPC-Web and Connect,
	// HTTP/2 without TLS and HTTP/1.1) on this address. Default "": off.
	GRPCAddr string
	// SSEWriteTimeout is how long one write to a stream may wait for a
	// client that does not read before the client is cut.
	SSEWriteTimeout time.Duration
	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout time.Duration
	// DebugAddr, if set, serves Go's pprof profiles on this loopback
	// address.
	DebugAddr string
	// MaxTurnsPerUser caps running turns per user.
	MaxTurnsPerUser int
	// MaxStreamsPerUser caps open streams per user.
	MaxStreamsPerUser int
	// MaxStreams caps open streams over all users.
	MaxStreams int
	// MaxSubscribers caps the streams following one session.
	MaxSubscribers int
	// MaxTurnEvents bounds the events of one turn kept for re-attaching.
	MaxTurnEvents int
	// JobRunHistory is how many runs each scheduled job keeps.
	JobRunHistory int
	// MaxJobsPerUser caps the scheduled jobs of one user.
	MaxJobsPerUser int
	// MaxToolUsesPerResponse and MaxToolUsesPerTurn cap the tool uses of
	// one model response and of one turn.
	MaxToolUsesPerResponse int
	MaxToolUsesPerTurn     int
	// MemoryWorkers caps the users whose memory extractions run at once.
	MemoryWorkers int
	// Store names the store's engine: "bolt" (the file in DataDir) or a
	// postgres:// URL.
	Store string
	// Cluster, when set, makes the server one node of a cluster: the etcd
	// endpoints as etcd://HOST:PORT[,HOST:PORT…].
	Cluster string
	// NodeAddr is the HOST:PORT this node's cluster listener binds and the
	// other nodes reach it on.
	NodeAddr string
	// MemoryExtractTimeout bounds one memory extraction's model call.
	MemoryExtractTimeout time.Duration
	// KnowledgeWorkers caps the files ingested into corpora at once.
	KnowledgeWorkers int
	// SkillsBudget caps the characters of a turn's skills catalogue.
	SkillsBudget int
	// SkillMaxBytes caps one skill's files together, uncompressed.
	SkillMaxBytes int64
	// AllowPrivateUpstreams lets outbound requests set by non-admins (MCP
	// server URLs, web_fetch) reach private and local addresses.
	AllowPrivateUpstreams bool
	// MCPCallTimeout bounds one MCP tool call.
	MCPCallTimeout time.Duration
	// BcryptCost is the bcrypt cost of new password hashes, 4 to 31.
	BcryptCost int
	// DefaultModel is the model of sessions that name none; if empty,
	// chosen from the provider credentials present.
	DefaultModel string
	// AuditRetention is how long audit log entries are kept; 0 is
	// forever.
	AuditRetention time.Duration
	// QuotaReserveTokens is the output a model call without max_tokens
	// reserves (and is capped at) under a token quota.
	QuotaReserveTokens int
	// ShutdownTimeout bounds the graceful drain of connections at
	// shutdown.
	ShutdownTimeout time.Duration
	// AnthropicAPIKey enables the anthropic provider.
	AnthropicAPIKey string
	// AnthropicBaseURL is for a proxy or a test upstream.
	AnthropicBaseURL string
	// OpenAIAPIKey enables the openai provider.
	OpenAIAPIKey string
	// OpenAIBaseURL is for OpenAI-compatible servers.
	OpenAIBaseURL string
	// PublicURL is the server's base URL as browsers reach it; the OAuth
	// redirect URI of provider settings is built from it.
	PublicURL string
	// ConfigFile is the configuration file the settings were read from,
	// if any.
	ConfigFile string
}

// setting is one line of the settings table: a setting's names, its
// default and what it does. loadConfig fills Config from the table and
// -help prints it, so a setting exists once, here.
type setting struct {
	// key names the setting in a configuration file: snake_case.
	key string
	// flag is the command-line flag without its dash, or "" if none.
	flag string
	// env is the environment variable.
	env string
	// def is the default, written as the environment would give it; it
	// is parsed like any other value. "" leaves the zero value.
	def string
	// defNote, if set, is shown instead of def: a default worked out at
	// start, or a generated secret.
	defNote string
	// usage says what the setting does, for -help and the README.
	usage string
	// secret settings are never printed or logged.
	secret bool
	// field is the Config field the setting fills: a *string, *bool,
	// *int, *int64, *time.Duration or *[]byte (read byte for byte).
	field func(*Config) any
}

// settings is every setting of the server, in the order -help lists them.
var settings = []setting{
	{flag: "config", env: "SESHAT_CONFIG",
		usage: "a configuration file (.toml, .yaml or .yml) of the settings below under their snake_case keys (data_dir = \"/data\"); flags win over the environment, which wins over the file",
		field: func(c *Config) any { return &c.ConfigFile }},
	{key: "addr", flag: "addr", env: "SESHAT_ADDR", def: "127.0.0.1:8090",
		usage: "listen address; :8090 serves every interface, 127.0.0.1:0 picks a free port (the log line names it)",
		field: func(c *Config) any { return &c.Addr }},
	{key: "data_dir", flag: "data-dir", env: "SESHAT_DATA_DIR", def: "./data",
		usage: "the store, uploaded files and secrets.json; created with mode 0700",
		field: func(c *Config) any { return &c.DataDir }},
	{key: "debug", flag: "debug", env: "SESHAT_DEBUG", def: "false",
		usage: "debug logs, and CORS for browser apps on http(s)://localhost, 127.0.0.1 or [::1] (any port)",
		field: func(c *Config) any { return &c.Debug }},
	{key: "log_format", env: "SESHAT_LOG_FORMAT", def: logText,
		usage: "log format: text (key=value) or json (one object a line)",
		field: func(c *Config) any { return &c.LogFormat }},
	{key: "access_log", env: "SESHAT_ACCESS_LOG", def: "true",
		usage: "one info line per request: method, route, status, duration, request id, user id",
		field: func(c *Config) any { return &c.AccessLog }},
	{key: "signup", env: "SESHAT_SIGNUP", def: signupOpen,
		usage: "who may register: open (anyone), invite (a pending invitation for that email) or closed (admins create accounts); the first account always may, and becomes admin",
		field: func(c *Config) any { return &c.Signup }},
	{key: "register_per_minute", env: "SESHAT_REGISTER_PER_MINUTE", def: "20",
		usage: "registrations per client address per minute; 0 turns the limit off",
		field: func(c *Config) any { return &c.RegisterPerMinute }},
	{key: "max_conns", env: "SESHAT_MAX_CONNS", def: "0", defNote: "90% of the open-file limit",
		usage: "connections served at once; one more is answered 503 and closed, so that the server never runs out of file descriptors",
		field: func(c *Config) any { return &c.MaxConns }},
	{key: "max_conns_per_ip", env: "SESHAT_MAX_CONNS_PER_IP", def: "2048",
		usage: "connections from one client address at once; one more is answered 429 and closed; 0 turns the limit off",
		field: func(c *Config) any { return &c.MaxConnsPerIP }},
	{key: "max_upload_bytes", env: "SESHAT_MAX_UPLOAD_BYTES", def: "52428800",
		usage: "largest file POST /api/v1/files accepts (50 MiB)",
		field: func(c *Config) any { return &c.MaxUploadBytes }},
	{key: "jwt_secret", env: "SESHAT_JWT_SECRET", defNote: "generated", secret: true,
		usage: "signs login tokens (HS256); at least 32 bytes; if unset, generated and kept in DATA_DIR/secrets.json",
		field: func(c *Config) any { return &c.JWTSecret }},
	{key: "master_key", env: "SESHAT_MASTER_KEY", defNote: "generated", secret: true,
		usage: "encrypts provider credentials at rest (AES-256-GCM): 32 bytes, their base64 or hex, or a longer passphrase; if unset, generated and kept in DATA_DIR/secrets.json",
		field: func(c *Config) any { return &c.MasterKey }},
	{key: "session_idle", env: "SESHAT_SESSION_IDLE", def: "5m",
		usage: "how long an idle session stays in memory",
		field: func(c *Config) any { return &c.SessionIdle }},
	{key: "permission_timeout", env: "SESHAT_PERMISSION_TIMEOUT", def: "10m",
		usage: "how long a tool permission request waits before it is denied",
		field: func(c *Config) any { return &c.PermissionTimeout }},
	{key: "sse_keepalive", env: "SESHAT_SSE_KEEPALIVE", def: "15s",
		usage: "interval of : keepalive comments on idle streams",
		field: func(c *Config) any { return &c.SSEKeepalive }},
	{key: "sse_idle_lifetime", env: "SESHAT_SSE_IDLE_LIFETIME", def: "15m",
		usage: "a stream that follows a session with no running turn ends after this long with event: runtime idle_timeout (re-attach to go on)",
		field: func(c *Config) any { return &c.SSEIdleLifetime }},
	{key: "sse_write_timeout", env: "SESHAT_SSE_WRITE_TIMEOUT", def: "30s",
		usage: "a stream whose client takes no bytes for this long is cut (the turn goes on)",
		field: func(c *Config) any { return &c.SSEWriteTimeout }},
	{key: "read_timeout", env: "SESHAT_READ_TIMEOUT", def: "15s",
		usage: "time to read one request (headers and body); a slower client is cut",
		field: func(c *Config) any { return &c.ReadTimeout }},
	{key: "debug_addr", env: "SESHAT_DEBUG_ADDR", defNote: "off",
		usage: "serve Go's pprof profiles on this loopback address (e.g. 127.0.0.1:6060)",
		field: func(c *Config) any { return &c.DebugAddr }},
	{key: "grpc_addr", env: "SESHAT_GRPC_ADDR", defNote: "off",
		usage: "serve the gRPC API (gRPC, gRPC-Web and Connect; HTTP/2 without TLS and HTTP/1.1) on this address (e.g. 127.0.0.1:8091)",
		field: func(c *Config) any { return &c.GRPCAddr }},
	{key: "max_turns_per_user", env: "SESHAT_MAX_TURNS_PER_USER", def: "256",
		usage: "running turns per user; one more gets 429 too_many_turns",
		field: func(c *Config) any { return &c.MaxTurnsPerUser }},
	{key: "max_streams_per_user", env: "SESHAT_MAX_STREAMS_PER_USER", def: "1024",
		usage: "open streams per user, and never more than a sixteenth of SESHAT_MAX_STREAMS; one more gets 429 too_many_streams",
		field: func(c *Config) any { return &c.MaxStreamsPerUser }},
	{key: "max_streams", env: "SESHAT_MAX_STREAMS", def: "50000",
		usage: "open streams over all users, and at most three quarters of SESHAT_MAX_CONNS; one more gets 429 too_many_streams",
		field: func(c *Config) any { return &c.MaxStreams }},
	{key: "max_subscribers_per_session", env: "SESHAT_MAX_SUBSCRIBERS_PER_SESSION", def: "64",
		usage: "streams following one session at once (re-attaching beyond it gets 429)",
		field: func(c *Config) any { return &c.MaxSubscribers }},
	{key: "max_turn_events", env: "SESHAT_MAX_TURN_EVENTS", def: "10000",
		usage: "events of a turn kept for re-attaching; an older cursor gets resync",
		field: func(c *Config) any { return &c.MaxTurnEvents }},
	{key: "max_tool_uses_per_response", env: "SESHAT_MAX_TOOL_USES_PER_RESPONSE", def: "64",
		usage: "tool uses one model response may make; the calls past it get error results and do not run",
		field: func(c *Config) any { return &c.MaxToolUsesPerResponse }},
	{key: "max_tool_uses_per_turn", env: "SESHAT_MAX_TOOL_USES_PER_TURN", def: "256",
		usage: "tool uses one turn may make over all its model calls; the calls past it get error results and do not run",
		field: func(c *Config) any { return &c.MaxToolUsesPerTurn }},
	{key: "allow_private_upstreams", env: "SESHAT_ALLOW_PRIVATE_UPSTREAMS", def: "false",
		usage: "let provider settings, MCP server URLs and web search set by non-admins, and web_fetch, reach loopback, private and link-local addresses (a single-user host)",
		field: func(c *Config) any { return &c.AllowPrivateUpstreams }},
	{key: "mcp_call_timeout", env: "SESHAT_MCP_CALL_TIMEOUT", def: "60s",
		usage: "longest an MCP tool call may take before it fails",
		field: func(c *Config) any { return &c.MCPCallTimeout }},
	{key: "job_run_history", env: "SESHAT_JOB_RUN_HISTORY", def: "100",
		usage: "runs kept per scheduled job (older ones are pruned, with the sessions they made)",
		field: func(c *Config) any { return &c.JobRunHistory }},
	{key: "max_jobs_per_user", env: "SESHAT_MAX_JOBS_PER_USER", def: "100",
		usage: "scheduled jobs whose runs are one user's turns; one more is 429 too_many_jobs",
		field: func(c *Config) any { return &c.MaxJobsPerUser }},
	{key: "store", env: "SESHAT_STORE", secret: true,
		usage: "the store's engine: unset or bolt (the embedded file in the data dir) or a postgres://USER:PASSWORD@HOST:PORT/DB URL (every record in PostgreSQL, uploaded files' bytes included, schema migrated at start; servers sharing a database must share SESHAT_MASTER_KEY and SESHAT_JWT_SECRET)",
		field: func(c *Config) any { return &c.Store }},
	{key: "blob_dir", env: "SESHAT_BLOB_DIR",
		usage: "with the embedded store, where uploaded files' bytes live (content-addressed files); unset means blobs/ in the data dir. A postgres:// SESHAT_STORE keeps them in the database, and at start copies in from this dir (or blobs/) any the database lacks, where earlier versions kept them",
		field: func(c *Config) any { return &c.BlobDir }},
	{key: "cluster", env: "SESHAT_CLUSTER",
		usage: "etcd://HOST:PORT[,HOST:PORT…] makes the server one node of a cluster: sessions are virtual actors placed on one node at a time, etcd lists the members; needs a postgres:// SESHAT_STORE shared by every node, and SESHAT_NODE_ADDR",
		field: func(c *Config) any { return &c.Cluster }},
	{key: "node_addr", env: "SESHAT_NODE_ADDR",
		usage: "with SESHAT_CLUSTER, the HOST:PORT this node's cluster listener binds and the other nodes reach it on",
		field: func(c *Config) any { return &c.NodeAddr }},
	{key: "memory_workers", env: "SESHAT_MEMORY_WORKERS", def: "4",
		usage: "users whose memory extractions (a model call after a turn) run at once; the others wait",
		field: func(c *Config) any { return &c.MemoryWorkers }},
	{key: "memory_extract_timeout", env: "SESHAT_MEMORY_EXTRACT_TIMEOUT", def: "2m",
		usage: "bound on one memory extraction's model call",
		field: func(c *Config) any { return &c.MemoryExtractTimeout }},
	{key: "knowledge_workers", env: "SESHAT_KNOWLEDGE_WORKERS", def: "2",
		usage: "files ingested into corpora at once (extract, chunk, embed), over all corpora; the others wait in their corpus's queue",
		field: func(c *Config) any { return &c.KnowledgeWorkers }},
	{key: "skills_budget", env: "SESHAT_SKILLS_BUDGET", def: "8000",
		usage: "characters of the skills catalogue (names and descriptions) a turn's system prompt holds; past it the catalogue lists the best-ranked skills and the turn emits skills_truncated",
		field: func(c *Config) any { return &c.SkillsBudget }},
	{key: "skill_max_bytes", env: "SESHAT_SKILL_MAX_BYTES", def: "8388608",
		usage: "largest skill (its files together, uncompressed; 8 MiB) an upload or a repository sync accepts",
		field: func(c *Config) any { return &c.SkillMaxBytes }},
	{key: "bcrypt_cost", env: "SESHAT_BCRYPT_COST", def: "10",
		usage: "bcrypt cost of new password hashes (4-31)",
		field: func(c *Config) any { return &c.BcryptCost }},
	{key: "default_model", env: "SESHAT_DEFAULT_MODEL",
		defNote: defaultAnthropicModel + " with ANTHROPIC_API_KEY, else " + defaultOpenAIModel + " with an OpenAI key or base URL, else " + mockModel,
		usage:   "model of sessions that name none (provider:model)",
		field:   func(c *Config) any { return &c.DefaultModel }},
	{key: "audit_retention", env: "SESHAT_AUDIT_RETENTION", def: "0",
		usage: "how long audit log entries are kept (say 2160h); 0 keeps them forever; older ones go as new ones are written, the chain staying verifiable",
		field: func(c *Config) any { return &c.AuditRetention }},
	{key: "quota_reserve_tokens", env: "SESHAT_QUOTA_RESERVE_TOKENS", def: "4096",
		usage: "tokens a model call without max_tokens reserves (and is capped at) while a token quota applies",
		field: func(c *Config) any { return &c.QuotaReserveTokens }},
	{key: "shutdown_timeout", env: "SESHAT_SHUTDOWN_TIMEOUT", def: "15s",
		usage: "how long a graceful shutdown waits for open connections to finish",
		field: func(c *Config) any { return &c.ShutdownTimeout }},
	{key: "anthropic_api_key", env: "ANTHROPIC_API_KEY", secret: true,
		usage: "enables the anthropic provider",
		field: func(c *Config) any { return &c.AnthropicAPIKey }},
	{key: "anthropic_base_url", env: "ANTHROPIC_BASE_URL",
		usage: "base URL of the anthropic provider (a proxy, a test upstream)",
		field: func(c *Config) any { return &c.AnthropicBaseURL }},
	{key: "openai_api_key", env: "OPENAI_API_KEY", secret: true,
		usage: "enables the openai provider",
		field: func(c *Config) any { return &c.OpenAIAPIKey }},
	{key: "openai_base_url", env: "OPENAI_BASE_URL",
		usage: "enables the openai provider for an OpenAI-compatible server at this base URL",
		field: func(c *Config) any { return &c.OpenAIBaseURL }},
	{key: "public_url", env: "SESHAT_PUBLIC_URL",
		usage: "the server's URL as browsers reach it; provider OAuth redirects go to its /api/v1/settings/providers/oauth/callback (if unset, the URL the OAuth start request used, only on a loopback host such as localhost:8090; elsewhere the start is a 400)",
		field: func(c *Config) any { return &c.PublicURL }},
}

// errUsage marks a configuration error: main exits with status 2.
var errUsage = errors.New("usage")

// startMode is what the command line asks for.
type startMode uint8

const (
	modeServe startMode = iota
	modeHelp
	modeVersion
	// modeConfigPrint prints the effective configuration (seshat config
	// print [flags]).
	modeConfigPrint
)

// loadConfig builds the Config from the settings table, getenv and args
// (without the program name), and says whether to serve, print the help
// or print the version. Secrets not given are left nil; loadSecrets fills
// them from the data dir.
func loadConfig(args []string, getenv func(string) string) (Config, startMode, error) {
	mode := modeServe
	if len(args) > 0 && args[0] == "config" {
		if len(args) < 2 || args[1] != "print" {
			return Config{}, modeServe, fmt.Errorf("%w: want \"seshat config print [flags]\"", errUsage)
		}
		mode, args = modeConfigPrint, args[2:]
	}
	var cfg Config
	for _, s := range settings {
		if s.def == "" {
			continue
		}
		if err := setValue(s.field(&cfg), s.def); err != nil {
			panic(fmt.Sprintf("settings table: default of %s: %v", s.env, err))
		}
	}
	if path := configFilePath(args, getenv); path != "" {
		vals, err := readConfigFile(path)
		if err == nil {
			err = applyConfigFile(&cfg, path, vals)
		}
		if err != nil {
			return Config{}, modeServe, fmt.Errorf("%w: config file: %w", errUsage, err)
		}
	}
	var errs []error
	for _, s := range settings {
		v := getenv(s.env)
		if _, raw := s.field(&cfg).(*[]byte); !raw {
			v = strings.TrimSpace(v)
		}
		if v == "" {
			continue
		}
		if err := setValue(s.field(&cfg), v); err != nil {
			shown := strconv.Quote(v)
			if s.secret {
				shown = "(secret)"
			}
			errs = append(errs, fmt.Errorf("%s=%s: %w", s.env, shown, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, modeServe, fmt.Errorf("%w: %w", errUsage, err)
	}

	fs := flag.NewFlagSet("seshat", flag.ContinueOnError)
	// The flag package's own usage text would list only the flags; the
	// caller prints the whole table instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range settings {
		if s.flag != "" {
			fs.Var(flagValue{dst: s.field(&cfg)}, s.flag, s.usage)
		}
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, modeHelp, nil
		}
		return Config{}, modeServe, fmt.Errorf("%w: %w (seshat -help lists the settings)", errUsage, err)
	}
	if *showVersion {
		return Config{}, modeVersion, nil
	}
	if fs.NArg() > 0 {
		return Config{}, modeServe, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := validate(cfg); err != nil {
		return Config{}, modeServe, fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.DefaultModel == "" {
		cfg.DefaultModel = defaultModel(cfg)
	}
	return cfg, mode, nil
}

// validate checks what the types of the settings do not.
func validate(cfg Config) error {
	var bad []error
	if cfg.Addr == "" {
		bad = append(bad, errors.New("the listen address is empty"))
	}
	if cfg.DataDir == "" {
		bad = append(bad, errors.New("the data dir is empty"))
	}
	if cfg.LogFormat != logText && cfg.LogFormat != logJSON {
		bad = append(bad, fmt.Errorf("SESHAT_LOG_FORMAT=%q: want text or json", cfg.LogFormat))
	}
	if cfg.Signup != signupOpen && cfg.Signup != signupInvite && cfg.Signup != signupClosed {
		bad = append(bad, fmt.Errorf("SESHAT_SIGNUP=%q: want open, invite or closed", cfg.Signup))
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"SESHAT_REGISTER_PER_MINUTE", cfg.RegisterPerMinute},
		{"SESHAT_MAX_CONNS", cfg.MaxConns},
		{"SESHAT_MAX_CONNS_PER_IP", cfg.MaxConnsPerIP},
	} {
		if n.v < 0 {
			bad = append(bad, fmt.Errorf("%s must not be negative (0 is the default or no limit)", n.name))
		}
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
		{"SESHAT_SSE_IDLE_LIFETIME", cfg.SSEIdleLifetime},
		{"SESHAT_SSE_WRITE_TIMEOUT", cfg.SSEWriteTimeout},
		{"SESHAT_READ_TIMEOUT", cfg.ReadTimeout},
		{"SESHAT_SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout},
		{"SESHAT_MEMORY_EXTRACT_TIMEOUT", cfg.MemoryExtractTimeout},
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
	if cfg.MaxJobsPerUser <= 0 {
		bad = append(bad, errors.New("SESHAT_MAX_JOBS_PER_USER must be positive"))
	}
	if cfg.MaxToolUsesPerResponse <= 0 || cfg.MaxToolUsesPerTurn <= 0 {
		bad = append(bad, errors.New("SESHAT_MAX_TOOL_USES_PER_RESPONSE and SESHAT_MAX_TOOL_USES_PER_TURN must be positive"))
	}
	if cfg.JobRunHistory <= 0 {
		bad = append(bad, errors.New("SESHAT_JOB_RUN_HISTORY must be positive"))
	}
	if cfg.SkillsBudget <= 0 || cfg.SkillMaxBytes <= 0 {
		bad = append(bad, errors.New("SESHAT_SKILLS_BUDGET and SESHAT_SKILL_MAX_BYTES must be positive"))
	}
	if cfg.MemoryWorkers <= 0 {
		bad = append(bad, errors.New("SESHAT_MEMORY_WORKERS must be positive"))
	}
	if cfg.KnowledgeWorkers <= 0 {
		bad = append(bad, errors.New("SESHAT_KNOWLEDGE_WORKERS must be positive"))
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
	bad = append(bad, validateCluster(cfg)...)
	return errors.Join(bad...)
}

// setValue parses v into dst, one of the field types the settings table
// allows.
func setValue(dst any, v string) error {
	switch d := dst.(type) {
	case *string:
		*d = v
	case *[]byte:
		*d = []byte(v)
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*d = b
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("want an integer")
		}
		*d = n
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		*d = n
	case *time.Duration:
		t, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a Go duration such as 30s or 5m")
		}
		*d = t
	default:
		return fmt.Errorf("unsupported setting type %T", dst)
	}
	return nil
}

// flagValue is a flag.Value over a settings-table field.
type flagValue struct{ dst any }

func (f flagValue) Set(v string) error { return setValue(f.dst, v) }

// String is what the flag package shows as the default; the help prints
// the table's own defaults instead.
func (f flagValue) String() string { return "" }

// IsBoolFlag lets a boolean flag stand alone (-debug).
func (f flagValue) IsBoolFlag() bool {
	_, ok := f.dst.(*bool)
	return ok
}

// shownDefault is a setting's default as -help and the README show it.
func (s setting) shownDefault() string {
	if s.defNote != "" {
		return s.defNote
	}
	return s.def
}

// writeHelp prints the usage line and every setting of the table with
// its flag, environment variable and default.
func writeHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: seshat [-config FILE] [-addr ADDR] [-data-dir DIR] [-debug] [-version] [-help]
       seshat config print [flags]

Seshat host serves its HTTP API with its embedded store in the data directory.
Flags win over environment variables, which win over the configuration file
(-config FILE or SESHAT_CONFIG), which wins over the defaults. Durations use
Go syntax (30s, 5m, 1h). "seshat config print [flags]" prints the effective
configuration with secrets masked.

  -version
      print the version and exit
  -help
      print this help and exit

Settings:
`)
	for _, s := range settings {
		names := s.env
		if s.flag != "" {
			names = "-" + s.flag + ", " + s.env
		}
		def := s.shownDefault()
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  %s (default %s)\n      %s\n", names, def, s.usage)
	}
}

// settingsMarkdown renders the settings table as the README's
// configuration table.
func settingsMarkdown() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		flagCol := ""
		if s.flag != "" {
			flagCol = "`-" + s.flag + "`"
		}
		def := s.shownDefault()
		if def != "" && s.defNote == "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", flagCol, s.env, def, s.usage)
	}
	return b.String()
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
