package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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
func loadSecrets(cfg *Config, log *slog.Logger) error {
	if cfg.JWTSecret != nil && cfg.MasterKey != nil {
		return nil
	}
	name := filepath.Join(cfg.DataDir, secretsFileName)
	var file secretsFile
	b, err := os.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
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
	return writeFileAtomic(name, append(out, '\n'), 0o600)
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
