package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
)

// ModelInfo describes a model a user can call.
type ModelInfo struct {
	// ID is the full "provider:model" id.
	ID          string
	DisplayName string
	// ContextWindow and MaxOutputTokens are zero when unknown.
	ContextWindow   int
	MaxOutputTokens int
}

// ListModels returns the models the user can call, in the order the
// provider selector lists them. A selector that cannot list its models
// (one that does not implement provider.Lister) gives the server's default
// model alone.
func (h *Host) ListModels(ctx context.Context, userID string) ([]ModelInfo, error) {
	l, ok := h.cfg.Providers.(provider.Lister)
	if !ok {
		return []ModelInfo{{ID: h.cfg.Session.DefaultModel, DisplayName: h.cfg.Session.DefaultModel}}, nil
	}
	ms, err := l.Models(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]ModelInfo, len(ms))
	for i, m := range ms {
		out[i] = ModelInfo{ID: m.ID, DisplayName: m.DisplayName, ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens}
	}
	return out, nil
}

// anthropicProvider is the provider a bare "claude-…" model name is tried
// with.
const anthropicProvider = "anthropic"

// ResolveModel maps the model name an outside client sent (the `model` of
// an Anthropic Messages request) to the Seshat model id a turn runs on for
// the user, through the provider setting settingID if it is set:
//
//   - A name with a colon is a Seshat id ("mock:echo",
//     "anthropic:claude-haiku-4-5"). It must resolve: an unknown one is
//     agent.ErrNotFound.
//   - A bare name is tried as the listed model whose own id it is
//     ("claude-haiku-4-5" finds "anthropic:claude-haiku-4-5"), then as is
//     (the selector may route it, through the user's default provider
//     setting), then, for a "claude" name, with the Anthropic provider.
//     The first that resolves wins.
//   - A bare name that none of these resolve gives "": the turn runs on the
//     session's model (a new session's is the server's default). Clients
//     that hard-code a Claude model name (SDK examples, Claude Code) thus
//     work against any server.
func (h *Host) ResolveModel(ctx context.Context, userID, settingID, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("%w: model is required", agent.ErrInvalid)
	}
	if strings.Contains(name, ":") {
		err := h.CheckModel(ctx, userID, settingID, name)
		if errors.Is(err, agent.ErrInvalid) {
			return "", fmt.Errorf("%w: model %s: %w", agent.ErrNotFound, name, err)
		}
		return name, err
	}
	try := func(id string) (bool, error) {
		err := h.CheckModel(ctx, userID, settingID, id)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, agent.ErrInvalid):
			return false, nil
		}
		// An unknown provider setting, or a failure of the store.
		return false, err
	}
	var candidates []string
	if ms, err := h.ListModels(ctx, userID); err == nil {
		for _, m := range ms {
			if _, own, ok := strings.Cut(m.ID, ":"); ok && own == name {
				candidates = append(candidates, m.ID)
			}
		}
	}
	candidates = append(candidates, name)
	if strings.HasPrefix(name, "claude") {
		candidates = append(candidates, anthropicProvider+":"+name)
	}
	for _, id := range candidates {
		ok, err := try(id)
		if err != nil {
			return "", err
		}
		if ok {
			return id, nil
		}
	}
	return "", nil
}
