package tool

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
)

// Tool is a tool that runs on the server.
type Tool interface {
	// Spec declares the tool to the model: name, description and input schema.
	Spec() agent.ToolSpec
	// NeedsApproval reports whether the tool asks before running in the
	// default permission mode.
	NeedsApproval() bool
	// ReadOnly reports whether the tool changes nothing, which is what plan
	// mode allows.
	ReadOnly() bool
	// Run executes one call. A returned error becomes a tool_result with
	// is_error set and err.Error() as its content; the turn goes on.
	Run(ctx context.Context, call Call) (string, error)
}

// Call is one invocation of a tool.
type Call struct {
	SessionID   string
	WorkspaceID string
	UserID      string
	ToolUseID   string
	// Input is the tool_use input, already checked against the tool's
	// schema by the runner.
	Input json.RawMessage
	// Files is the workspace file store; nil when none is configured.
	Files FileStore
	// Progress emits a tool_progress event. Never nil. It may be called
	// from any goroutine while Run runs; calls after Run returned are
	// dropped.
	Progress func(message string)
	// Ask opens a prompt request and blocks until it is answered or ctx is
	// done. Never nil. Like Progress, it works only while Run runs.
	Ask func(ctx context.Context, question string) (string, error)
	// Sources records chunks the tool retrieved (agent.SourceTool): they
	// join the turn's rag_results and later model requests. Never nil;
	// like Progress, it works only while Run runs.
	Sources func([]agent.Source)
}

// FileStore is the slice of the Files store the built-in tools use. Paths
// are workspace-relative.
type FileStore interface {
	// ReadFile returns a file's content. When no file has the path it
	// returns an error wrapping agent.ErrNotFound (fs.ErrNotExist is
	// accepted too).
	ReadFile(ctx context.Context, workspaceID, path string) ([]byte, error)
	// WriteFile creates or replaces a file on behalf of userID, the turn's
	// user: the file is theirs, and its bytes count toward their and the
	// workspace's stored_bytes quotas (a write past one fails and stores
	// nothing).
	WriteFile(ctx context.Context, workspaceID, userID, path string, content []byte) error
	// ListFiles returns every file path of the workspace.
	ListFiles(ctx context.Context, workspaceID string) ([]string, error)
}

// Registry maps tool names to server tools. It is immutable once built.
type Registry struct {
	byName map[string]Tool
	order  []Tool
}

// NewRegistry returns a registry of tools, keeping their order for Specs.
// It panics on a nil tool, an empty name or a duplicate name: those are
// wiring mistakes that must fail at start-up, not mid-turn.
func NewRegistry(tools ...Tool) *Registry {
	r := &Registry{byName: make(map[string]Tool, len(tools))}
	for _, t := range tools {
		if t == nil {
			panic("tool: NewRegistry: nil tool")
		}
		name := t.Spec().Name
		if name == "" {
			panic("tool: NewRegistry: tool with an empty name")
		}
		if _, dup := r.byName[name]; dup {
			panic(fmt.Sprintf("tool: NewRegistry: duplicate tool %q", name))
		}
		r.byName[name] = t
		r.order = append(r.order, t)
	}
	return r
}

// Get returns the tool called name. A nil registry holds no tools.
func (r *Registry) Get(name string) (Tool, bool) {
	if r == nil {
		return nil, false
	}
	t, ok := r.byName[name]
	return t, ok
}

// Specs returns the specs of every tool, in registration order, so the
// tool list a model sees is the same on every call.
func (r *Registry) Specs() []agent.ToolSpec {
	if r == nil {
		return nil
	}
	out := make([]agent.ToolSpec, 0, len(r.order))
	for _, t := range r.order {
		out = append(out, t.Spec())
	}
	return out
}
