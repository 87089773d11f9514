package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Config configures a Server.
type Config struct {
	// MaxMessageBytes caps each message a client sends, as the REST API
	// caps JSON bodies. If zero, 4 MiB.
	MaxMessageBytes int
	// StreamWriteTimeout bounds how long one message of a stream may wait
	// for a client that does not read; the stream is then cut, and the
	// client may re-attach. If zero, 30s.
	StreamWriteTimeout time.Duration
	// Keepalive is how long a connection may be idle before the server
	// pings it (and closes it if the ping goes unanswered), so that
	// vanished clients free their streams. If zero, 15s.
	Keepalive time.Duration
	// ReadHeaderTimeout bounds reading a request's headers. If zero, 15s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds how long a connection without calls stays open.
	// If zero, 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers. If zero, 16 KiB.
	MaxHeaderBytes int
	// Logger receives the server's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// Authenticator resolves a bearer credential (a JWT or an sk- API key) to
// its principal: the REST server's resolver. *auth.Service implements it.
type Authenticator interface {
	Authenticate(credential string) (auth.Principal, error)
}

// RequestAdmitter counts a caller's requests against their quota.
// *quota.Ledger implements it.
type RequestAdmitter interface {
	AdmitRequest(userID string) error
}

// Deps are the backends the handlers call. A nil family backend makes its
// service answer Unimplemented.
type Deps struct {
	// Auth resolves credentials. Required.
	Auth Authenticator
	// Admitter, if set, counts every authenticated call against the
	// caller's requests_per_minute quota, as REST does.
	Admitter RequestAdmitter
	// Audit, if set, records every call that changes something in the
	// audit log, as REST does (see audit.go).
	Audit AuditLog
	// Sessions serves SessionService.
	Sessions Sessions
	// Turns serves QueryService.
	Turns Turns
	// Permissions serves PermissionService.
	Permissions Permissions
	// Files serves FileService.
	Files Files
	// Jobs serves JobService.
	Jobs Jobs
	// Memories serves MemoryService.
	Memories Memories
	// MCP serves McpService.
	MCP MCP
	// Corpora serves CorpusService.
	Corpora Corpora
	// Skills serves SkillService.
	Skills Skills
	// Plans serves PlanService.
	Plans Plans
	// Agents serves AgentService.
	Agents Agents
}

// Server is the gRPC API server.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	srv     *http.Server
	health  *grpchealth.StaticChecker
	names   []string
	handler http.Handler

	// baseCtx is cancelled when Shutdown begins: streams and waiting
	// queries watch it.
	baseCtx    context.Context
	cancelBase context.CancelFunc
	shutdown   atomic.Bool
}

// New validates cfg and deps, fills in defaults and builds the server. It
// starts nothing: Serve does.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Auth == nil {
		return nil, errors.New("grpcapi: Deps.Auth is required")
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 4 << 20
	}
	if cfg.StreamWriteTimeout == 0 {
		cfg.StreamWriteTimeout = 30 * time.Second
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = 15 * time.Second
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 15 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 16 << 10
	}
	if cfg.MaxMessageBytes < 0 || cfg.StreamWriteTimeout < 0 || cfg.Keepalive < 0 ||
		cfg.ReadHeaderTimeout < 0 || cfg.IdleTimeout < 0 || cfg.MaxHeaderBytes < 0 {
		return nil, errors.New("grpcapi: limits and timeouts must not be negative")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, deps: deps, log: log.With("component", "grpc"), baseCtx: base, cancelBase: cancel}

	opts := []connect.HandlerOption{
		connect.WithRequestGate(s.gate),
		connect.WithInterceptors(errorInterceptor{s}, auditInterceptor{s}),
		connect.WithRecover(s.recovered),
		connect.WithReadMaxBytes(cfg.MaxMessageBytes),
	}
	for _, c := range jsonCodecs {
		opts = append(opts, connect.WithCodec(c))
	}
	mux := http.NewServeMux()
	for _, svc := range s.services(opts) {
		s.names = append(s.names, svc.name)
		mux.Handle(svc.path, svc.handler)
	}
	// Reflection and health need no credential: they describe the API and
	// the server, as GET /api/v1/openapi.json and /health do.
	reflector := grpcreflect.NewStaticReflector(append([]string{grpchealth.HealthV1ServiceName}, s.names...)...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	s.health = grpchealth.NewStaticChecker(s.names...)
	mux.Handle(grpchealth.NewHandler(s.health))
	s.handler = withWriteControl(s.endsAtShutdown(mux))

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	// gRPC clients speak HTTP/2; without TLS that is h2c with prior
	// knowledge.
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:           s.handler,
		Protocols:         protocols,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: cfg.Keepalive,
			PingTimeout:     cfg.Keepalive,
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// service is one mounted Connect service.
type service struct {
	name    string
	path    string
	handler http.Handler
}

// services lists every service of package seshat.v1 with its handler:
// the family's translation over its backend, or Unimplemented where the
// family is not wired yet. Each service's handler lives in its own file.
func (s *Server) services(opts []connect.HandlerOption) []service {
	return []service{
		mounted(seshatv1connect.NewSessionServiceHandler(s.sessionService(), opts...)),
		mounted(seshatv1connect.NewQueryServiceHandler(s.queryService(), opts...)),
		mounted(seshatv1connect.NewPermissionServiceHandler(s.permissionService(), opts...)),
		mounted(seshatv1connect.NewFileServiceHandler(s.fileService(), opts...)),
		mounted(seshatv1connect.NewJobServiceHandler(s.jobService(), opts...)),
		mounted(seshatv1connect.NewCorpusServiceHandler(s.corpusService(), opts...)),
		mounted(seshatv1connect.NewMemoryServiceHandler(s.memoryService(), opts...)),
		mounted(seshatv1connect.NewPlanServiceHandler(s.planService(), opts...)),
		mounted(seshatv1connect.NewAgentServiceHandler(s.agentService(), opts...)),
		mounted(seshatv1connect.NewSkillServiceHandler(s.skillService(), opts...)),
		mounted(seshatv1connect.NewMcpServiceHandler(s.mcpService(), opts...)),
	}
}

// mounted names a service by its path, "/seshat.v1.NameService/".
func mounted(path string, h http.Handler) service {
	return service{name: strings.Trim(path, "/"), path: path, handler: h}
}

// Handler is the server's HTTP handler: every service, reflection and
// health. Serve serves it; tests and benchmarks may mount it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// ServiceNames lists the API's services by their full names.
func (s *Server) ServiceNames() []string { return append([]string(nil), s.names...) }

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown and the listener's error otherwise.
func (s *Server) Serve(ln net.Listener) error {
	if s.shutdown.Load() {
		return errors.New("grpcapi: server is shut down")
	}
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server gracefully: the health service turns to
// NOT_SERVING, open streams end (Unavailable), the listener closes and
// Shutdown waits, until ctx is done, for the calls in flight; then it
// closes what is left. Calling it again returns nil at once.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutdown.CompareAndSwap(false, true) {
		return nil
	}
	s.health.SetStatus("", grpchealth.StatusNotServing)
	for _, n := range s.names {
		s.health.SetStatus(n, grpchealth.StatusNotServing)
	}
	s.cancelBase()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("grpcapi: drain: %w", err), s.srv.Close())
	}
	return err
}

// endsAtShutdown cancels each call's context when Shutdown begins, for the
// long-lived calls the server does not run itself (health watches,
// reflection sessions), so that they do not hold the drain until its
// deadline. The API's own streams watch baseCtx explicitly and end with
// shutting_down; unary calls in flight finish.
func (s *Server) endsAtShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		if isUnmanagedStream(r.URL.Path) {
			stop := context.AfterFunc(s.baseCtx, cancel)
			defer stop()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isUnmanagedStream reports whether path is a streaming procedure of the
// health or reflection services.
func isUnmanagedStream(path string) bool {
	switch path {
	case "/grpc.health.v1.Health/Watch",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo":
		return true
	}
	return false
}

// writeControlKey is the context key of a call's http.ResponseController.
type writeControlKey struct{}

// withWriteControl puts the call's ResponseController in its context, so
// that streams can set a rolling write deadline before each message.
func withWriteControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), writeControlKey{}, rc)))
	})
}

// setWriteDeadline bounds the next write of the call in ctx.
func setWriteDeadline(ctx context.Context, d time.Duration) {
	if rc, ok := ctx.Value(writeControlKey{}).(*http.ResponseController); ok {
		_ = rc.SetWriteDeadline(time.Now().Add(d))
	}
}
