package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
)

// ModelInfo describes a model a user can call.
type ModelInfo = provider.ModelInfo

// ListModels returns the models the user can call, in the order the
// service lists them (see Models).
func (p *Service) ListModels(ctx context.Context, userID string) ([]provider.ModelInfo, error) {
	return ListModels(ctx, p, userID, "")
}

// Route is a resolved model (provider.Route).
type Route = provider.Route

// ResolveModel maps an outside client's model name to the Seshat model id
// a turn runs on and its route (see the function ResolveModel).
func (p *Service) ResolveModel(ctx context.Context, userID, settingID, name string) (string, *Route, error) {
	return ResolveModel(ctx, p, userID, settingID, name)
}

// ListModels returns the models sel serves the user, in the order it
// lists them. A selector that cannot list its models (one that does not
// implement provider.Lister) gives fallback alone.
func ListModels(ctx context.Context, sel provider.Selector, userID, fallback string) ([]provider.ModelInfo, error) {
	l, ok := sel.(provider.Lister)
	if !ok {
		return []provider.ModelInfo{{ID: fallback, DisplayName: fallback}}, nil
	}
	return l.Models(ctx, userID)
}

// ResolveModel maps, through sel, the model name an outside client sent (the `model` of
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
//
// The route is the id's provider as sel selected it (nil with ""), so
// that the turn need not select it again.
func ResolveModel(ctx context.Context, sel provider.Selector, userID, settingID, name string) (string, *Route, error) {
	var route *Route
	check := func(model string) error {
		prov, id, err := sel.Select(ctx, userID, settingID, model)
		if err == nil {
			route = &Route{Provider: prov, Model: id}
		}
		return err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil, fmt.Errorf("%w: model is required", agent.ErrInvalid)
	}
	if strings.Contains(name, ":") {
		err := check(name)
		if errors.Is(err, agent.ErrInvalid) {
			return "", nil, fmt.Errorf("%w: model %s: %w", agent.ErrNotFound, name, err)
		}
		if err != nil {
			return "", nil, err
		}
		return name, route, nil
	}
	try := func(id string) (bool, error) {
		err := check(id)
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
	if ms, err := ListModels(ctx, sel, userID, ""); err == nil {
		for _, m := range ms {
			if _, own, ok := strings.Cut(m.ID, ":"); ok && own == name {
				candidates = append(candidates, m.ID)
			}
		}
	}
	candidates = append(candidates, name)
	if strings.HasPrefix(name, "claude") {
		candidates = append(candidates, provider.AnthropicName+":"+name)
	}
	for _, id := range candidates {
		ok, err := try(id)
		if err != nil {
			return "", nil, err
		}
		if ok {
			return id, route, nil
		}
	}
	return "", nil, nil
}
