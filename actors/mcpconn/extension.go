package mcpconn

import (
	"context"
	"sync"

	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// Extension offers a turn the tools of the enabled MCP servers of its
// workspace and the global ones. A server that cannot be reached is left
// out of the turn (its status says why); it never fails the turn.
func (m *Manager) Extension() turn.Extension { return extension{m} }

type extension struct{ m *Manager }

func (e extension) Prepare(ctx context.Context, s turn.Setup) (turn.Contribution, error) {
	servers, err := e.m.cfg.Store.MCPServers([]string{s.WorkspaceID}, false)
	if err != nil {
		return turn.Contribution{}, err
	}
	var enabled []persist.MCPServer
	for _, srv := range servers {
		if srv.Enabled {
			enabled = append(enabled, srv)
		}
	}
	if len(enabled) == 0 {
		return turn.Contribution{}, nil
	}
	lists := make([][]tool.Tool, len(enabled))
	var wg sync.WaitGroup
	for i, srv := range enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tools, err := e.m.Tools(ctx, srv, s.WorkspaceID)
			if err != nil {
				e.m.log.Warn("mcp server left out of the turn", "server", srv.Name, "session_id", s.SessionID, "err", err)
				return
			}
			lists[i] = tools
		}()
	}
	wg.Wait()
	var c turn.Contribution
	for _, l := range lists {
		c.Tools = append(c.Tools, l...)
	}
	return c, nil
}
