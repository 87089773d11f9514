package agents

import (
	"context"
	"fmt"
	"slices"

	"github.com/seshat-host/seshat/actors/turn"
)

// webSearchTool is the tool a profile's web_search: false hides.
const webSearchTool = "web_search"

// Extension narrows the server tools of a turn that uses a profile (see
// the package documentation).
func (s *Service) Extension() turn.Extension { return extension{s} }

type extension struct{ s *Service }

func (e extension) Prepare(ctx context.Context, st turn.Setup) (turn.Contribution, error) {
	if st.Context.AgentID == "" {
		return turn.Contribution{}, nil
	}
	p, err := e.s.Version(ctx, st.Context.AgentID, st.Context.AgentVersion)
	if err != nil {
		return turn.Contribution{}, fmt.Errorf("agent profile %s version %d: %w", st.Context.AgentID, st.Context.AgentVersion, err)
	}
	var c turn.Contribution
	if p.Tools != nil {
		c.Allow = slices.Clone(p.Tools.Allow)
		c.Deny = slices.Clone(p.Tools.Deny)
	}
	if p.WebSearch != nil && !*p.WebSearch {
		c.Deny = append(c.Deny, webSearchTool)
	}
	if len(p.MCPServers) > 0 && e.s.cfg.MCPTools != nil {
		servers, err := e.s.store.MCPServers([]string{st.WorkspaceID}, false)
		if err != nil {
			return turn.Contribution{}, err
		}
		for _, srv := range servers {
			if !srv.Enabled || slices.Contains(p.MCPServers, srv.ID) {
				continue
			}
			names, err := e.s.cfg.MCPTools(ctx, srv, st.WorkspaceID)
			if err != nil {
				// The MCP family leaves an unreachable server out of
				// the turn too.
				e.s.log.Debug("mcp server tools not listed", "server", srv.Name, "err", err)
				continue
			}
			c.Deny = append(c.Deny, names...)
		}
	}
	return c, nil
}
