package turn

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tool"
)

// planExtension offers tools through the extension seam, the way outside
// tools (an MCP server's, a profile's) reach a turn, and may narrow the
// tool list as a profile does.
type planExtension struct{ tools []tool.Tool }

func (e planExtension) Prepare(context.Context, Setup) (Contribution, error) {
	return Contribution{Tools: e.tools}, nil
}

// TestPlanModeIsAbsolute checks, over every tool that changes anything
// and every permission state a session can be in, that plan mode never
// runs it: not when a remembered decision allows it, not when the caller
// cannot be asked, not when the tool says it needs no approval (an MCP
// server with require_approval "never"), not when it arrives through an
// extension. A read-only tool still runs, so the gate is not simply "no
// tools".
func TestPlanModeIsAbsolute(t *testing.T) {
	var ran atomic.Int64
	mutator := func(name string, needsApproval bool) tool.Tool {
		return testTool{name: name, needsApproval: needsApproval, run: func(context.Context, tool.Call) (string, error) {
			ran.Add(1)
			return "changed", nil
		}}
	}
	// Every write tool: the built-in writer, and outside tools that
	// change things with and without asking.
	builtinWriters := []string{tool.NameWriteFile}
	extWriters := []tool.Tool{
		mutator("mcp__srv__delete", false), // require_approval "never"
		mutator("mcp__srv__deploy", true),  // require_approval "always"
		mutator("memory_like_save", false), // audited but unasked
	}
	states := map[string]func(context.Context, PermissionRequest) (Decision, error){
		"remembered allow": func(context.Context, PermissionRequest) (Decision, error) { return Decision{Allow: true}, nil },
		"remembered deny":  func(context.Context, PermissionRequest) (Decision, error) { return Decision{Reason: "no"}, nil },
		"no one to ask":    nil,
		"ask fails": func(context.Context, PermissionRequest) (Decision, error) {
			return Decision{}, errors.New("timeout")
		},
	}
	type writer struct {
		name  string
		input string
	}
	var writers []writer
	for _, n := range builtinWriters {
		writers = append(writers, writer{n, `{"path":"p.txt","content":"x"}`})
	}
	for _, tl := range extWriters {
		writers = append(writers, writer{tl.Spec().Name, `{}`})
	}
	for _, w := range writers {
		for stateName, decide := range states {
			for _, noAsk := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/noask=%v", w.name, stateName, noAsk)
				t.Run(name, func(t *testing.T) {
					files := &mapFiles{files: map[string][]byte{}}
					providers := provider.NewRegistry()
					r, err := New(Config{
						Providers:  providers,
						Tools:      tool.NewRegistry(tool.Builtins()...),
						Files:      files,
						Extensions: []Extension{planExtension{tools: extWriters}},
					})
					require.NoError(t, err)
					before := ran.Load()
					sink := &recSink{decide: decide}
					in := input("@tool " + w.name + " " + w.input + "\n@tool list_files {}")
					in.PermissionMode = agent.ModePlan
					in.NoAsk = noAsk
					res := r.Run(t.Context(), &in, sink)
					require.NoError(t, res.Err)
					require.Len(t, res.ToolResults, 2)
					require.True(t, res.ToolResults[0].IsError, "the writer is denied")
					require.Contains(t, res.ToolResults[0].Content, "plan mode")
					require.False(t, res.ToolResults[1].IsError, "a read-only tool still runs in plan mode")
					require.Equal(t, before, ran.Load(), "no write tool ran")
					require.Empty(t, files.files, "no file was written")
					require.Empty(t, sink.perms, "plan mode never asks: there is nothing to allow")
					for _, ev := range sink.runtime() {
						if ev.Type == agent.RuntimeToolStarted {
							require.NotEqual(t, w.name, ev.Name)
						}
					}
				})
			}
		}
	}
	// The same writers do run outside plan mode when allowed, so the
	// property is about plan mode and not about the fixture.
	for _, w := range writers {
		t.Run(w.name+"/accept_all runs", func(t *testing.T) {
			files := &mapFiles{files: map[string][]byte{}}
			r, err := New(Config{
				Providers:  provider.NewRegistry(),
				Tools:      tool.NewRegistry(tool.Builtins()...),
				Files:      files,
				Extensions: []Extension{planExtension{tools: extWriters}},
			})
			require.NoError(t, err)
			in := input("@tool " + w.name + " " + w.input)
			in.PermissionMode = agent.ModeAcceptAll
			res := r.Run(t.Context(), &in, &recSink{})
			require.NoError(t, res.Err)
			require.Len(t, res.ToolResults, 1)
			require.False(t, res.ToolResults[0].IsError, res.ToolResults[0].Content)
		})
	}
}
