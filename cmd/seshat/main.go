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
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/http/auth"
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
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_ = stdout // reserved for command output; logs go to stderr
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if soft, hard, err := raiseFileLimit(); err != nil {
		log.Warn("could not raise the open file limit", "soft", soft, "hard", hard, "error", err)
	} else {
		log.Info("open file limit", "soft", soft, "hard", hard)
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
		Dir: cfg.DataDir,
		// A second server on the same data dir must fail fast.
		OpenTimeout: time.Second,
		Logger:      log,
		MasterKey:   storeKey(cfg.MasterKey),
		// Entries older than this go, the chain staying verifiable.
		AuditRetention: cfg.AuditRetention,
	})
	if errors.Is(err, persist.ErrLocked) {
		return fmt.Errorf("data dir %s is in use by another seshat process: %w", cfg.DataDir, err)
	}
	if errors.Is(err, persist.ErrWrongMasterKey) {
		return fmt.Errorf("SESHAT_MASTER_KEY is not the key the provider credentials in %s were sealed with; "+
			"start with the original key (or without SESHAT_MASTER_KEY to use the one kept in %s): %w",
			cfg.DataDir, secretsFileName, err)
	}
	if err != nil {
		return fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	srv, hst, err := newServer(cfg, store, log)
	if err != nil {
		return errors.Join(err, store.Close())
	}
	// Re-arm every enabled job; runs missed while the server was down are
	// not replayed.
	if err := hst.StartJobs(ctx, host.JobsConfig{RunHistory: cfg.JobRunHistory}); err != nil {
		return errors.Join(fmt.Errorf("start the scheduler: %w", err), hst.Close(context.Background()), store.Close())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), hst.Close(context.Background()), store.Close())
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(context.Background(), cfg.DebugAddr, log)
		if err != nil {
			return errors.Join(fmt.Errorf("debug listener: %w", err), ln.Close(), hst.Close(context.Background()), store.Close())
		}
		defer stopDebug()
	}
	addr := ln.Addr().String()
	log.Info("listening on "+addr, "addr", addr, "data_dir", cfg.DataDir, "debug", cfg.Debug)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
		served = nil
		log.Error("server stopped unexpectedly", "error", serveErr)
	}

	// Shutdown order: stop accepting and end streams, snapshot live
	// sessions, close the store. Shutdown cancels the server's base context
	// as it starts, so open streams end at once instead of holding the
	// drain until the grace period runs out.
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(graceCtx)
	if served != nil {
		if err := <-served; err != nil && serveErr == nil {
			serveErr = err
		}
	}
	// Every live session is snapshotted (running turns recorded as
	// interrupted) before the store closes.
	hostErr := hst.Close(graceCtx)
	closeErr := store.Close()
	if err := errors.Join(serveErr, shutdownErr, hostErr, closeErr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newServer builds the auth service, the metrics registry, the session
// host and the HTTP server. cfg's secrets must be loaded.
func newServer(cfg Config, store *persist.Store, log *slog.Logger) (*httpapi.Server, *host.Host, error) {
	authSvc, err := auth.New(auth.Config{Secret: cfg.JWTSecret, Store: store, BcryptCost: cfg.BcryptCost})
	if err != nil {
		return nil, nil, err
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
	selector, err := host.NewProviders(host.ProvidersConfig{
		Store:            store,
		Registry:         providers(cfg, log),
		OAuthRedirectURL: oauthRedirectURL(cfg),
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return nil, nil, err
	}
	hst, err := host.New(host.Config{
		Store:     store,
		Providers: selector,
		Session: session.Config{
			Idle:              cfg.SessionIdle,
			PermissionTimeout: cfg.PermissionTimeout,
			DefaultModel:      cfg.DefaultModel,
			MaxSubscribers:    cfg.MaxSubscribers,
			MaxTurnEvents:     cfg.MaxTurnEvents,
		},
		MaxStreams:        cfg.MaxStreams,
		MaxTurnsPerUser:   cfg.MaxTurnsPerUser,
		MaxStreamsPerUser: cfg.MaxStreamsPerUser,
		Quotas:            host.QuotaConfig{ReserveTokens: cfg.QuotaReserveTokens},
		Logger:            log,
		Registerer:        reg,
	})
	if err != nil {
		return nil, nil, err
	}
	srv, err := httpapi.New(httpapi.Config{
		Debug:          cfg.Debug,
		MaxUploadBytes: cfg.MaxUploadBytes,
		ReadTimeout:    cfg.ReadTimeout,
		SSE:            sse.Config{Keepalive: cfg.SSEKeepalive, WriteTimeout: cfg.SSEWriteTimeout},
		Logger:         log,
		Registerer:     reg,
		Gatherer:       reg,
	}, httpapi.Deps{Store: store, Auth: authSvc, Runtime: hst})
	if err != nil {
		return nil, nil, errors.Join(err, hst.Close(context.Background()))
	}
	return srv, hst, nil
}

// providers returns the model providers: the offline mock always, and the
// real ones whose credentials are configured.
func providers(cfg Config, log *slog.Logger) *provider.Registry {
	reg := provider.NewRegistry()
	if cfg.AnthropicAPIKey != "" {
		reg.Register("anthropic", provider.NewAnthropic(provider.AnthropicConfig{
			BaseURL: cfg.AnthropicBaseURL, APIKey: cfg.AnthropicAPIKey, Logger: log.With("component", "provider", "provider", "anthropic"),
		}))
	}
	if cfg.OpenAIAPIKey != "" || cfg.OpenAIBaseURL != "" {
		reg.Register("openai", provider.NewOpenAI(provider.OpenAIConfig{
			BaseURL: cfg.OpenAIBaseURL, APIKey: cfg.OpenAIAPIKey, Logger: log.With("component", "provider", "provider", "openai"),
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

// Compile-time check that the host is the runtime httpapi's handlers need.
var _ httpapi.Runtime = (*host.Host)(nil)
