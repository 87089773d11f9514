package mcpconn

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/persist"
)

// Approval policies of a server.
const (
	ApproveAlways = "always"
	ApproveNever  = "never"
	ApproveWrites = "writes"
)

// ToolPrefix is how the model sees a server's tools: mcp__NAME__TOOL.
const ToolPrefix = "mcp__"

// maxToolName is the longest tool name model APIs accept.
const maxToolName = 128

// ToolName is the name the model sees for a server's tool, or "" when
// the tool's name cannot be offered (too long once prefixed). Characters
// model APIs refuse in tool names become "_".
func ToolName(server, name string) string {
	var b strings.Builder
	b.WriteString(ToolPrefix + server + "__")
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() > maxToolName {
		return ""
	}
	return b.String()
}

// Allowed applies a server's tool filter to one of its tools' names.
func Allowed(f persist.MCPToolFilter, name string) bool {
	if len(f.Allow) > 0 && !slices.Contains(f.Allow, name) {
		return false
	}
	return !slices.Contains(f.Deny, name)
}

// Tools returns the tools of a server as the model sees them through the
// workspace's connection, filtered by the server's tool filter.
func (m *Manager) Tools(ctx context.Context, srv persist.MCPServer, workspaceID string) ([]tool.Tool, error) {
	infos, err := m.ListTools(ctx, srv, workspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]tool.Tool, 0, len(infos))
	seen := map[string]bool{}
	for _, ti := range infos {
		name := ToolName(srv.Name, ti.Name)
		if name == "" || seen[name] || !Allowed(srv.ToolFilter, ti.Name) {
			continue
		}
		seen[name] = true
		out = append(out, &mcpTool{m: m, srv: srv, workspaceID: workspaceID, info: ti, name: name})
	}
	return out, nil
}

// mcpTool is one MCP tool as a server tool of a turn.
type mcpTool struct {
	m           *Manager
	srv         persist.MCPServer
	workspaceID string
	info        ToolInfo
	name        string
}

func (t *mcpTool) Spec() agent.ToolSpec {
	desc := t.info.Description
	if desc == "" {
		desc = "Tool " + t.info.Name + " of the MCP server " + t.srv.Name + "."
	}
	return agent.ToolSpec{Name: t.name, Description: desc, InputSchema: t.info.InputSchema}
}

// NeedsApproval follows require_approval; "writes" trusts the read-only
// hint, and an unknown or empty value asks.
func (t *mcpTool) NeedsApproval() bool {
	switch t.srv.RequireApproval {
	case ApproveNever:
		return false
	case ApproveWrites:
		return !t.info.ReadOnly
	}
	return true
}

// ReadOnly is the tool's read-only hint, which plan mode relies on.
func (t *mcpTool) ReadOnly() bool { return t.info.ReadOnly }

func (t *mcpTool) Run(ctx context.Context, call tool.Call) (string, error) {
	args := call.Input
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	return t.m.Call(ctx, t.srv, t.workspaceID, t.info.Name, args, call.Progress)
}
