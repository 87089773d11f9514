package agent

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Id prefixes, one per resource family. An id is the prefix, an underscore
// and a random URL-safe suffix.
const (
	PrefixUser      = "usr"
	PrefixWorkspace = "ws"
	PrefixSession   = "sess"
	PrefixTurn      = "turn"
	PrefixPerm      = "perm"
	PrefixPrompt    = "prm"
	PrefixKey       = "key"
	PrefixFile      = "file"
	PrefixJob       = "job"
	PrefixRun       = "run"
	PrefixToolUse   = "toolu"
	PrefixRequest   = "req"
	PrefixOrg       = "org"
	PrefixGroup     = "grp"
	PrefixAudit     = "aud"
	PrefixMemory    = "mem"
	PrefixSkill     = "skill"
	PrefixSkillRepo = "srepo"
	PrefixPlan      = "plan"
)

// idEncoding is lower-case base32 without padding: URL-safe and unambiguous.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 random characters (128 bits of entropy).
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	const suffix = 26 // idEncoding.EncodedLen(16)
	if len(prefix) > 32 {
		return prefix + "_" + idEncoding.EncodeToString(b[:])
	}
	// One allocation: the id is built on the stack.
	var id [32 + 1 + suffix]byte
	n := copy(id[:], prefix)
	id[n] = '_'
	idEncoding.Encode(id[n+1:n+1+suffix], b[:])
	return string(id[:n+1+suffix])
}

// ValidID reports whether id has the given prefix followed by a non-empty
// suffix of the characters NewID produces (plus upper case, digits, '-' and
// '_', for ids minted elsewhere). It keeps path parameters free of '/', '%',
// '.', and anything a store key or a log line should not carry.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
