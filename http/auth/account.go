package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

const (
	minPassword  = 8   // characters
	maxPassword  = 72  // bytes: bcrypt ignores anything longer, so refuse it
	maxEmail     = 254 // RFC 5321 path limit
	maxUserName  = 200 // characters
	personalName = "Personal"
)

// Grant is what a successful registration or login hands the client.
type Grant struct {
	User      persist.User
	Token     string
	ExpiresAt time.Time
}

// Register creates an account with its personal workspace and returns it
// with a fresh token. The first account on the server becomes an admin.
// A bad email, a password shorter than 8 characters or longer than 72 bytes
// wrap agent.ErrInvalid; an email already registered wraps
// agent.ErrConflict.
func (s *Service) Register(ctx context.Context, email, password, name string) (Grant, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return Grant{}, err
	}
	switch {
	case utf8.RuneCountInString(password) < minPassword:
		return Grant{}, fmt.Errorf("%w: password must be at least %d characters", agent.ErrInvalid, minPassword)
	case len(password) > maxPassword:
		return Grant{}, fmt.Errorf("%w: password must be at most %d bytes", agent.ErrInvalid, maxPassword)
	}
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxUserName {
		return Grant{}, fmt.Errorf("%w: name must be at most %d characters", agent.ErrInvalid, maxUserName)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return Grant{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.cfg.Now().UTC()
	u := persist.User{
		ID:           agent.NewID(agent.PrefixUser),
		Email:        email,
		Name:         name,
		Role:         persist.RoleMember, // the store promotes the first user to admin
		PasswordHash: hash,
		CreatedAt:    now,
	}
	ws := persist.Workspace{
		ID:        agent.NewID(agent.PrefixWorkspace),
		Name:      personalName,
		OwnerID:   u.ID,
		Personal:  true,
		CreatedAt: now,
	}
	u, err = s.store.CreateUser(ctx, u, ws)
	switch {
	case errors.Is(err, persist.ErrConflict):
		return Grant{}, fmt.Errorf("%w: email already registered", agent.ErrConflict)
	case err != nil:
		return Grant{}, fmt.Errorf("create user: %w", err)
	}
	return s.grant(u)
}

// Login checks an email and password and returns a fresh token. An unknown
// email and a wrong password both give ErrInvalidLogin, after the same
// bcrypt work. clientIP is the address failures are counted against besides
// the email; once either has failed too often within the window, Login
// returns a *RateLimitError without checking the password.
func (s *Service) Login(ctx context.Context, email, password, clientIP string) (Grant, error) {
	// A malformed email cannot belong to an account: treat it like an
	// unknown one so that the answer does not depend on validation.
	norm, normErr := normalizeEmail(email)
	if normErr != nil {
		norm = strings.ToLower(strings.TrimSpace(email))
	}
	now := s.cfg.Now()
	if wait := max(s.byEmail.blocked(norm, now), s.byIP.blocked(clientIP, now)); wait > 0 {
		return Grant{}, &RateLimitError{RetryAfter: wait}
	}

	var u persist.User
	found := false
	if normErr == nil && len(password) <= maxPassword {
		var err error
		u, err = s.store.UserByEmail(norm)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, persist.ErrNotFound):
			return Grant{}, fmt.Errorf("load user: %w", err)
		}
	}
	hash := s.dummyHash
	if found {
		hash = u.PasswordHash
	}
	pwErr := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !found || pwErr != nil || u.Disabled {
		s.byEmail.fail(norm, now)
		s.byIP.fail(clientIP, now)
		return Grant{}, ErrInvalidLogin
	}
	s.byEmail.reset(norm)
	return s.grant(u)
}

func (s *Service) grant(u persist.User) (Grant, error) {
	tok, exp, err := s.issueToken(u.ID)
	if err != nil {
		return Grant{}, err
	}
	return Grant{User: u, Token: tok, ExpiresAt: exp}, nil
}

// normalizeEmail trims and lower-cases a bare address ("a@b.example", no
// display name) and rejects anything else.
func normalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	invalid := fmt.Errorf("%w: email must be a valid address such as name@example.com", agent.ErrInvalid)
	if email == "" || len(email) > maxEmail {
		return "", invalid
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "", invalid
	}
	local, domain, _ := strings.Cut(addr.Address, "@")
	if local == "" || domain == "" || strings.HasPrefix(domain, "[") {
		return "", invalid
	}
	return strings.ToLower(addr.Address), nil
}
