package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// KeyPrefix starts every API key.
const KeyPrefix = "sk-"

const (
	keyIDLen     = 12 // characters of the public part the store looks keys up by
	keySecretLen = 32 // characters of the secret part: 160 random bits
	keyLen       = len(KeyPrefix) + keyIDLen + 1 + keySecretLen
	maxKeyName   = 200
)

// keyEncoding is lower-case base32 without padding: URL-safe, free of '_'
// (the separator) and unambiguous to read out.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newKey returns a fresh key and its public prefix.
func newKey() (key, prefix string) {
	var b [(keyIDLen + keySecretLen) * 5 / 8]byte // 27 bytes → 44 base32 characters (12 + 32)
	_, _ = rand.Read(b[:])
	s := keyEncoding.EncodeToString(b[:])
	prefix = s[:keyIDLen]
	return KeyPrefix + prefix + "_" + s[keyIDLen:keyIDLen+keySecretLen], prefix
}

// splitKey returns the public prefix of a well-formed key.
func splitKey(key string) (string, bool) {
	if len(key) != keyLen || !strings.HasPrefix(key, KeyPrefix) || key[len(KeyPrefix)+keyIDLen] != '_' {
		return "", false
	}
	return key[len(KeyPrefix) : len(KeyPrefix)+keyIDLen], true
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// DisplayPrefix is the part of a key that may be shown after creation:
// "sk-" and the public prefix.
func DisplayPrefix(k persist.APIKey) string { return KeyPrefix + k.Prefix }

// authenticateKey verifies an `sk-` key.
func (s *Service) authenticateKey(key string) (Principal, error) {
	prefix, ok := splitKey(key)
	if !ok {
		return Principal{}, unauthenticated(errors.New("malformed API key"))
	}
	k, err := s.store.APIKeyByPrefix(prefix)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return Principal{}, unauthenticated(errors.New("unknown or revoked API key"))
	case err != nil:
		return Principal{}, fmt.Errorf("load API key: %w", err)
	}
	if subtle.ConstantTimeCompare(hashKey(key), k.Hash) != 1 {
		return Principal{}, unauthenticated(errors.New("API key secret does not match"))
	}
	u, err := s.activeUser(k.UserID)
	if err != nil {
		return Principal{}, err
	}
	// In memory only: the store writes last-used times in the background,
	// so authenticating costs no write transaction.
	s.store.TouchAPIKey(k.ID, s.cfg.Now())
	return principalOf(u, k.ID), nil
}

// NewAPIKey is a key just created: its record and the full key, which is
// shown to the client once and never stored.
type NewAPIKey struct {
	persist.APIKey
	Key string
}

// CreateAPIKey creates an API key named name for userID.
func (s *Service) CreateAPIKey(ctx context.Context, userID, name string) (NewAPIKey, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return NewAPIKey{}, fmt.Errorf("%w: name is required", agent.ErrInvalid)
	case utf8.RuneCountInString(name) > maxKeyName:
		return NewAPIKey{}, fmt.Errorf("%w: name must be at most %d characters", agent.ErrInvalid, maxKeyName)
	}
	key, prefix := newKey()
	rec := persist.APIKey{
		ID:        agent.NewID(agent.PrefixKey),
		UserID:    userID,
		Name:      name,
		Prefix:    prefix,
		Hash:      hashKey(key),
		CreatedAt: s.cfg.Now().UTC(),
	}
	if err := s.store.CreateAPIKey(ctx, rec); err != nil {
		return NewAPIKey{}, fmt.Errorf("create API key: %w", err)
	}
	return NewAPIKey{APIKey: rec, Key: key}, nil
}

// ListAPIKeys returns userID's keys (without secrets, which are never kept).
func (s *Service) ListAPIKeys(userID string) ([]persist.APIKey, error) {
	keys, err := s.store.ListAPIKeys(userID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey deletes userID's key id; it stops authenticating at once.
// Another user's key is reported as not found.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, id string) error {
	if !agent.ValidID(agent.PrefixKey, id) {
		return fmt.Errorf("API key %q: %w", id, agent.ErrNotFound)
	}
	if err := s.store.DeleteAPIKey(ctx, userID, id); err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	return nil
}
