package mcpconn

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// Transports.
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable_http"
	TransportSSE            = "sse"
)

// inheritedEnv are the host's variables a stdio server gets besides its
// own: enough to find and run a program, nothing of the host's secrets.
var inheritedEnv = []string{"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SYSTEMROOT"}

// transport builds the SDK transport of a server. For stdio it starts the
// server's process, registered under the connection key, and returns it:
// the caller stops it (process.stop) when the session ends.
func (m *Manager) transport(srv persist.MCPServer, sec persist.MCPSecrets, key string) (mcp.Transport, *process, error) {
	switch srv.Transport {
	case TransportStdio:
		if srv.Command == "" {
			return nil, nil, fmt.Errorf("stdio server %s has no command", srv.Name)
		}
		cmd := exec.Command(srv.Command, srv.Args...)
		env := make([]string, 0, len(inheritedEnv)+len(sec.Env))
		for _, k := range inheritedEnv {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
		for k, v := range m.cfg.ExtraEnv {
			env = append(env, k+"="+v)
		}
		for k, v := range sec.Env {
			env = append(env, k+"="+v)
		}
		cmd.Env = env
		cmd.Dir = m.cfg.WorkDir
		cmd.Stderr = nil // discarded: a server's stderr is its own log
		// The process is started here rather than by the SDK's command
		// transport, so that its waiting and reaping have one owner
		// whatever the session does.
		proc, stdout, stdin, err := m.startProcess(cmd, key)
		if err != nil {
			return nil, nil, fmt.Errorf("start stdio server %s: %w", srv.Name, err)
		}
		return &mcp.IOTransport{Reader: stdout, Writer: stdin}, proc, nil
	case TransportStreamableHTTP, TransportSSE:
		u, err := url.Parse(srv.URL)
		if err != nil || u.Host == "" {
			return nil, nil, fmt.Errorf("server %s has no valid url", srv.Name)
		}
		base := egress.NewTransport(egress.Policy{AllowPrivate: srv.Trusted || m.cfg.AllowPrivate})
		client := &http.Client{
			Transport: headerTransport{base: base, host: u.Host, headers: sec.Headers},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return fmt.Errorf("%w: more than 5 redirects", egress.ErrBlocked)
				}
				return nil
			},
		}
		if srv.Transport == TransportSSE {
			return &mcp.SSEClientTransport{Endpoint: srv.URL, HTTPClient: client}, nil, nil
		}
		return &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: client, MaxRetries: 2}, nil, nil
	}
	return nil, nil, fmt.Errorf("server %s: unknown transport %q", srv.Name, srv.Transport)
}

// headerTransport adds a server's sealed headers to requests for its own
// host only, so that a redirect elsewhere does not carry them.
type headerTransport struct {
	base    http.RoundTripper
	host    string
	headers map[string]string
}

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) == 0 || !strings.EqualFold(req.URL.Host, t.host) {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}

// connect opens a session: the SDK connects and runs the initialize (or
// discover) handshake, then the tools are listed.
func connect(ctx context.Context, client *mcp.Client, t mcp.Transport) (*mcp.ClientSession, []*mcp.Tool, error) {
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		return nil, nil, err
	}
	tools, err := listTools(ctx, cs)
	if err != nil {
		_ = cs.Close()
		return nil, nil, err
	}
	return cs, tools, nil
}

// listTools lists every tool of a session, following pages, capped at
// maxTools.
func listTools(ctx context.Context, cs *mcp.ClientSession) ([]*mcp.Tool, error) {
	var out []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if len(out) >= maxTools {
			break
		}
	}
	return out, nil
}

// maxTools bounds the tools taken from one server.
const maxTools = 500

// backoff is the wait before reconnect attempt n (from 0): 250ms doubling
// to 30s.
func backoff(n int) time.Duration {
	d := 250 * time.Millisecond
	for range n {
		d *= 2
		if d >= 30*time.Second {
			return 30 * time.Second
		}
	}
	return d
}
