package websearch

import (
	"context"

	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
)

// Extension offers web_search to every turn while a provider is
// configured, and web_fetch to every turn (it asks in the default mode).
func (s *Service) Extension() turn.Extension { return extension{s} }

type extension struct{ s *Service }

func (e extension) Prepare(context.Context, turn.Setup) (turn.Contribution, error) {
	tools := []tool.Tool{e.s.FetchTool()}
	if e.s.Enabled() {
		tools = append([]tool.Tool{e.s.SearchTool()}, tools...)
	}
	return turn.Contribution{Tools: tools}, nil
}
