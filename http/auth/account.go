package auth

import (
	"context"
	"errors"
	"fmt"
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
// with a fresh token. The first account on the server becomes an admin
// and may always register; later ones only as the sign-up policy allows
// (ErrSignupClosed or ErrInvitationRequired otherwise). Registrations are counted per clientIP
// (an IPv6 address by its /64):
// past Config.RegistrationsPerMinute, Register returns a *RateLimitError.
// A bad email, a password shorter than 8 characters or longer than 72
// bytes wrap agent.ErrInvalid; an email already registered wraps
// agent.ErrConflict.
func (s *Service) Register(ctx context.Context, email, password, name, clientIP string) (Grant, error) {
	clientIP = addressKey(clientIP)
	if s.cfg.RegistrationsPerMinute > 0 {
		now := s.cfg.Now()
		if wait := s.registered.blocked(clientIP, now); wait > 0 {
			return Grant{}, &RateLimitError{RetryAfter: wait, What: "registrations from your address"}
		}
		// Every attempt counts: each one costs a bcrypt hash.
		s.registered.fail(clientIP, now)
	}
	u, ws, err := s.newAccount(email, password, name)
	if err != nil {
		return Grant{}, err
	}
	invited := false
	if s.cfg.Signup == SignupInvite && s.cfg.Invitations != nil {
		if invited, err = s.cfg.Invitations.HasPendingInvitation(u.Email); err != nil {
			return Grant{}, fmt.Errorf("look up invitations: %w", err)
		}
	}
	var stored persist.User
	err = s.store.Update(ctx, func(tx *persist.Tx) error {
		// Checked in the transaction that creates the account, so that two
		// first registrations cannot both pass as the first.
		if tx.HasUsers() {
			switch {
			case s.cfg.Signup == SignupClosed:
				return ErrSignupClosed
			case s.cfg.Signup == SignupInvite && !invited:
				return ErrInvitationRequired
			}
		}
		var err error
		stored, err = tx.CreateUser(u, ws)
		return err
	})
	if err != nil {
		return Grant{}, createErr(err)
	}
	return s.grant(stored)
}

// CreateUser makes an account for a server admin, whatever the sign-up
// policy: role is persist.RoleAdmin or persist.RoleMember ("" is member).
// It fails as Register does on bad input and taken emails.
func (s *Service) CreateUser(ctx context.Context, email, password, name, role string) (persist.User, error) {
	if role == "" {
		role = persist.RoleMember
	}
	if role != persist.RoleAdmin && role != persist.RoleMember {
		return persist.User{}, fmt.Errorf("%w: role must be admin or member", agent.ErrInvalid)
	}
	u, ws, err := s.newAccount(email, password, name)
	if err != nil {
		return persist.User{}, err
	}
	var stored persist.User
	err = s.store.Update(ctx, func(tx *persist.Tx) error {
		var err error
		stored, err = tx.CreateUserWithRole(u, ws, role)
		return err
	})
	if err != nil {
		return persist.User{}, createErr(err)
	}
	return stored, nil
}

// newAccount validates and hashes a new account's fields and returns the
// records to store, their ids minted.
func (s *Service) newAccount(email, password, name string) (persist.User, persist.Workspace, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return persist.User{}, persist.Workspace{}, err
	}
	if err := checkNewPassword(password); err != nil {
		return persist.User{}, persist.Workspace{}, err
	}
	name, err = checkName(name)
	if err != nil {
		return persist.User{}, persist.Workspace{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return persist.User{}, persist.Workspace{}, fmt.Errorf("hash password: %w", err)
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
	return u, ws, nil
}

// createErr maps a store error of account creation.
func createErr(err error) error {
	switch {
	case errors.Is(err, ErrSignupClosed), errors.Is(err, ErrInvitationRequired):
		return err
	case errors.Is(err, persist.ErrConflict):
		return fmt.Errorf("%w: email already registered", agent.ErrConflict)
	}
	return fmt.Errorf("create user: %w", err)
}

func checkNewPassword(password string) error {
	switch {
	case utf8.RuneCountInString(password) < minPassword:
		return fmt.Errorf("%w: password must be at least %d characters", agent.ErrInvalid, minPassword)
	case len(password) > maxPassword:
		return fmt.Errorf("%w: password must be at most %d bytes", agent.ErrInvalid, maxPassword)
	}
	return nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxUserName {
		return "", fmt.Errorf("%w: name must be at most %d characters", agent.ErrInvalid, maxUserName)
	}
	return name, nil
}

// Login checks an email and password and returns a fresh token. An unknown
// email and a wrong password both give an error wrapping ErrInvalidLogin
// (a *LoginFailure), after the same bcrypt work whatever the cost of the
// stored hash (see checkPassword). Failures are counted per (email,
// clientIP) and per clientIP (an IPv6 address by its /64); once either has failed too often within the
// window, Login returns a *RateLimitError without checking the password.
// A stranger elsewhere therefore cannot lock an account out. A correct
// password whose hash has another cost than the configured one is
// rehashed at that cost.
func (s *Service) Login(ctx context.Context, email, password, clientIP string) (Grant, error) {
	// A malformed email cannot belong to an account: treat it like an
	// unknown one so that the answer does not depend on validation.
	norm, normErr := normalizeEmail(email)
	if normErr != nil {
		norm = strings.ToLower(strings.TrimSpace(email))
	}
	clientIP = addressKey(clientIP)
	pair := norm + "\x00" + clientIP
	now := s.cfg.Now()
	if wait := max(s.byEmailIP.blocked(pair, now), s.byIP.blocked(clientIP, now)); wait > 0 {
		return Grant{}, &RateLimitError{RetryAfter: wait, What: "failed login attempts"}
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
	hash := s.dummies[s.cfg.BcryptCost]
	if found {
		hash = u.PasswordHash
	}
	match, _ := s.checkPassword(hash, password)
	if !found || !match || u.Disabled {
		s.byEmailIP.fail(pair, now)
		s.byIP.fail(clientIP, now)
		fail := &LoginFailure{}
		if found {
			fail.UserID = u.ID
		}
		return Grant{}, fail
	}
	s.byEmailIP.reset(pair)
	s.upgradeHash(ctx, u, password)
	return s.grant(u)
}

// checkPassword compares password with hash, then with dummy hashes of
// the costs from hash's up to the configured one, less one: as bcrypt's
// work doubles with each cost, 2^c + 2^c + 2^(c+1) + … + 2^(C-1) = 2^C, so
// the whole check costs what one comparison at the configured cost C does,
// and an account hashed before SESHAT_BCRYPT_COST was raised answers a
// wrong password no faster than an unknown email. A hash of a cost above
// C is compared alone (upgradeHash lowers it at the next login). work is
// the sum of 2^cost over the comparisons made.
func (s *Service) checkPassword(hash []byte, password string) (match bool, work uint64) {
	cost, err := bcrypt.Cost(hash)
	if err != nil {
		// Not a bcrypt hash: no password matches it; spend the usual work.
		hash, cost = s.dummies[s.cfg.BcryptCost], s.cfg.BcryptCost
		_ = s.compare(hash, []byte(password))
		return false, 1 << cost
	}
	match = s.compare(hash, []byte(password)) == nil
	work = 1 << cost
	for c := max(cost, bcrypt.MinCost); c < s.cfg.BcryptCost; c++ {
		_ = s.compare(s.dummies[c], []byte(password))
		work += 1 << c
	}
	return match, work
}

// upgradeHash rehashes a correct password whose stored hash has another
// cost than the configured one. A failure keeps the old hash, to be tried
// again at the next login.
func (s *Service) upgradeHash(ctx context.Context, u persist.User, password string) {
	if cost, err := bcrypt.Cost(u.PasswordHash); err != nil || cost == s.cfg.BcryptCost {
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return
	}
	_, _, _ = s.store.UpdateUser(ctx, u.ID, func(rec *persist.User) error {
		rec.PasswordHash = hash
		return nil
	})
}

// PasswordChange is a change of one's own password.
type PasswordChange struct {
	Current string
	New     string
}

// UpdateMe changes the caller's own name and, given the current password,
// their password, and returns the account. A wrong current password wraps
// agent.ErrForbidden and counts as a failed login from clientIP (so that
// a stolen token cannot be used to guess the password); nil fields stay.
func (s *Service) UpdateMe(ctx context.Context, userID string, name *string, pw *PasswordChange, clientIP string) (persist.User, error) {
	u, err := s.store.UserByID(userID)
	if err != nil {
		return persist.User{}, err
	}
	var newName string
	if name != nil {
		if newName, err = checkName(*name); err != nil {
			return persist.User{}, err
		}
	}
	var newHash []byte
	if pw != nil {
		clientIP = addressKey(clientIP)
		pair := u.Email + "\x00" + clientIP
		now := s.cfg.Now()
		if wait := max(s.byEmailIP.blocked(pair, now), s.byIP.blocked(clientIP, now)); wait > 0 {
			return persist.User{}, &RateLimitError{RetryAfter: wait, What: "failed password checks"}
		}
		if match, _ := s.checkPassword(u.PasswordHash, pw.Current); !match {
			s.byEmailIP.fail(pair, now)
			s.byIP.fail(clientIP, now)
			return persist.User{}, fmt.Errorf("%w: the current password is wrong", agent.ErrForbidden)
		}
		if err := checkNewPassword(pw.New); err != nil {
			return persist.User{}, err
		}
		if newHash, err = bcrypt.GenerateFromPassword([]byte(pw.New), s.cfg.BcryptCost); err != nil {
			return persist.User{}, fmt.Errorf("hash password: %w", err)
		}
	}
	_, after, err := s.store.UpdateUser(ctx, userID, func(rec *persist.User) error {
		if name != nil {
			rec.Name = newName
		}
		if newHash != nil {
			rec.PasswordHash = newHash
		}
		return nil
	})
	return after, err
}

func (s *Service) grant(u persist.User) (Grant, error) {
	tok, exp, err := s.issueToken(u.ID)
	if err != nil {
		return Grant{}, err
	}
	return Grant{User: u, Token: tok, ExpiresAt: exp}, nil
}
