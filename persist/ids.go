package persist

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// Id prefixes of the records the store mints ids for when the caller leaves
// them empty. They match the runtime's id scheme so that ids minted here and
// elsewhere look alike.
const (
	idPrefixUser      = "usr"
	idPrefixWorkspace = "ws"
	idPrefixKey       = "key"
	idPrefixFile      = "file"
	idPrefixOrg       = "org"
	idPrefixGroup     = "grp"
	idPrefixAudit     = "aud"
)

// idEncoding is lower-case base32 without padding: URL-safe and unambiguous.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + "_" + 26 random characters (128 bits of entropy).
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// maxIDLen bounds ids used in keys; bbolt keys are limited to 32 KiB and
// composite keys hold several ids.
const maxIDLen = 128

// checkID rejects ids that would break composite keys: the store joins ids
// with a NUL byte, so an id must not contain one.
func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("persist: empty %s: %w", what, ErrInvalid)
	case len(id) > maxIDLen:
		return fmt.Errorf("persist: %s longer than %d bytes: %w", what, maxIDLen, ErrInvalid)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("persist: %s contains a NUL byte: %w", what, ErrInvalid)
	}
	return nil
}
