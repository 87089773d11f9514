package mcpconn

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// Caller is who asks: a user, and whether they are a server admin.
type Caller struct {
	UserID string
	Admin  bool
}

// Input is a server's configuration as a caller sends it. On update, nil
// fields keep their value.
type Input struct {
	Name            *string
	Transport       *string
	Command         *string
	Args            *[]string
	Env             *map[string]string
	URL             *string
	Headers         *map[string]string
	WorkspaceID     *string
	Enabled         *bool
	ToolFilter      *persist.MCPToolFilter
	RequireApproval *string
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

const (
	maxArgs      = 64
	maxArgBytes  = 4096
	maxSecrets   = 64
	maxSecretLen = 8192
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{agent.ErrInvalid}, args...)...)
}

// Create adds a server. stdio and global servers are for server admins;
// workspace admins add HTTP servers to their workspace, whose URLs may not
// reach private or local addresses.
func (m *Manager) Create(ctx context.Context, c Caller, in Input) (persist.MCPServer, error) {
	srv := persist.MCPServer{ID: newID(), Enabled: true, RequireApproval: ApproveAlways, CreatedBy: c.UserID, Trusted: c.Admin}
	if in.WorkspaceID != nil && *in.WorkspaceID != "" {
		srv.Scope, srv.WorkspaceID = persist.MCPScopeWorkspace, *in.WorkspaceID
		if err := m.authorize(c, srv); err != nil {
			return persist.MCPServer{}, err
		}
	} else {
		srv.Scope = persist.MCPScopeGlobal
		if !c.Admin {
			return persist.MCPServer{}, fmt.Errorf("%w: global MCP servers are for server admins; name a workspace_id", agent.ErrForbidden)
		}
	}
	var sec persist.MCPSecrets
	if err := m.apply(ctx, c, &srv, &sec, in, true); err != nil {
		return persist.MCPServer{}, err
	}
	out, err := m.cfg.Store.CreateMCPServer(ctx, srv, sec)
	if errors.Is(err, persist.ErrConflict) {
		return persist.MCPServer{}, fmt.Errorf("%w: an MCP server named %q already exists where a turn would see both", agent.ErrConflict, srv.Name)
	}
	return out, err
}

// authorize checks that c may change srv: a server admin, or an admin of
// the server's workspace (a workspace they cannot see is not found).
func (m *Manager) authorize(c Caller, srv persist.MCPServer) error {
	if c.Admin {
		return nil
	}
	if srv.Scope != persist.MCPScopeWorkspace {
		return fmt.Errorf("%w: global MCP servers are for server admins", agent.ErrForbidden)
	}
	_, err := m.cfg.Store.AuthorizeWorkspace(c.UserID, srv.WorkspaceID, persist.WorkspaceAdmin)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("workspace %q: %w", srv.WorkspaceID, agent.ErrNotFound)
	case errors.Is(err, persist.ErrForbidden):
		return fmt.Errorf("%w: MCP servers of a workspace are for its admins", agent.ErrForbidden)
	}
	return err
}

// apply validates in and writes it into srv and sec.
func (m *Manager) apply(ctx context.Context, c Caller, srv *persist.MCPServer, sec *persist.MCPSecrets, in Input, create bool) error {
	oldURL, oldTransport := srv.URL, srv.Transport
	if in.Name != nil {
		srv.Name = *in.Name
	}
	if !nameRE.MatchString(srv.Name) {
		return invalid("name must be 1 to 32 of a-z, 0-9, _ and -")
	}
	if in.Transport != nil {
		srv.Transport = *in.Transport
	}
	if in.Command != nil {
		srv.Command = *in.Command
	}
	if in.Args != nil {
		srv.Args = slices.Clone(*in.Args)
	}
	if in.URL != nil {
		srv.URL = strings.TrimSpace(*in.URL)
	}
	if in.Enabled != nil {
		srv.Enabled = *in.Enabled
	}
	if in.ToolFilter != nil {
		srv.ToolFilter = *in.ToolFilter
	}
	if in.RequireApproval != nil {
		srv.RequireApproval = *in.RequireApproval
	}
	if in.Env != nil {
		sec.Env = *in.Env
	}
	if in.Headers != nil {
		sec.Headers = *in.Headers
	}
	switch srv.RequireApproval {
	case ApproveAlways, ApproveNever, ApproveWrites:
	default:
		return invalid("require_approval must be always, never or writes")
	}
	if len(sec.Env) > maxSecrets || len(sec.Headers) > maxSecrets {
		return invalid("at most %d env variables and %d headers", maxSecrets, maxSecrets)
	}
	for k, v := range sec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || len(v) > maxSecretLen || strings.ContainsRune(v, 0) {
			return invalid("env %q is not a valid variable", k)
		}
	}
	for k, v := range sec.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n\x00") || len(v) > maxSecretLen || strings.ContainsAny(v, "\r\n\x00") {
			return invalid("header %q is not a valid header", k)
		}
	}
	switch srv.Transport {
	case TransportStdio:
		if !c.Admin {
			return fmt.Errorf("%w: stdio MCP servers run a command on the host and are for server admins", agent.ErrForbidden)
		}
		if srv.Command == "" {
			return invalid("a stdio server needs a command")
		}
		if len(srv.Args) > maxArgs {
			return invalid("at most %d args", maxArgs)
		}
		for _, a := range srv.Args {
			if len(a) > maxArgBytes || strings.ContainsRune(a, 0) {
				return invalid("an arg is too long or holds a NUL byte")
			}
		}
		srv.URL = ""
		sec.Headers = nil
	case TransportStreamableHTTP, TransportSSE:
		if srv.URL == "" {
			return invalid("an HTTP server needs a url")
		}
		if _, err := egress.CheckURL(ctx, egress.Policy{AllowPrivate: c.Admin || m.cfg.AllowPrivate}, srv.URL); err != nil {
			return invalid("url: %s", strings.TrimPrefix(err.Error(), "egress: "))
		}
		srv.Command, srv.Args, sec.Env = "", nil, nil
		// Headers follow their destination.
		if !create && in.Headers == nil && len(sec.Headers) > 0 && (srv.URL != oldURL || srv.Transport != oldTransport) {
			return fmt.Errorf("%w: changing the url needs the headers again", agent.ErrSecretRequired)
		}
	default:
		return invalid("transport must be stdio, streamable_http or sse")
	}
	if in.URL != nil || in.Transport != nil || create {
		srv.Trusted = c.Admin
	}
	return nil
}

// visible loads a server the caller may see: a global one, or one of a
// workspace they have a role in; any other is not found.
func (m *Manager) visible(c Caller, id string) (persist.MCPServer, error) {
	notFound := fmt.Errorf("MCP server %q: %w", id, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixMCP, id) {
		return persist.MCPServer{}, notFound
	}
	srv, err := m.cfg.Store.MCPServer(id)
	if errors.Is(err, persist.ErrNotFound) {
		return persist.MCPServer{}, notFound
	}
	if err != nil {
		return persist.MCPServer{}, err
	}
	if c.Admin || srv.Scope == persist.MCPScopeGlobal {
		return srv, nil
	}
	if _, err := m.cfg.Store.AuthorizeWorkspace(c.UserID, srv.WorkspaceID, persist.WorkspaceViewer); err != nil {
		return persist.MCPServer{}, notFound
	}
	return srv, nil
}

// Get returns a server the caller sees.
func (m *Manager) Get(_ context.Context, c Caller, id string) (persist.MCPServer, error) {
	return m.visible(c, id)
}

// List returns the servers of a workspace the caller sees (their default
// one if empty) and the global ones.
func (m *Manager) List(_ context.Context, c Caller, workspaceID string) ([]persist.MCPServer, error) {
	if workspaceID == "" {
		def, err := m.cfg.Store.DefaultWorkspaceFor(c.UserID)
		if err != nil {
			return nil, err
		}
		workspaceID = def
	}
	if _, err := m.cfg.Store.AuthorizeWorkspace(c.UserID, workspaceID, persist.WorkspaceViewer); err != nil {
		return nil, fmt.Errorf("workspace %q: %w", workspaceID, agent.ErrNotFound)
	}
	return m.cfg.Store.MCPServers([]string{workspaceID}, false)
}

// Update changes a server and ends its connections, so the next use
// connects with the new configuration.
func (m *Manager) Update(ctx context.Context, c Caller, id string, in Input) (persist.MCPServer, error) {
	srv, err := m.visible(c, id)
	if err != nil {
		return persist.MCPServer{}, err
	}
	if err := m.authorize(c, srv); err != nil {
		return persist.MCPServer{}, err
	}
	if in.WorkspaceID != nil && *in.WorkspaceID != srv.WorkspaceID {
		return persist.MCPServer{}, invalid("workspace_id cannot change; create the server in the other workspace")
	}
	// Validate (the URL check resolves names) outside the store's writer.
	probe, probeSec := srv, persist.MCPSecrets{}
	if cur, err := m.cfg.Store.MCPServerSecrets(id); err == nil {
		probeSec = cur
	}
	if err := m.apply(ctx, c, &probe, &probeSec, in, false); err != nil {
		return persist.MCPServer{}, err
	}
	out, err := m.cfg.Store.UpdateMCPServer(ctx, id, func(s *persist.MCPServer, sec *persist.MCPSecrets) error {
		*s, *sec = probe, probeSec
		return nil
	})
	if errors.Is(err, persist.ErrConflict) {
		return persist.MCPServer{}, fmt.Errorf("%w: an MCP server named %q already exists where a turn would see both", agent.ErrConflict, probe.Name)
	}
	if err != nil {
		return persist.MCPServer{}, err
	}
	return out, m.Stop(ctx, id)
}

// Delete removes a server and ends its connections and processes.
func (m *Manager) Delete(ctx context.Context, c Caller, id string) error {
	srv, err := m.visible(c, id)
	if err != nil {
		return err
	}
	if err := m.authorize(c, srv); err != nil {
		return err
	}
	if err := m.cfg.Store.DeleteMCPServer(ctx, id); err != nil {
		return err
	}
	return m.Stop(ctx, id)
}

// ServerTools lists a server's tools as the caller's default workspace
// (or the server's own) sees them.
func (m *Manager) ServerTools(ctx context.Context, c Caller, id string) ([]ToolInfo, error) {
	srv, err := m.visible(c, id)
	if err != nil {
		return nil, err
	}
	ws := srv.WorkspaceID
	if ws == "" {
		if ws, err = m.cfg.Store.DefaultWorkspaceFor(c.UserID); err != nil {
			return nil, err
		}
	}
	if !srv.Enabled {
		return nil, fmt.Errorf("%w: the server is disabled", agent.ErrConflict)
	}
	return m.ListTools(ctx, srv, ws)
}

// TestServer connects to a server afresh; a failure is reported, not
// returned, unless the server is not the caller's to test.
func (m *Manager) TestServer(ctx context.Context, c Caller, id string) (TestResult, error) {
	srv, err := m.visible(c, id)
	if err != nil {
		return TestResult{}, err
	}
	if err := m.authorize(c, srv); err != nil {
		return TestResult{}, err
	}
	return m.Test(ctx, srv)
}

func newID() string { return agent.NewID(agent.PrefixMCP) }
