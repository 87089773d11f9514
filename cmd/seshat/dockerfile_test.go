package main

import (
	"bytes"
	"context"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// dockerfile returns the repository's Dockerfile split into its build and
// final stages' instructions (continuation lines joined).
func dockerfile(t *testing.T) (build, final []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	stage := 0
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "FROM ") {
			stage++
		}
		if stage == 1 {
			build = append(build, l)
		} else {
			final = append(final, l)
		}
	}
	require.Equal(t, 2, stage, "a build stage and a final stage")
	return build, final
}

// TestDockerfileBuildStage runs the build stage's go build command as it
// is written (environment, flags, package), without Docker, and checks the
// binary is static and runs; and checks the final stage's non-root user,
// data volume, address and health check.
func TestDockerfileBuildStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server with the image's flags")
	}
	build, final := dockerfile(t)
	var cmdLine string
	for _, l := range build {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			cmdLine = strings.TrimPrefix(l, "RUN ")
		}
	}
	require.NotEmpty(t, cmdLine, "the build stage runs go build")
	cmdLine = strings.ReplaceAll(cmdLine, "${VERSION}", "image-test")
	fields := splitShellWords(t, cmdLine)
	var env []string
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		env = append(env, fields[0])
		fields = fields[1:]
	}
	require.Contains(t, env, "CGO_ENABLED=0", "a static binary")
	require.Equal(t, []string{"go", "build"}, fields[:2])
	out := filepath.Join(t.TempDir(), "seshat")
	args := fields[2:]
	for i, a := range args {
		if a == "-o" {
			args[i+1] = out
		}
	}
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), goBin, append([]string{"build"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)

	f, err := elf.Open(out)
	require.NoError(t, err)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "no dynamic loader: the binary runs on a base without libc")
	}
	libs, _ := f.ImportedLibraries()
	require.Empty(t, libs)
	require.NoError(t, f.Close())
	v, err := exec.CommandContext(t.Context(), out, "-version").Output()
	require.NoError(t, err)
	require.Equal(t, "seshat image-test\n", string(v), "the version ldflag reaches main")

	joined := strings.Join(final, "\n")
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(joined)
	require.NotNil(t, user, "the final stage names its user")
	require.NotContains(t, []string{"root", "0", "0:0"}, user[1])
	require.Regexp(t, `(?m)^VOLUME \["/data"\]`, joined)
	require.Contains(t, joined, "SESHAT_DATA_DIR=/data")
	require.Regexp(t, `(?m)^CMD \["-addr", ":8090"\]`, joined)
	require.Regexp(t, `(?m)^HEALTHCHECK .*"healthcheck"`, joined)
}

// splitShellWords splits a simple shell command line: words, and
// double-quoted words without escapes.
func splitShellWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	in, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, any = !in, true
		case (r == ' ' || r == '\t') && !in:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	require.False(t, in, "unbalanced quotes in %q", s)
	if any {
		out = append(out, cur.String())
	}
	return out
}

// TestHealthcheck checks seshat healthcheck succeeds against a ready
// server and fails against an address nothing serves.
func TestHealthcheck(t *testing.T) {
	s := startServer(t, "", nil)
	addr := strings.TrimPrefix(s.URL, "http://")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"healthcheck", "-addr", addr}, envOf(nil), &out, &out))
	require.Equal(t, "ready\n", out.String())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = run(context.Background(), []string{"healthcheck", "-addr", closed}, envOf(nil), &out, &out)
	require.ErrorContains(t, err, "healthcheck")
}
