package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/files"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/http/sse"
	"github.com/seshat-host/seshat/persist"
)

// uploadSlack is what a multipart upload may carry on top of the file
// itself: boundaries, part headers and the small form fields.
const uploadSlack = 1 << 20

// Config configures a Server.
type Config struct {
	// PathPrefix is the path under which browsers reach the server, when a
	// reverse proxy serves it below one (SESHAT_PUBLIC_URL's path, such as
	// "/seshat"): GET / redirects to PathPrefix + "/console/". If empty,
	// the server is at the root.
	PathPrefix string
	// Debug enables the CORS allowlist for browser clients served from
	// http(s)://localhost, 127.0.0.1 or [::1] on any port.
	Debug bool
	// MaxBodyBytes caps request bodies on every route that does not declare
	// its own cap (JSON routes). If zero, 4 MiB.
	MaxBodyBytes int
	// MaxUploadBytes caps the size of an uploaded file. If zero, 50 MiB.
	MaxUploadBytes int64
	// ReadTimeout bounds reading one request, headers and body. If zero,
	// 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Streaming handlers lift it
	// for themselves. If zero, 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. If zero, 120s.
	IdleTimeout time.Duration
	// TransferTimeout replaces ReadTimeout for an upload's body and
	// WriteTimeout for a file download, which may be large. If zero, 10m.
	TransferTimeout time.Duration
	// ReadBufferSize is the per-connection read buffer, which also caps the
	// total size of request headers (larger gets 431). If zero, 16 KiB.
	ReadBufferSize int
	// MaxConns caps the connections served at once (fasthttp's
	// Concurrency): one more is answered 503 and closed at once, so that
	// idle connections cannot take every file descriptor. If zero,
	// fasthttp's default (262144).
	MaxConns int
	// MaxConnsPerIP caps the connections of one client address: one more
	// is answered 429 and closed. If zero, no cap.
	MaxConnsPerIP int
	// AccessLog logs one line per request at info: method, route pattern,
	// status, duration, request id and user id. If false, none.
	AccessLog bool
	// SSE tunes event streams (keepalive, rolling write deadline); zero
	// fields get the sse package's defaults.
	SSE sse.Config
	// Logger receives the server's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Registerer is where the server registers its metrics. If nil, a new
	// registry private to the server.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics and /api/v1/metrics report. If nil, the
	// Registerer when it is also a Gatherer (as *prometheus.Registry is),
	// else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
}

// Deps are the backends the handlers call.
type Deps struct {
	// Store holds users, workspaces and files. Required.
	Store *persist.Store
	// Auth verifies credentials and runs account operations. Required.
	Auth *auth.Service
	// Runtime is the agent runtime behind every route but auth, files,
	// health and metrics. If nil, those routes answer 503.
	Runtime Runtime
	// Tenancy serves organizations, groups, workspaces, account
	// administration, preferences and the audit log; it is set with
	// Runtime. *tenancy.Service implements it.
	Tenancy Tenancy
	// Providers serves the provider settings and the model listings and
	// routing of the Anthropic-compatible routes; it is set with Runtime.
	// *routing.Service implements it.
	Providers Providers
	// Quotas serves the quota routes and counts every authenticated
	// request against the caller's requests_per_minute; it is set with
	// Runtime. *quota.Ledger implements it.
	Quotas QuotaLedger
	// Files serves the files routes. If nil, a files.Service over Store
	// with Config.MaxUploadBytes.
	Files Files
	// Memories serves the memories family. If nil, its routes answer 503.
	Memories Memories
	// Tools serves MCP servers and web search. If nil, those routes
	// answer 503.
	Tools ToolFamily
	// Knowledge serves corpora and the embedder and storage settings. If
	// nil, those routes answer 503. *knowledge.Service implements it.
	Knowledge Knowledge
	// Skills serves the skills family. If nil, its routes answer 503.
	Skills Skills
	// Plans serves the plans family. If nil, its routes answer 503.
	Plans Plans
	// Agents serves the agent profiles family. If nil, its routes answer
	// 503.
	Agents Agents
}

// Providers is the provider settings' and model listings' view of
// actors/routing.
type Providers interface {
	ProviderSettings
	ModelCatalog
}

// QuotaLedger is the quota routes' and the request admission's view of
// actors/quota.
type QuotaLedger interface {
	Quotas
	RequestAdmitter
}

// Tenancy is the tenancy family's routes' view of actors/tenancy.
type Tenancy interface {
	Organizations
	Groups
	Workspaces
	Users
	Audit
	Invitations
}

// Runtime is everything the handlers need of the agent runtime, as one
// narrow interface per API family. *host.Host implements it; a
// cluster-backed host could too.
type Runtime interface {
	Sessions
	Jobs
}

// Server is the HTTP API server.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	srv      *fasthttp.Server
	gatherer prometheus.Gatherer
	metrics  *httpMetrics
	// access places audited resources in their workspace and
	// organization.
	access *tenancy.Access
	prom   fasthttp.RequestHandler
	// bodyLimits holds the routes that declare their own body cap, by
	// method and path. Only static paths can be found from the raw header
	// in HeaderReceived; routes with parameters keep MaxBodyBytes.
	bodyLimits map[string]map[string]int
	// openapiDoc is the OpenAPI document of the route table, rendered once.
	openapiDoc []byte

	baseCtx    context.Context
	cancelBase context.CancelFunc
	// opCtx is baseCtx without its cancellation, for short store calls:
	// graceful shutdown lets them finish.
	opCtx    context.Context
	shutdown atomic.Bool
	// streams counts the streams that took over their connection; Shutdown
	// waits for them as fasthttp waits for its own connections.
	streams sync.WaitGroup
}

// New validates cfg and deps, fills in defaults, registers the metrics and
// builds the server. It starts nothing: Serve does.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Auth == nil {
		return nil, errors.New("httpapi: Deps.Store and Deps.Auth are required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = 50 << 20
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 15 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.TransferTimeout == 0 {
		cfg.TransferTimeout = 10 * time.Minute
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = 16 << 10
	}
	cfg.PathPrefix = strings.TrimRight(cfg.PathPrefix, "/")
	if cfg.PathPrefix != "" && !strings.HasPrefix(cfg.PathPrefix, "/") {
		return nil, fmt.Errorf("httpapi: PathPrefix %q must start with /", cfg.PathPrefix)
	}
	if cfg.MaxBodyBytes < 0 || cfg.MaxUploadBytes < 0 || cfg.ReadBufferSize < 0 || cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 ||
		cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 || cfg.IdleTimeout < 0 || cfg.TransferTimeout < 0 {
		return nil, errors.New("httpapi: limits and timeouts must not be negative")
	}
	if cfg.MaxUploadBytes > int64(maxInt-uploadSlack) {
		return nil, fmt.Errorf("httpapi: MaxUploadBytes %d too large", cfg.MaxUploadBytes)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registerer
	gath := cfg.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if gath == nil {
			gath = r
		}
	}
	if gath == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gath = g
		} else {
			gath = prometheus.DefaultGatherer
		}
	}
	if deps.Runtime != nil && (deps.Tenancy == nil || deps.Providers == nil || deps.Quotas == nil) {
		return nil, errors.New("httpapi: Deps.Tenancy, Deps.Providers and Deps.Quotas are required with Deps.Runtime")
	}
	if deps.Files == nil {
		fs, err := files.New(files.Config{Store: deps.Store, MaxUploadBytes: cfg.MaxUploadBytes})
		if err != nil {
			return nil, err
		}
		deps.Files = fs
	}
	m, err := newHTTPMetrics(reg)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		deps:       deps,
		log:        log.With("component", "http"),
		gatherer:   gath,
		metrics:    m,
		prom:       newPromHandler(gath),
		bodyLimits: make(map[string]map[string]int),
		baseCtx:    base,
		cancelBase: cancel,
		opCtx:      context.WithoutCancel(base),
		access:     tenancy.NewAccess(deps.Store),
	}

	if s.openapiDoc, err = s.buildOpenAPI(); err != nil {
		cancel()
		return nil, err
	}

	r := router.New()
	// A JSON API answers a wrong path with 404, not a redirect to a guess.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = true
	r.NotFound = s.notFound
	r.MethodNotAllowed = s.methodNotAllowed
	r.PanicHandler = s.routerPanic
	for _, rt := range s.routes() {
		if rt.maxBody > 0 && strings.ContainsAny(rt.path, "{}*") {
			// headerReceived matches the raw path; it cannot match a pattern.
			return nil, fmt.Errorf("httpapi: route %s %s: only static paths may set maxBody", rt.method, rt.path)
		}
		if rt.maxBody > 0 {
			if s.bodyLimits[rt.method] == nil {
				s.bodyLimits[rt.method] = make(map[string]int)
			}
			s.bodyLimits[rt.method][rt.path] = rt.maxBody
		}
		r.Handle(rt.method, rt.path, s.adapt(rt))
	}

	s.srv = &fasthttp.Server{
		Handler:               s.withRequestID(s.withAccessLog(s.withMetrics(s.withRecover(s.withBodyCap(s.withCORS(r.Handler)))))),
		ErrorHandler:          s.serveError,
		HeaderReceived:        s.headerReceived,
		Name:                  "seshat",
		NoDefaultServerHeader: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        cfg.ReadBufferSize,
		// JSON routes get MaxBodyBytes; HeaderReceived raises the cap for
		// the routes that declare their own, so a large JSON body is
		// refused from its Content-Length before any of it is buffered.
		MaxRequestBodySize: cfg.MaxBodyBytes,
		// Multipart bodies are parsed while they are read, with files over
		// 16 MiB spilled to temporary files, so an upload is never held in
		// memory whole.
		DisablePreParseMultipartForm: false,
		// A held stream or an idle keep-alive connection then holds no read
		// or write buffer: they go back to fasthttp's pools between requests.
		ReduceMemoryUsage: true,
		// A stream that takes over its connection closes it itself when
		// it ends, which may be long after the hijack handler returned
		// (driveStream).
		KeepHijackedConns: true,
		CloseOnShutdown:   true,
		Concurrency:       cfg.MaxConns,
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		Logger:            fasthttpLogger{s.log},
	}
	return s, nil
}

const maxInt = int(^uint(0) >> 1)

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown and the listener's error otherwise. Accept errors that pass
// (out of file descriptors, among others) are retried with a back-off,
// never returned: a flood of connections cannot stop the server.
func (s *Server) Serve(ln net.Listener) error {
	if s.shutdown.Load() {
		return errors.New("httpapi: server is shut down")
	}
	err := s.srv.Serve(newRetryListener(ln, s.log))
	if s.shutdown.Load() {
		return nil
	}
	return err
}

// Shutdown stops the server gracefully: it cancels BaseContext (so that
// streams end), closes the listeners and waits, until ctx is done, for the
// open connections to finish. Calling it again returns nil at once.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutdown.CompareAndSwap(false, true) {
		return nil
	}
	s.cancelBase()
	err := s.srv.ShutdownWithContext(ctx)
	return errors.Join(err, s.waitStreams(ctx))
}

// BaseContext is cancelled when Shutdown begins. Long-lived responses watch
// it, since fasthttp gives a handler no per-request cancellation.
func (s *Server) BaseContext() context.Context { return s.baseCtx }

// headerReceived raises the body cap (and the read timeout) of the routes
// that declare their own cap. It sees the raw request target: a path that
// only routes there after normalization keeps the default cap, which fails
// closed.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	byPath := s.bodyLimits[string(h.Method())]
	if byPath == nil {
		return fasthttp.RequestConfig{}
	}
	uri := h.RequestURI()
	for i, c := range uri {
		if c == '?' {
			uri = uri[:i]
			break
		}
	}
	if n, ok := byPath[string(uri)]; ok {
		return fasthttp.RequestConfig{MaxRequestBodySize: n, ReadTimeout: s.cfg.TransferTimeout}
	}
	return fasthttp.RequestConfig{}
}

// bodyLimit is the body cap of a request after routing-time normalization.
func (s *Server) bodyLimit(method, path []byte) int {
	if n, ok := s.bodyLimits[string(method)][string(path)]; ok {
		return n
	}
	return s.cfg.MaxBodyBytes
}

// fasthttpLogger sends fasthttp's own messages (connection errors it does
// not hand to ErrorHandler) to slog at debug level: they concern one client
// and are noise at info.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "source", "fasthttp")
	}
}
