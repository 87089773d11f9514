// Command seshat runs the Seshat host: the HTTP API server with its
// embedded store.
//
// main only maps run's error to an exit code; run does the wiring (config,
// secrets, store, auth, HTTP server) and the ordered shutdown, and takes
// its arguments, environment and output as parameters so that the
// end-to-end tests can run the real server in process. run logs the line
// "listening on ADDR", with the bound address, once the listener is open;
// tests read the address from that line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/seshat-host/seshat/actors/mcpconn"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/actors/websearch"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seshat-host/seshat/actors/cluster"
	"github.com/seshat-host/seshat/actors/files"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/actors/memory"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/http/grpcapi"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/http/sse"
	"github.com/seshat-host/seshat/persist"
)

func main() {
	// Libraries get their logger injected; the default logger only catches
	// strays, at run's default level.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "seshat:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "seshat:", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then shuts down in order and returns
// nil. It returns an error if the server cannot start or stops on its own.
// -help and -version print to stdout and return nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "healthcheck" {
		return runHealthcheck(ctx, args[1:], getenv, stdout)
	}
	if len(args) > 0 && args[0] == "migrate" {
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, mode, err := loadConfig(args, getenv)
	if err != nil {
		return err
	}
	switch mode {
	case modeHelp:
		writeHelp(stdout)
		return nil
	case modeVersion:
		fmt.Fprintln(stdout, "seshat", serverVersion())
		return nil
	case modeConfigPrint:
		writeEffectiveConfig(stdout, cfg)
		return nil
	}
	log := newLogger(cfg, stderr)

	soft, hard, err := raiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open file limit", "soft", soft, "hard", hard, "error", err)
	} else {
		log.Info("open file limit", "soft", soft, "hard", hard)
	}
	if cfg.MaxConns == 0 && soft > 0 {
		// The rest of the descriptors stay for the store, uploads, streams'
		// upstream calls and the runtime.
		cfg.MaxConns = max(1, int(min(soft, 1<<30)*9/10))
	}
	if cfg.MaxConns > 0 {
		// A stream holds its connection: streams may take three quarters
		// of the connections at most (refused with 429 beyond), so other
		// requests still get through.
		cfg.MaxStreams = min(cfg.MaxStreams, max(16, cfg.MaxConns*3/4))
	}

	// Bind first: a busy port must fail before anything is written to the
	// data dir.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	// The gRPC listener is bound here too, so that both APIs fail fast on
	// a busy port and accept calls once "listening on" is logged.
	var gln net.Listener
	if cfg.GRPCAddr != "" {
		if gln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return fmt.Errorf("grpc listen: %w", err)
		}
		defer func() {
			if err != nil {
				gln.Close()
			}
		}()
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(context.Background(), cfg.DebugAddr, log)
		if err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
		defer stopDebug()
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Secrets first: the store seals provider credentials with the
	// master key and checks it at Open.
	if err := loadSecrets(&cfg, log); err != nil {
		return err
	}
	store, err := persist.Open(persist.Config{
		Dir:     cfg.DataDir,
		URL:     cfg.Store,
		BlobDir: cfg.BlobDir,
		// A second server on the same data dir must fail fast.
		OpenTimeout: time.Second,
		Logger:      log,
		MasterKey:   storeKey(cfg.MasterKey),
		// Entries older than this go, the chain staying verifiable.
		AuditRetention: cfg.AuditRetention,
	})
	if errors.Is(err, persist.ErrLocked) {
		return &plainError{msg: fmt.Sprintf("data dir %s is in use by another seshat process", cfg.DataDir), cause: err}
	}
	if errors.Is(err, persist.ErrWrongMasterKey) {
		return &plainError{msg: fmt.Sprintf("SESHAT_MASTER_KEY is not the key the provider credentials in %s were sealed with; "+
			"start with the original key (or without SESHAT_MASTER_KEY to use the one kept in %s)",
			cfg.DataDir, secretsFileName), cause: err}
	}
	if err != nil {
		return fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	if err := applyStoredStorage(&cfg, store); err != nil {
		return errors.Join(err, store.Close())
	}
	srv, gsrv, hst, fam, err := newServer(cfg, store, log)
	if err != nil {
		return errors.Join(err, store.Close())
	}
	// Re-arm every enabled job; runs missed while the server was down are
	// not replayed.
	if err := hst.StartJobs(ctx, host.JobsConfig{RunHistory: cfg.JobRunHistory, MaxJobsPerUser: cfg.MaxJobsPerUser, Runtime: fam.jobRuntime(hst)}); err != nil {
		return errors.Join(fmt.Errorf("start the scheduler: %w", err), hst.Close(context.Background()), fam.Close(context.Background()), store.Close())
	}
	if gln != nil {
		gaddr := gln.Addr().String()
		log.Info("serving gRPC on "+gaddr, "addr", gaddr)
	}
	addr := ln.Addr().String()
	log.Info("listening on "+addr, "addr", addr, "data_dir", cfg.DataDir, "version", serverVersion(),
		"debug", cfg.Debug, "signup", cfg.Signup, "max_conns", cfg.MaxConns)

	// served receives each server's Serve result: one, or two with gRPC.
	served := make(chan error, 2)
	serving := 1
	go func() { served <- srv.Serve(ln) }()
	if gsrv != nil {
		serving++
		go func() { served <- gsrv.Serve(gln) }()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
		serving--
		log.Error("server stopped unexpectedly", "error", serveErr)
	}

	// Shutdown order: stop accepting and end streams (REST and gRPC
	// together), snapshot live sessions, close the store. Each Shutdown
	// cancels its server's base context as it starts, so open streams end
	// at once instead of holding the drain until the grace period runs
	// out; a gRPC stream ending interrupts nothing but itself.
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	grpcDone := make(chan error, 1)
	go func() {
		if gsrv == nil {
			grpcDone <- nil
			return
		}
		grpcDone <- gsrv.Shutdown(graceCtx)
	}()
	shutdownErr := errors.Join(srv.Shutdown(graceCtx), <-grpcDone)
	for ; serving > 0; serving-- {
		if err := <-served; err != nil && serveErr == nil {
			serveErr = err
		}
	}
	// Every live session is snapshotted (running turns recorded as
	// interrupted) before the store closes.
	fam.leaveCluster(graceCtx)
	hostErr := hst.Close(graceCtx)
	// Extractions the last turns queued finish (or are cancelled at the
	// grace period's end), and MCP connections and their processes end,
	// before the store closes.
	memErr := fam.Close(graceCtx)
	closeErr := store.Close()
	if err := errors.Join(serveErr, shutdownErr, hostErr, memErr, closeErr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newServer builds the auth service, the metrics registry, the session
// host, the HTTP server and, when cfg.GRPCAddr is set, the gRPC server
// (else nil). cfg's secrets must be loaded.
func newServer(cfg Config, store *persist.Store, log *slog.Logger) (*httpapi.Server, *grpcapi.Server, *host.Host, *families, error) {
	registrations := cfg.RegisterPerMinute
	if registrations == 0 {
		registrations = -1 // SESHAT_REGISTER_PER_MINUTE=0 turns the cap off
	}
	authSvc, err := auth.New(auth.Config{
		Secret:                 cfg.JWTSecret,
		Store:                  store,
		BcryptCost:             cfg.BcryptCost,
		Signup:                 auth.SignupPolicy(cfg.Signup),
		RegistrationsPerMinute: registrations,
		Invitations:            invitationLookup{store: store},
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if cfg.AnthropicAPIKey == "" && cfg.OpenAIAPIKey == "" && cfg.OpenAIBaseURL == "" {
		log.Warn("no provider API key set; default model is " + cfg.DefaultModel)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Provider settings route models per user over the server-wide
	// providers configured from the environment.
	selector, err := routing.New(routing.Config{
		Store:            store,
		Registry:         providers(cfg, log),
		OAuthRedirectURL: oauthRedirectURL(cfg),
		FencedHTTPClient: providerFence(cfg),
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ten, err := tenancy.New(tenancy.Config{Store: store, Models: selector, Emails: auth.NormalizeEmail})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ledger, err := quota.New(quota.Config{
		Store:             store,
		ReserveTokens:     cfg.QuotaReserveTokens,
		MaxTurnsPerUser:   cfg.MaxTurnsPerUser,
		MaxStreamsPerUser: cfg.MaxStreamsPerUser,
		MaxStreams:        cfg.MaxStreams,
		Logger:            log,
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// The memories family extracts with the session's model and reads
	// sessions through the host, which in turn runs its extension.
	var hst *host.Host
	// rt is the runtime facade (the host, or the cluster node), made
	// after the families that reach sessions through it.
	var rt runtimeFacade
	mem, err := memory.New(memory.Config{
		Store: store,
		// Extraction's model calls count against the user's quotas, as
		// the turn's do.
		Providers: lateSelector(func() provider.Selector { return hst.ModelSelector() }),
		Sessions: func(ctx context.Context, userID, sessionID string) (memory.Conversation, error) {
			return sessionConversations(rt, cfg.DefaultModel)(ctx, userID, sessionID)
		},
		Workers:        cfg.MemoryWorkers,
		ExtractTimeout: cfg.MemoryExtractTimeout,
		Logger:         log,
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	mcpMgr, err := mcpconn.New(mcpconn.Config{
		Store: store, Logger: log.With("component", "mcp"), AllowPrivate: cfg.AllowPrivateUpstreams,
		CallTimeout: cfg.MCPCallTimeout, WorkDir: cfg.DataDir,
	})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, mem.Close(context.Background()))
	}
	fam := &families{mem: mem, mcp: mcpMgr}
	if fam.knowledge, err = newKnowledge(cfg, store, ledger, log); err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	ten.OnUserDisabled(fam.knowledge.EndUser)
	web, err := websearch.New(websearch.Config{Store: store, AllowPrivate: cfg.AllowPrivateUpstreams})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	skl, err := newSkills(cfg, store, log)
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	pln, err := newPlans(store, &rt)
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	agt, err := newAgents(store, mcpMgr, skl, log)
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	hst, err = host.New(host.Config{
		Profiles:   agt,
		Store:      store,
		Providers:  selector,
		Tenancy:    ten,
		Ledger:     ledger,
		Extensions: []turn.Extension{mem.Extension(), mcpMgr.Extension(), web.Extension(), fam.knowledge.Extension(), skl.Extension(), pln.Extension(), agt.Extension()},
		Session: session.Config{
			Idle:              cfg.SessionIdle,
			PermissionTimeout: cfg.PermissionTimeout,
			DefaultModel:      cfg.DefaultModel,
			MaxSubscribers:    cfg.MaxSubscribers,
			MaxTurnEvents:     cfg.MaxTurnEvents,
			// A stream waiting for a turn that does not come gives its
			// slot back.
			StreamIdleLifetime: cfg.SSEIdleLifetime,
		},
		Logger:     log,
		Registerer: reg,

		MaxToolUsesPerResponse: cfg.MaxToolUsesPerResponse,
		MaxToolUsesPerTurn:     cfg.MaxToolUsesPerTurn,
	})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, fam.Close(context.Background()))
	}
	var node *cluster.Node
	rt, node, err = runtimeFor(cfg, store, hst, log)
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, hst.Close(context.Background()), fam.Close(context.Background()))
	}
	fam.cluster = node
	srv, err := httpapi.New(httpapi.Config{
		PathPrefix:     publicPathPrefix(cfg),
		Debug:          cfg.Debug,
		MaxUploadBytes: cfg.MaxUploadBytes,
		ReadTimeout:    cfg.ReadTimeout,
		MaxConns:       cfg.MaxConns,
		MaxConnsPerIP:  cfg.MaxConnsPerIP,
		AccessLog:      cfg.AccessLog,
		SSE:            sse.Config{Keepalive: cfg.SSEKeepalive, WriteTimeout: cfg.SSEWriteTimeout},
		Logger:         log,
		Registerer:     reg,
		Gatherer:       reg,
	}, httpapi.Deps{Store: store, Auth: authSvc, Runtime: rt, Tenancy: ten, Providers: selector, Quotas: ledger, Memories: memoryAPI{svc: mem}, Tools: toolFamily{mcp: mcpMgr, web: web}, Knowledge: fam.knowledge, Skills: skillAPI{svc: skl}, Plans: pln, Agents: agentAPI{svc: agt}})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, hst.Close(context.Background()), fam.Close(context.Background()))
	}
	if cfg.GRPCAddr == "" {
		return srv, nil, hst, fam, nil
	}
	fileSvc, err := files.New(files.Config{Store: store, MaxUploadBytes: cfg.MaxUploadBytes})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, hst.Close(context.Background()), fam.Close(context.Background()))
	}
	gsrv, err := grpcapi.New(grpcapi.Config{
		StreamWriteTimeout: cfg.SSEWriteTimeout,
		Keepalive:          cfg.SSEKeepalive,
		ReadHeaderTimeout:  cfg.ReadTimeout,
		Logger:             log,
	}, grpcapi.Deps{
		Auth: authSvc, Admitter: ledger, Audit: grpcAudit{store, tenancy.NewAccess(store)},
		Sessions: rt, Turns: rt, Permissions: rt, Jobs: rt,
		Files: fileSvc, Memories: mem, MCP: toolFamily{mcp: mcpMgr, web: web},
		Corpora: fam.knowledge, Skills: skillAPI{svc: skl}, Plans: pln, Agents: agentAPI{svc: agt},
	})
	if err != nil {
		return nil, nil, nil, nil, errors.Join(err, hst.Close(context.Background()), fam.Close(context.Background()))
	}
	return srv, gsrv, hst, fam, nil
}

// providers returns the model providers: the offline mock always, and the
// real ones whose credentials are configured.
func providers(cfg Config, log *slog.Logger) *provider.Registry {
	reg := provider.NewRegistry()
	if cfg.AnthropicAPIKey != "" {
		reg.Register(provider.AnthropicName, provider.NewAnthropic(provider.AnthropicConfig{
			BaseURL: cfg.AnthropicBaseURL, APIKey: cfg.AnthropicAPIKey, Logger: log.With("component", "provider", "provider", provider.AnthropicName),
		}))
	}
	if cfg.OpenAIAPIKey != "" || cfg.OpenAIBaseURL != "" {
		reg.Register(provider.OpenAIName, provider.NewOpenAI(provider.OpenAIConfig{
			BaseURL: cfg.OpenAIBaseURL, APIKey: cfg.OpenAIAPIKey, Logger: log.With("component", "provider", "provider", provider.OpenAIName),
		}))
	}
	if name, model, ok := strings.Cut(cfg.DefaultModel, ":"); ok && name != provider.MockName {
		reg.SetModels(name, provider.ModelInfo{ID: model})
	}
	return reg
}

// oauthRedirectURL is the OAuth callback under SESHAT_PUBLIC_URL, or ""
// to let each request name it.
func oauthRedirectURL(cfg Config) string {
	if cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(cfg.PublicURL, "/") + "/api/v1/settings/providers/oauth/callback"
}

// publicPathPrefix is the path of SESHAT_PUBLIC_URL ("/seshat" for
// https://example.com/seshat/), where a reverse proxy serves the server's
// root; "" when there is none.
func publicPathPrefix(cfg Config) string {
	u, err := url.Parse(cfg.PublicURL)
	if cfg.PublicURL == "" || err != nil {
		return ""
	}
	return strings.TrimRight(u.EscapedPath(), "/")
}

// Compile-time checks that the host is the runtime httpapi's handlers
// need, and that the host and the files family are the backends of
// grpcapi's services.
var (
	_ httpapi.Runtime         = (*host.Host)(nil)
	_ httpapi.Tenancy         = (*tenancy.Service)(nil)
	_ httpapi.Providers       = (*routing.Service)(nil)
	_ grpcapi.Sessions        = (*host.Host)(nil)
	_ grpcapi.Turns           = (*host.Host)(nil)
	_ grpcapi.Permissions     = (*host.Host)(nil)
	_ grpcapi.Jobs            = (*host.Host)(nil)
	_ grpcapi.RequestAdmitter = (*quota.Ledger)(nil)
	_ httpapi.QuotaLedger     = (*quota.Ledger)(nil)
	_ grpcapi.Files           = (*files.Service)(nil)
	_ grpcapi.Authenticator   = (*auth.Service)(nil)
)

// newLogger is the server's logger: text or JSON on stderr, at info, or
// debug with -debug.
func newLogger(cfg Config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Debug {
		opts.Level = slog.LevelDebug
	}
	if cfg.LogFormat == logJSON {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// plainError says msg and nothing more, while errors.Is and errors.As
// still see its cause: for causes whose own text would repeat what msg
// says.
type plainError struct {
	msg   string
	cause error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.cause }

// families are the domain families that outlive the host's turns: memory
// extraction and the MCP connections. Close ends them after the host.
type families struct {
	mem       *memory.Service
	mcp       *mcpconn.Manager
	knowledge *knowledge.Service
	// cluster is the cluster node, with SESHAT_CLUSTER.
	cluster *cluster.Node
}

// Close waits for queued extractions and ends the MCP connections and
// their processes, until ctx is done. Ingestion stops, its files in
// progress resuming at the next start.
func (f *families) Close(ctx context.Context) error {
	f.leaveCluster(ctx)
	var kerr error
	if f.knowledge != nil {
		kerr = f.knowledge.Close()
	}
	return errors.Join(f.mem.Close(ctx), f.mcp.Shutdown(ctx), kerr)
}
