package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// TestConfigFilePrecedence checks flags > environment > file > defaults,
// for TOML and YAML files named by -config or SESHAT_CONFIG.
func TestConfigFilePrecedence(t *testing.T) {
	for name, body := range map[string]string{
		"seshat.toml": "# a comment\naddr = \"127.0.0.1:7001\"\ndata_dir = \"/from/file\"\nsession_idle = \"7m\"\ndebug = true\nmax_conns_per_ip = 9\n",
		"seshat.yaml": "# a comment\naddr: 127.0.0.1:7001\ndata_dir: /from/file\nsession_idle: 7m\ndebug: true\nmax_conns_per_ip: 9\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, name, body)

			cfg, _, err := loadConfig([]string{"-config", path}, envOf(nil))
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1:7001", cfg.Addr, "file over default")
			require.Equal(t, "/from/file", cfg.DataDir)
			require.Equal(t, 7*time.Minute, cfg.SessionIdle)
			require.True(t, cfg.Debug)
			require.Equal(t, 9, cfg.MaxConnsPerIP)
			require.Equal(t, logText, cfg.LogFormat, "what the file leaves out keeps its default")

			env := envOf(map[string]string{"SESHAT_CONFIG": path, "SESHAT_DATA_DIR": "/from/env", "SESHAT_ADDR": "127.0.0.1:7002"})
			cfg, _, err = loadConfig([]string{"-addr", "127.0.0.1:7003"}, env)
			require.NoError(t, err)
			require.Equal(t, "/from/env", cfg.DataDir, "environment over file")
			require.Equal(t, "127.0.0.1:7003", cfg.Addr, "flag over environment")
			require.Equal(t, 7*time.Minute, cfg.SessionIdle, "SESHAT_CONFIG names the file")

			// -config wins over SESHAT_CONFIG.
			other := writeConfig(t, "other.toml", "data_dir = \"/other\"\n")
			cfg, _, err = loadConfig([]string{"-config=" + other}, envOf(map[string]string{"SESHAT_CONFIG": path}))
			require.NoError(t, err)
			require.Equal(t, "/other", cfg.DataDir)
			require.Equal(t, "127.0.0.1:8090", cfg.Addr)
		})
	}
}

// TestConfigFileErrors checks unknown keys and bad values are refused
// with the file's line, and that what is not a file of settings is too.
func TestConfigFileErrors(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"seshat.toml", "addr = \":1\"\n\ndata_dri = \"/x\"\n", `seshat.toml:3: unknown setting "data_dri"`},
		{"seshat.yaml", "addr: \":1\"\nsignup: open\n\nlisten: x\n", `seshat.yaml:4: unknown setting "listen"`},
		{"seshat.toml", "session_idle = \"soon\"\n", "seshat.toml:1: session_idle = \"soon\": want a Go duration"},
		{"seshat.yaml", "\ndebug: maybe\n", "seshat.yaml:2: debug = \"maybe\": want true or false"},
		{"seshat.toml", "jwt_secret = 5\nmax_conns = 1.5\n", "max_conns: want an integer"},
		{"seshat.toml", "[server]\naddr = \":1\"\n", "server: want a single value"},
		{"seshat.toml", "addr = \n", "seshat.toml"},
		{"seshat.yaml", "- addr\n", "want a mapping of settings"},
		{"seshat.ini", "addr=:1\n", "want a .toml, .yaml or .yml file"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			path := writeConfig(t, c.name, c.body)
			_, _, err := loadConfig([]string{"-config", path}, envOf(nil))
			require.ErrorIs(t, err, errUsage)
			require.ErrorContains(t, err, c.want)
		})
	}
	_, _, err := loadConfig([]string{"-config", filepath.Join(t.TempDir(), "missing.toml")}, envOf(nil))
	require.ErrorIs(t, err, errUsage)
	require.ErrorContains(t, err, "missing.toml")

	path := writeConfig(t, "s.yaml", "bcrypt_cost: nope\n")
	_, _, err = loadConfig([]string{"-config", path}, envOf(nil))
	require.ErrorContains(t, err, "s.yaml:1: bcrypt_cost = \"nope\": want an integer")
}

// TestConfigPrint checks seshat config print shows the effective
// configuration, masks secrets, and prints a file that loads back.
func TestConfigPrint(t *testing.T) {
	path := writeConfig(t, "seshat.toml", "data_dir = \"/from/file\"\nopenai_api_key = \"sk-very-secret\"\njwt_secret = \"0123456789abcdef0123456789abcdef-file\"\n")
	var out bytes.Buffer
	env := envOf(map[string]string{"SESHAT_MEMORY_WORKERS": "3"})
	require.NoError(t, run(context.Background(), []string{"config", "print", "-config", path, "-addr", "127.0.0.1:7009"}, env, &out, &out))
	text := out.String()
	require.Contains(t, text, `data_dir = "/from/file"`)
	require.Contains(t, text, `addr = "127.0.0.1:7009"`)
	require.Contains(t, text, "memory_workers = 3")
	require.Contains(t, text, `openai_api_key = "********"`)
	require.Contains(t, text, `jwt_secret = "********"`)
	require.Contains(t, text, `master_key = "" # generated`)
	require.NotContains(t, text, "sk-very-secret")
	require.NotContains(t, text, "0123456789abcdef")

	// Without its masked secrets, the output is a configuration file that
	// loads back to the same settings.
	var kept []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.Contains(l, "********") && !strings.Contains(l, "# generated") {
			kept = append(kept, l)
		}
	}
	back := writeConfig(t, "back.toml", strings.Join(kept, "\n"))
	cfg, _, err := loadConfig([]string{"-config", back}, envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "/from/file", cfg.DataDir)
	require.Equal(t, "127.0.0.1:7009", cfg.Addr)
	require.Equal(t, 3, cfg.MemoryWorkers)

	_, _, err = loadConfig([]string{"config", "show"}, envOf(nil))
	require.ErrorIs(t, err, errUsage)
}
