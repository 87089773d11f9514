package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/seshat-host/seshat/persist"
)

// secretBytes is the size of generated secrets and the minimum of given
// ones.
const secretBytes = 32

// secretsFileName is the file in the data dir that keeps generated
// secrets, so that tokens and encrypted credentials survive restarts.
const secretsFileName = "secrets.json"

// secretsFile is the content of secrets.json; values are base64 (std).
type secretsFile struct {
	JWTSecret string `json:"jwt_secret,omitempty"`
	MasterKey string `json:"master_key,omitempty"`
}

// loadSecrets fills the secrets cfg lacks from DataDir/secrets.json,
// generating (and saving) any the file lacks too. Secrets given in the
// environment are used as they are and never written to the file.
//
// It runs before the store is opened (the store checks the master key at
// Open), so the data dir's lock does not yet keep a second server out: a
// new file is therefore created exclusively, and a server that loses that
// race uses the secrets of the one that won.
func loadSecrets(cfg *Config, log *slog.Logger) error {
	given := *cfg
	err := loadSecretsOnce(cfg, log)
	if errors.Is(err, fs.ErrExist) {
		cfg.JWTSecret, cfg.MasterKey = given.JWTSecret, given.MasterKey
		err = loadSecretsOnce(cfg, log)
	}
	return err
}

// loadSecretsOnce is loadSecrets without the retry: it fails with
// fs.ErrExist if the file it found missing appeared meanwhile.
func loadSecretsOnce(cfg *Config, log *slog.Logger) error {
	if cfg.JWTSecret != nil && cfg.MasterKey != nil {
		return nil
	}
	name := filepath.Join(cfg.DataDir, secretsFileName)
	var file secretsFile
	b, err := os.ReadFile(name)
	exists := true
	switch {
	case errors.Is(err, fs.ErrNotExist):
		exists = false
	case err != nil:
		return fmt.Errorf("read secrets: %w", err)
	default:
		if err := json.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("read secrets: %s is not valid JSON: %w", name, err)
		}
		if info, err := os.Stat(name); err == nil && info.Mode().Perm()&0o077 != 0 {
			log.Warn("secrets file is readable by others; restricting it to its owner", "path", name)
			if err := os.Chmod(name, 0o600); err != nil {
				return fmt.Errorf("restrict secrets file: %w", err)
			}
		}
	}
	dirty := false
	fill := func(dst *[]byte, stored *string, what string) error {
		if *dst != nil {
			return nil
		}
		if *stored != "" {
			v, err := base64.StdEncoding.DecodeString(*stored)
			if err != nil || len(v) < secretBytes {
				return fmt.Errorf("read secrets: %s in %s is not base64 of at least %d bytes", what, name, secretBytes)
			}
			*dst = v
			return nil
		}
		v := make([]byte, secretBytes)
		if _, err := rand.Read(v); err != nil {
			return fmt.Errorf("generate %s: %w", what, err)
		}
		*dst, *stored, dirty = v, base64.StdEncoding.EncodeToString(v), true
		log.Info("generated secret", "secret", what, "path", name)
		return nil
	}
	if err := fill(&cfg.JWTSecret, &file.JWTSecret, "jwt_secret"); err != nil {
		return err
	}
	if err := fill(&cfg.MasterKey, &file.MasterKey, "master_key"); err != nil {
		return err
	}
	if !dirty {
		return nil
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	if !exists {
		return createFileExclusive(name, append(out, '\n'), 0o600)
	}
	return writeFileAtomic(name, append(out, '\n'), 0o600)
}

// createFileExclusive writes data to a temporary file beside name, syncs
// it and links it into place only if name does not exist yet; otherwise
// it fails with an error wrapping fs.ErrExist.
func createFileExclusive(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Link(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// storeKeyInfo binds keys derived from a master key to their use.
const storeKeyInfo = "seshat provider credentials v1"

// storeKey returns the persist.MasterKeyBytes-long key the store seals
// provider credentials with, made of the configured master key: the key
// itself when it is that long (as the generated one is), the key its
// base64 or hex text decodes to when that is that long, or else an
// HKDF-SHA256 stretch of it (a longer passphrase). The same master key
// always gives the same store key.
func storeKey(master []byte) []byte {
	if len(master) == persist.MasterKeyBytes {
		return master
	}
	text := strings.TrimSpace(string(master))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == persist.MasterKeyBytes {
			return k
		}
	}
	if k, err := hex.DecodeString(text); err == nil && len(k) == persist.MasterKeyBytes {
		return k
	}
	k, err := hkdf.Key(sha256.New, master, nil, storeKeyInfo, persist.MasterKeyBytes)
	if err != nil {
		// Only a length beyond 255 hashes fails, and 32 bytes is one.
		panic("storeKey: " + err.Error())
	}
	return k
}

// writeFileAtomic writes data to a temporary file beside name, syncs it
// and renames it into place, so that a crash never leaves half a file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
