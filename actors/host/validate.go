package host

import (
	"context"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
)

// validate asks every extension that validates turn contexts about the
// context a request gives a turn or a session in workspaceID.
func (h *Host) validate(ctx context.Context, userID, workspaceID string, c agent.TurnContext) error {
	for _, e := range h.cfg.Extensions {
		if v, ok := e.(turn.Validator); ok {
			if err := v.Validate(ctx, userID, workspaceID, c); err != nil {
				return err
			}
		}
	}
	return nil
}
