package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var updateREADME = flag.Bool("update", false, "rewrite the README's configuration table from the settings table")

func TestDefaultAddressIsLoopback(t *testing.T) {
	cfg, mode, err := loadConfig(nil, func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, modeServe, mode)
	require.Equal(t, "127.0.0.1:8090", cfg.Addr, "a default install is not reachable from the network")
	cfg, _, err = loadConfig([]string{"-addr", ":8090"}, func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, ":8090", cfg.Addr)
}

func TestHelpListsEverySettingWithItsDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-help"}, func(string) string { return "" }, &stdout, &stderr))
	help := stdout.String()
	for _, s := range settings {
		require.Contains(t, help, s.env, "help names %s", s.key)
		require.Contains(t, help, s.usage)
		if d := s.shownDefault(); d != "" {
			require.Contains(t, help, "(default "+d+")", "help gives the default of %s", s.env)
		}
		if s.flag != "" {
			require.Contains(t, help, "-"+s.flag+", "+s.env)
		}
	}
	require.Contains(t, help, "-version")
	require.Empty(t, stderr.String())

	// Every environment variable the config reads is in the table: none is
	// read behind its back.
	read := map[string]bool{}
	_, _, err := loadConfig(nil, func(k string) string { read[k] = true; return "" })
	require.NoError(t, err)
	for k := range read {
		found := false
		for _, s := range settings {
			found = found || s.env == k
		}
		require.True(t, found, "%s is read but not in the settings table", k)
	}
	require.Len(t, read, len(settings))
}

func TestSettingsDefaultsAreTheConfigDefaults(t *testing.T) {
	// A secret's value is never shown: the table's defaults are all that
	// -help prints of them.
	for _, s := range settings {
		if s.secret {
			require.Empty(t, s.def, "%s: a secret has no default value", s.env)
		}
	}
	cfg, _, err := loadConfig(nil, func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, 2048, cfg.MaxConnsPerIP)
	require.Equal(t, 20, cfg.RegisterPerMinute)
	require.Equal(t, "open", cfg.Signup)
	require.True(t, cfg.AccessLog)
	require.Equal(t, "text", cfg.LogFormat)
	require.Equal(t, "./data", cfg.DataDir)
	require.Equal(t, int64(50<<20), cfg.MaxUploadBytes)
}

func TestVersionFlag(t *testing.T) {
	var stdout bytes.Buffer
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, run(t.Context(), []string{"-version", "-data-dir", dir}, func(string) string { return "" }, &stdout, &stdout))
	require.Regexp(t, `^seshat \S+\n$`, stdout.String())
	require.NoDirExists(t, dir, "-version starts nothing")

	version = "v1.2.3-test"
	t.Cleanup(func() { version = "" })
	stdout.Reset()
	require.NoError(t, run(t.Context(), []string{"-version"}, func(string) string { return "" }, &stdout, &stdout))
	require.Equal(t, "seshat v1.2.3-test\n", stdout.String(), "the version set by -ldflags -X wins")
}

// TestBusyPortLeavesNoDataDir starts the server on a port that is taken:
// it fails to bind before it creates the data dir or its secrets.
func TestBusyPortLeavesNoDataDir(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "data")
	var stderr bytes.Buffer
	err = run(t.Context(), []string{"-addr", taken.Addr().String(), "-data-dir", dir}, func(string) string { return "" }, &stderr, &stderr)
	require.Error(t, err)
	require.Contains(t, err.Error(), "address already in use")
	require.NoDirExists(t, dir, "nothing is created in the data dir before the listener is bound")
}

// TestErrorsSayItOnce checks that a start-up failure does not repeat its
// cause: the lock message used to come three times over.
func TestErrorsSayItOnce(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, nil)
	second, err := tryStartServer(t, dir, nil)
	if second != nil {
		require.NoError(t, second.Stop())
	}
	require.Error(t, err)
	require.Equal(t, "data dir "+dir+" is in use by another seshat process", err.Error())
}

func TestReadyAnswersWhileServing(t *testing.T) {
	s := startServer(t, "", nil)
	resp := s.get(t, "/ready", "")
	require.Equal(t, http.StatusOK, resp.Status, "body: %s", resp.Body)
	require.JSONEq(t, `{"status":"ready"}`, string(resp.Body))
}

// accessLines returns the access log lines of a text log.
func accessLines(log string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "msg=request ") {
			out = append(out, sc.Text())
		}
	}
	return out
}

func TestAccessLog(t *testing.T) {
	t.Run("one line per request by default", func(t *testing.T) {
		s := startServer(t, "", nil)
		tok := s.register(t, "logged@example.com", "password123")
		resp := s.do(t, request{Method: http.MethodGet, Path: "/api/v1/users/me", Token: tok.Token,
			Header: map[string]string{"X-Request-ID": "trace-me-1"}})
		require.Equal(t, http.StatusOK, resp.Status)
		require.Equal(t, http.StatusNotFound, s.get(t, "/api/v1/sessions/sess_nope", tok.Token).Status)
		require.NoError(t, s.Stop())

		lines := accessLines(s.Log.String())
		var me, missing string
		for _, l := range lines {
			if strings.Contains(l, "request_id=trace-me-1") {
				me = l
			}
			if strings.Contains(l, "route=/api/v1/sessions/{id}") {
				missing = l
			}
		}
		require.NotEmpty(t, me, "log:\n%s", s.Log.String())
		for _, want := range []string{"method=GET", "route=/api/v1/users/me", "status=200", "duration=", "user_id=" + tok.User.ID} {
			require.Contains(t, me, want)
		}
		require.Contains(t, missing, "status=404")
		require.NotContains(t, missing, "sess_nope", "the route pattern is logged, not the path")
	})
	t.Run("off", func(t *testing.T) {
		s := startServer(t, "", map[string]string{"SESHAT_ACCESS_LOG": "false"})
		require.Equal(t, http.StatusOK, s.get(t, "/health", "").Status)
		require.NoError(t, s.Stop())
		require.Empty(t, accessLines(s.Log.String()))
	})
	t.Run("json", func(t *testing.T) {
		s := startServer(t, "", map[string]string{"SESHAT_LOG_FORMAT": "json"})
		require.Equal(t, http.StatusOK, s.do(t, request{Method: http.MethodGet, Path: "/health",
			Header: map[string]string{"X-Request-ID": "json-line"}}).Status)
		require.NoError(t, s.Stop())
		found := false
		for _, line := range strings.Split(strings.TrimSpace(s.Log.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "every line is a JSON object: %q", line)
			if rec["request_id"] == "json-line" {
				found = true
				require.Equal(t, "request", rec["msg"])
				require.Equal(t, "/health", rec["route"])
				require.EqualValues(t, 200, rec["status"])
			}
		}
		require.True(t, found)
	})
}

// TestREADMEConfigurationTable keeps the README's configuration table the
// settings table's own rendering; -update rewrites it.
func TestREADMEConfigurationTable(t *testing.T) {
	const begin, end = "<!-- settings table: generated by `go test ./cmd/seshat -run TestREADMEConfigurationTable -update` -->\n", "<!-- end of settings table -->\n"
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	readme := string(b)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	require.True(t, i >= 0 && j > i, "README.md lacks the settings table markers")
	want := readme[:i+len(begin)] + settingsMarkdown() + readme[j:]
	if *updateREADME {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, readme, "README.md's configuration table is stale: run go test ./cmd/seshat -run TestREADMEConfigurationTable -update")
}

// TestConnectionsPerIPAreCapped holds SESHAT_MAX_CONNS_PER_IP idle
// connections: one more from the same address is answered 429 and closed,
// and the server serves again once they go.
func TestConnectionsPerIPAreCapped(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_MAX_CONNS_PER_IP": "4"})
	addr := strings.TrimPrefix(s.URL, "http://")
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// The server counts a connection once it has accepted it: wait for all
	// four.
	require.Eventually(t, func() bool {
		resp, err := client.Get(s.URL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusTooManyRequests
	}, 10*time.Second, 10*time.Millisecond)
	for _, c := range idle {
		c.Close()
	}
	require.Eventually(t, func() bool {
		resp, err := client.Get(s.URL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
}
