package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChatNodeSDK drives the OpenAI-compatible routes with the official
// openai npm package (testdata/openai-node/check.mjs), installed with npm
// at test time. It is skipped when node or npm is missing, or when npm
// cannot reach its registry.
func TestChatNodeSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not on PATH")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "openai-node"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		install := exec.CommandContext(t.Context(), npm, "install", "--no-audit", "--no-fund", "--loglevel=error")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Skipf("npm could not install the openai package (no registry here?): %v\n%s", err, out)
		}
	}

	s, _, key := messagesServer(t)
	cmd := exec.CommandContext(t.Context(), node, "check.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SESHAT_BASE_URL="+s.URL+"/v1", "SESHAT_KEY="+key,
		"OPENAI_API_KEY=", "OPENAI_BASE_URL=")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("check.mjs failed: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var got struct {
		Plain, PlainFinish, Stream, ToolFinish, ToolAnswer, WrongKey string
		StreamUsage                                                  int
		ToolArgs                                                     map[string]string
		Models                                                       []string
	}
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	require.Equal(t, "echo: hello from node", got.Plain)
	require.Equal(t, "stop", got.PlainFinish)
	require.Equal(t, "tok0 tok1 tok2 tok3 tok4", got.Stream)
	require.Equal(t, 5, got.StreamUsage)
	require.Equal(t, "tool_calls", got.ToolFinish)
	require.Equal(t, map[string]string{"city": "Oslo"}, got.ToolArgs)
	require.Equal(t, "tool get_weather returned: snow", got.ToolAnswer)
	require.Contains(t, got.Models, "mock:echo")
	require.Equal(t, "AuthenticationError", got.WrongKey)
}
