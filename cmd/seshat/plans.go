package main

import (
	"context"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/plans"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// newPlans returns the plans family; its execution turns start through
// the runtime facade, made after it, through rt.
func newPlans(store *persist.Store, rt *runtimeFacade) (*plans.Service, error) {
	return plans.New(plans.Config{
		Store:  store,
		Access: tenancy.NewAccess(store),
		Start: func(ctx context.Context, userID, sessionID, prompt, mode string, c agent.TurnContext) (string, error) {
			t, err := (*rt).StartTurn(ctx, userID, host.TurnRequest{
				SessionID: sessionID, Prompt: prompt,
				Options: turn.Options{PermissionMode: mode, Context: c},
			})
			if err != nil {
				return "", err
			}
			return t.TurnID, nil
		},
	})
}
