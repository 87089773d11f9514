package provider

import "context"

type workspaceKey struct{}

// WithWorkspace returns ctx carrying the workspace a turn runs in, so that
// a Selector resolves the turn's provider from that workspace's settings
// and never from another workspace the caller belongs to.
func WithWorkspace(ctx context.Context, workspaceID string) context.Context {
	if workspaceID == "" {
		return ctx
	}
	return context.WithValue(ctx, workspaceKey{}, workspaceID)
}

// WorkspaceOf returns the workspace WithWorkspace put in ctx, or "" (the
// selection then knows no workspace: only the caller's own and the
// server's settings serve it).
func WorkspaceOf(ctx context.Context) string {
	ws, _ := ctx.Value(workspaceKey{}).(string)
	return ws
}
