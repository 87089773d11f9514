package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// issueToken returns a signed JWT for userID and its expiry.
func (s *Service) issueToken(userID string) (string, time.Time, error) {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.TokenTTL)
	claims := jwt.RegisteredClaims{
		Issuer:    s.cfg.Issuer,
		Subject:   userID,
		Audience:  jwt.ClaimStrings{s.cfg.Audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		IssuedAt:  jwt.NewNumericDate(now),
		// A random id makes two tokens issued in the same second differ,
		// which keeps them apart in logs and leaves room for a deny list.
		ID: agent.NewID("jti"),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	// The `exp` claim has second precision; report what the token says.
	return tok, exp.Truncate(time.Second), nil
}

// verifyToken checks a JWT and returns its subject.
func (s *Service) verifyToken(raw string) (string, time.Time, error) {
	var claims jwt.RegisteredClaims
	_, err := s.parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) {
		return s.cfg.Secret, nil
	})
	if err != nil {
		return "", time.Time{}, unauthenticated(err)
	}
	if claims.Subject == "" {
		return "", time.Time{}, unauthenticated(errors.New("token has no subject"))
	}
	// The parser requires exp, so ExpiresAt is set.
	return claims.Subject, claims.ExpiresAt.Time, nil
}

// BearerToken returns the credential of an Authorization header value of
// the form "Bearer <credential>" (the scheme is case-insensitive), and
// false for anything else.
func BearerToken(header []byte) (string, bool) {
	scheme, cred, ok := bytes.Cut(bytes.TrimSpace(header), []byte(" "))
	if !ok || !strings.EqualFold(string(scheme), "bearer") {
		return "", false
	}
	cred = bytes.TrimSpace(cred)
	if len(cred) == 0 {
		return "", false
	}
	return string(cred), true
}

// Authenticate verifies a credential (a JWT or an `sk-` API key, without
// the "Bearer " scheme) and returns the Principal it stands for. Every
// failure wraps ErrUnauthenticated.
//
// A credential verified recently is answered from a cache: its entry holds
// the store's auth generation read before the lookup, and any commit to
// users or keys (a revocation, a disabled user, a role change) changes the
// generation, so such changes still apply to the very next request. Token
// entries end at the token's expiry.
func (s *Service) Authenticate(credential string) (Principal, error) {
	gen := s.store.AuthGeneration()
	now := s.cfg.Now()
	if p, ok := s.cache.get(credential, gen, now); ok {
		if p.KeyID != "" {
			s.store.TouchAPIKey(p.KeyID, now)
		}
		return p, nil
	}
	var (
		p       Principal
		expires time.Time
		err     error
	)
	if strings.HasPrefix(credential, KeyPrefix) {
		p, err = s.authenticateKey(credential)
	} else {
		var userID string
		if userID, expires, err = s.verifyToken(credential); err == nil {
			var u persist.User
			if u, err = s.activeUser(userID); err == nil {
				p = principalOf(u, "")
			}
		}
	}
	if err != nil {
		return Principal{}, err
	}
	s.cache.put(credential, p, gen, expires)
	return p, nil
}

// AuthenticateRequest verifies the request's bearer credential and stores
// the Principal on it. The httpapi auth middleware calls it for every route
// that is not public.
func (s *Service) AuthenticateRequest(ctx *fasthttp.RequestCtx) error {
	cred, ok := BearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if !ok {
		return unauthenticated(errors.New("no bearer credential"))
	}
	p, err := s.Authenticate(cred)
	if err != nil {
		return err
	}
	SetPrincipal(ctx, p)
	return nil
}

// activeUser loads a user that may authenticate: one that exists and is
// not disabled.
func (s *Service) activeUser(userID string) (persist.User, error) {
	u, err := s.store.UserByID(userID)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return persist.User{}, unauthenticated(fmt.Errorf("user %s does not exist", userID))
	case err != nil:
		return persist.User{}, fmt.Errorf("load user: %w", err)
	case u.Disabled:
		return persist.User{}, unauthenticated(fmt.Errorf("user %s is disabled", userID))
	}
	return u, nil
}

func principalOf(u persist.User, keyID string) Principal {
	return Principal{
		UserID:             u.ID,
		Email:              u.Email,
		Role:               u.Role,
		DefaultWorkspaceID: u.DefaultWorkspaceID,
		KeyID:              keyID,
	}
}
