package mcpconn_test

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/persist"
)

// percentiles reports p50 and p99 of d as metrics of b.
func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func benchCall(b *testing.B, tl tool.Tool) {
	in := tool.Call{Input: json.RawMessage(`{"text":"x"}`), Progress: func(string) {}}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, err := tl.Run(b.Context(), in)
		d = append(d, time.Since(start))
		require.NoError(b, err)
	}
	percentiles(b, d)
}

// BenchmarkCall measures an MCP tool call through the manager (lease, SDK
// call, release) over stdio and streamable HTTP; builtin is an in-process
// tool through the same tool.Tool interface, the floor MCP adds to.
func BenchmarkCall(b *testing.B) {
	b.Run("builtin", func(b *testing.B) {
		var echo tool.Tool = builtinEcho{}
		benchCall(b, echo)
	})
	b.Run("stdio", func(b *testing.B) {
		st, u := benchStore(b)
		m := benchManager(b, st)
		srv, err := st.CreateMCPServer(b.Context(), persist.MCPServer{ID: "mcp_b", Name: "b", Transport: "stdio",
			Command: osArgs0(), Args: []string{"-test.run=^$"}, Scope: persist.MCPScopeGlobal, Enabled: true, Trusted: true}, persist.MCPSecrets{})
		require.NoError(b, err)
		tools, err := m.Tools(b.Context(), srv, u.DefaultWorkspaceID)
		require.NoError(b, err)
		benchCall(b, byName(tools)["mcp__b__echo"])
	})
	b.Run("streamable_http", func(b *testing.B) {
		hs := httptest.NewServer(newHTTPHandler())
		b.Cleanup(func() { hs.CloseClientConnections(); hs.Close() })
		st, u := benchStore(b)
		m := benchManager(b, st)
		srv, err := st.CreateMCPServer(b.Context(), persist.MCPServer{ID: "mcp_h", Name: "h", Transport: "streamable_http",
			URL: hs.URL, Scope: persist.MCPScopeGlobal, Enabled: true, Trusted: true}, persist.MCPSecrets{})
		require.NoError(b, err)
		tools, err := m.Tools(b.Context(), srv, u.DefaultWorkspaceID)
		require.NoError(b, err)
		benchCall(b, byName(tools)["mcp__h__echo"])
	})
}

// BenchmarkReconnect measures how long after its process is killed a
// stdio server answers a call again (reconnect and tool listing included).
func BenchmarkReconnect(b *testing.B) {
	st, u := benchStore(b)
	m := benchManager(b, st)
	srv, err := st.CreateMCPServer(b.Context(), persist.MCPServer{ID: "mcp_r", Name: "r", Transport: "stdio",
		Command: osArgs0(), Args: []string{"-test.run=^$"}, Scope: persist.MCPScopeGlobal, Enabled: true, Trusted: true}, persist.MCPSecrets{})
	require.NoError(b, err)
	tools, err := m.Tools(b.Context(), srv, u.DefaultWorkspaceID)
	require.NoError(b, err)
	pidTool := byName(tools)["mcp__r__pid"]
	in := tool.Call{Input: json.RawMessage(`{}`), Progress: func(string) {}}
	d := make([]time.Duration, 0, b.N)
	for range b.N {
		out, err := pidTool.Run(b.Context(), in)
		require.NoError(b, err)
		pid, _ := strconv.Atoi(out)
		require.NoError(b, syscall.Kill(pid, syscall.SIGKILL))
		start := time.Now()
		for {
			if _, err := pidTool.Run(b.Context(), in); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		d = append(d, time.Since(start))
	}
	percentiles(b, d)
}
