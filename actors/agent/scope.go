package agent

import "context"

// TurnScope names whose turn a model call belongs to. The turn runner puts
// it on the context it selects the provider with, so that a selector can
// account the call to the user, the workspace and its organization.
type TurnScope struct {
	UserID      string
	WorkspaceID string
	SessionID   string
}

type turnScopeKey struct{}

// WithTurnScope returns ctx carrying s.
func WithTurnScope(ctx context.Context, s TurnScope) context.Context {
	return context.WithValue(ctx, turnScopeKey{}, s)
}

// TurnScopeFrom returns the TurnScope ctx carries, if any.
func TurnScopeFrom(ctx context.Context) (TurnScope, bool) {
	s, ok := ctx.Value(turnScopeKey{}).(TurnScope)
	return s, ok
}
