package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/seshat-host/seshat/actors/agent"
)

// MockName is the provider name the mock is registered under; it is always
// available.
const MockName = "mock"

// AnthropicName and OpenAIName are the names of the Anthropic and
// OpenAI-compatible backends, as provider settings and the server-wide
// registry name them.
const (
	AnthropicName = "anthropic"
	OpenAIName    = "openai"
)

// Provider runs model calls.
type Provider interface {
	// Stream runs one model call, calling emit for every chunk as it
	// arrives (text deltas one by one; a ChunkToolUse once a tool use is
	// complete), and returns the complete response. It must return
	// promptly with ctx.Err() when ctx is cancelled. emit is called on the
	// caller's goroutine, before Stream returns, and never after. req and
	// its messages are the caller's: they must not be modified, nor kept
	// once Stream returns (the turn runner reuses req for its next call).
	// The request is passed by pointer so that the frames of the wrappers
	// (meters, metrics) a turn's goroutine keeps while it waits for the
	// model stay small.
	Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error)
}

// ModelInfo describes a model a user can call.
type ModelInfo struct {
	// ID is the full "provider:model" id.
	ID          string
	DisplayName string
	// ContextWindow and MaxOutputTokens are zero when unknown.
	ContextWindow   int
	MaxOutputTokens int
}

// Lister is implemented by a Selector that can list the models it serves
// for a user.
type Lister interface {
	Models(ctx context.Context, userID string) ([]ModelInfo, error)
}

// Registry maps provider names to providers.
type Registry struct {
	mu sync.RWMutex
	// guarded by mu
	byName map[string]Provider
	models map[string][]ModelInfo
}

// NewRegistry returns a registry that already holds the mock under
// MockName, since API.md promises it is always available. Registering
// another provider under that name replaces it.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]Provider{MockName: NewMock()}}
}

// Register adds p under name, replacing any provider of that name. It
// panics on a nil provider or a name that is empty or contains ':', which
// are wiring mistakes that must fail at start-up.
func (r *Registry) Register(name string, p Provider) {
	if p == nil {
		panic("provider: Register: nil provider for " + name)
	}
	if name == "" || strings.ContainsAny(name, ": \t\n") {
		panic(fmt.Sprintf("provider: Register: invalid name %q", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byName[name] = p
}

// SetModels records the models a registered provider is known to serve,
// for listings. Ids are the provider's own (without "name:").
func (r *Registry) SetModels(name string, models ...ModelInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models == nil {
		r.models = map[string][]ModelInfo{}
	}
	out := make([]ModelInfo, len(models))
	for i, m := range models {
		m.ID = name + ":" + strings.TrimPrefix(m.ID, name+":")
		out[i] = m
	}
	r.models[name] = out
}

// Models implements Lister: the mock's echo model and every model recorded
// with SetModels, sorted by id. The user does not matter here.
func (r *Registry) Models(context.Context, string) ([]ModelInfo, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []ModelInfo{{ID: MockName + ":echo", DisplayName: "Mock (offline echo)"}}
	for name, ms := range r.models {
		if _, ok := r.byName[name]; ok {
			out = append(out, ms...)
		}
	}
	slices.SortFunc(out, func(a, b ModelInfo) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b ModelInfo) bool { return a.ID == b.ID }), nil
}

// Names returns the registered provider names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Resolve splits a model id "provider:model" at its first colon and returns
// the provider and the provider's own model id: "mock:echo" gives the mock
// and "echo". A malformed id or an unknown provider gives an error wrapping
// agent.ErrInvalid that names the known providers.
func (r *Registry) Resolve(model string) (Provider, string, error) {
	name, id, ok := strings.Cut(model, ":")
	if !ok || name == "" || id == "" {
		return nil, "", fmt.Errorf("%w: model %q is not of the form provider:model (known providers: %s)",
			agent.ErrInvalid, model, strings.Join(r.Names(), ", "))
	}
	r.mu.RLock()
	p, found := r.byName[name]
	r.mu.RUnlock()
	if !found {
		return nil, "", fmt.Errorf("%w: model %q names unknown provider %q (known providers: %s)",
			agent.ErrInvalid, model, name, strings.Join(r.Names(), ", "))
	}
	return p, id, nil
}

// Route is a model resolved for a turn: the provider that serves it and
// the model id that provider knows, or the resolution's failure (Err), with
// which the turn then fails as a failed Select would.
type Route struct {
	Provider Provider
	Model    string
	Err      error
}

// Selector picks the provider that serves a model for a user. settingID,
// when not empty, names one of the user's provider settings to use
// instead of the default resolution. A model or setting that cannot be
// served gives an error wrapping agent.ErrInvalid (or agent.ErrNotFound for
// a setting the user cannot see).
type Selector interface {
	Select(ctx context.Context, userID, settingID, model string) (Provider, string, error)
}

// Select implements Selector with the server-wide providers only: it knows
// no per-user settings.
func (r *Registry) Select(_ context.Context, _, settingID, model string) (Provider, string, error) {
	if settingID != "" {
		return nil, "", fmt.Errorf("%w: provider setting %s", agent.ErrNotFound, settingID)
	}
	return r.Resolve(model)
}
