package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/persist"
)

// MinSecretBytes is the shortest JWT signing secret New accepts. HMAC
// enforces no minimum itself, and a short secret can be brute-forced from a
// single token.
const MinSecretBytes = 32

// Config configures a Service.
type Config struct {
	// Secret signs and verifies JWTs with HS256. Required; at least
	// MinSecretBytes long.
	Secret []byte
	// Issuer is the JWT `iss` claim issued and required. If empty, "seshat".
	Issuer string
	// Audience is the JWT `aud` claim issued and required. If empty,
	// "seshat-api".
	Audience string
	// TokenTTL is how long an issued JWT stays valid. If zero, 24h.
	TokenTTL time.Duration
	// Leeway is the clock skew allowed when checking `exp` and `iat`. If
	// zero, 30s.
	Leeway time.Duration
	// Store holds users and API keys. Required.
	Store *persist.Store
	// BcryptCost is the bcrypt cost of new password hashes. If zero,
	// bcrypt.DefaultCost; tests may lower it to bcrypt.MinCost.
	BcryptCost int
	// LoginFailuresPerEmail is how many failed logins one email may have
	// within LoginWindow before further attempts are refused. If zero, 5.
	LoginFailuresPerEmail int
	// LoginFailuresPerIP is how many failed logins one client IP may have
	// within LoginWindow before further attempts are refused. If zero, 20.
	LoginFailuresPerIP int
	// LoginWindow is the window failed logins are counted in. If zero, 15m.
	LoginWindow time.Duration
	// MaxTrackedLogins bounds how many emails and how many IPs the login
	// limiter remembers at once, each. If zero, 10000.
	MaxTrackedLogins int
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// CachedCredentials bounds how many verified credentials are kept so
	// that a repeated one costs no token parse and no store read. If
	// zero, 10000; negative turns the cache off.
	CachedCredentials int
}

// Service verifies credentials and runs account operations.
type Service struct {
	cfg       Config
	store     *persist.Store
	parser    *jwt.Parser
	dummyHash []byte // compared against on unknown emails, so they cost a bcrypt
	byEmail   *failureLimiter
	byIP      *failureLimiter
	cache     *credentialCache
}

// New validates cfg, fills in its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: JWT secret must be at least %d bytes, got %d", MinSecretBytes, len(cfg.Secret))
	}
	if cfg.Store == nil {
		return nil, errors.New("auth: Store is required")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "seshat"
	}
	if cfg.Audience == "" {
		cfg.Audience = "seshat-api"
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: BcryptCost %d outside %d..%d", cfg.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if cfg.LoginFailuresPerEmail == 0 {
		cfg.LoginFailuresPerEmail = 5
	}
	if cfg.LoginFailuresPerIP == 0 {
		cfg.LoginFailuresPerIP = 20
	}
	if cfg.LoginWindow == 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	if cfg.MaxTrackedLogins == 0 {
		cfg.MaxTrackedLogins = 10000
	}
	if cfg.TokenTTL < 0 || cfg.Leeway < 0 || cfg.LoginWindow < 0 ||
		cfg.LoginFailuresPerEmail < 0 || cfg.LoginFailuresPerIP < 0 || cfg.MaxTrackedLogins < 0 {
		return nil, errors.New("auth: durations and limits must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CachedCredentials == 0 {
		cfg.CachedCredentials = 10000
	}
	// The dummy hash has the configured cost so that a login for an unknown
	// email takes as long as one for a known email.
	dummy, err := bcrypt.GenerateFromPassword([]byte("seshat-dummy-password"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	s := &Service{
		cfg:       cfg,
		store:     cfg.Store,
		dummyHash: dummy,
		byEmail:   newFailureLimiter(cfg.LoginFailuresPerEmail, cfg.LoginWindow, cfg.MaxTrackedLogins),
		byIP:      newFailureLimiter(cfg.LoginFailuresPerIP, cfg.LoginWindow, cfg.MaxTrackedLogins),
		cache:     newCredentialCache(cfg.CachedCredentials),
	}
	s.parser = jwt.NewParser(
		// Pinning the method is what stops algorithm substitution (none,
		// HS384/HS512 signed with the same secret, RS* with the secret as a
		// public key); it is checked before the key is handed out.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		// The default parser accepts tokens without exp, which would never
		// expire.
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return s, nil
}
