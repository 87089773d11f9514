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
	// LoginFailuresPerEmailAndIP is how many failed logins one email may
	// have from one client IP within LoginWindow before further attempts
	// of that pair are refused. Counting the pair, not the email alone,
	// keeps a stranger elsewhere from locking an account out. If zero, 5.
	LoginFailuresPerEmailAndIP int
	// LoginFailuresPerIP is how many failed logins one client IP may have
	// within LoginWindow before further attempts are refused. If zero, 20.
	LoginFailuresPerIP int
	// LoginWindow is the window failed logins are counted in. If zero, 15m.
	LoginWindow time.Duration
	// RegistrationsPerMinute caps Register calls per client IP per minute.
	// If zero, 20; negative turns the cap off.
	RegistrationsPerMinute int
	// Signup is who may register. If empty, SignupOpen.
	Signup SignupPolicy
	// Invitations answers, under SignupInvite, whether an email has a
	// pending invitation. If nil, none has.
	Invitations InvitationLookup
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

// SignupPolicy says who may register (SESHAT_SIGNUP).
type SignupPolicy string

// The sign-up policies. Under each, the very first account may register
// and becomes the server's admin.
const (
	// SignupOpen lets anyone register.
	SignupOpen SignupPolicy = "open"
	// SignupInvite lets register only an email with a pending invitation.
	SignupInvite SignupPolicy = "invite"
	// SignupClosed lets no one register: server admins create accounts.
	SignupClosed SignupPolicy = "closed"
)

// InvitationLookup tells whether an email has a pending invitation to a
// workspace or an organization. The invitation store implements it; its
// email argument is normalised as accounts' emails are.
type InvitationLookup interface {
	HasPendingInvitation(email string) (bool, error)
}

// Service verifies credentials and runs account operations.
type Service struct {
	cfg   Config
	store *persist.Store
	// parser verifies JWTs.
	parser *jwt.Parser
	// dummies[c] is a hash of cost c, for MinCost ≤ c ≤ cfg.BcryptCost:
	// an unknown email is compared against the one of the configured
	// cost, and a hash of a lower cost is followed by the ones that bring
	// its work up to the same (see checkPassword).
	dummies    map[int][]byte
	byEmailIP  *failureLimiter
	byIP       *failureLimiter
	registered *failureLimiter // counts registrations, not failures
	cache      *credentialCache
	// compare is bcrypt.CompareHashAndPassword: every password check goes
	// through it, so that tests can count the work each path does.
	compare func(hash, password []byte) error
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
	if cfg.LoginFailuresPerEmailAndIP == 0 {
		cfg.LoginFailuresPerEmailAndIP = 5
	}
	if cfg.RegistrationsPerMinute == 0 {
		cfg.RegistrationsPerMinute = 20
	}
	switch cfg.Signup {
	case "":
		cfg.Signup = SignupOpen
	case SignupOpen, SignupInvite, SignupClosed:
	default:
		return nil, fmt.Errorf("auth: Signup %q: want open, invite or closed", cfg.Signup)
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
		cfg.LoginFailuresPerEmailAndIP < 0 || cfg.LoginFailuresPerIP < 0 || cfg.MaxTrackedLogins < 0 {
		return nil, errors.New("auth: durations and limits must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CachedCredentials == 0 {
		cfg.CachedCredentials = 10000
	}
	// Dummy hashes of every cost up to the configured one: together they
	// cost about as much as one hash of the configured cost.
	dummies := make(map[int][]byte, cfg.BcryptCost-bcrypt.MinCost+1)
	for c := bcrypt.MinCost; c <= cfg.BcryptCost; c++ {
		h, err := bcrypt.GenerateFromPassword([]byte("seshat-dummy-password"), c)
		if err != nil {
			return nil, fmt.Errorf("auth: dummy hash: %w", err)
		}
		dummies[c] = h
	}
	registrations := cfg.RegistrationsPerMinute
	if registrations < 0 {
		registrations = 0
	}
	s := &Service{
		cfg:        cfg,
		store:      cfg.Store,
		dummies:    dummies,
		byEmailIP:  newFailureLimiter(cfg.LoginFailuresPerEmailAndIP, cfg.LoginWindow, cfg.MaxTrackedLogins),
		byIP:       newFailureLimiter(cfg.LoginFailuresPerIP, cfg.LoginWindow, cfg.MaxTrackedLogins),
		registered: newFailureLimiter(registrations, time.Minute, cfg.MaxTrackedLogins),
		cache:      newCredentialCache(cfg.CachedCredentials),
		compare:    bcrypt.CompareHashAndPassword,
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
