package mcpconn_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// envServer makes the test binary an MCP server on stdio.
const envServer = "MCPCONN_TEST_SERVER"

// The modes of the test binary run as a server: "stdio" serves and exits
// when its stdin closes; "stubborn" starts a child of its own (mode
// "sleep", which lives two minutes), ignores SIGTERM and lives on after its stdin closes, so that
// only a SIGKILL of its group ends it and its child.
func TestMain(m *testing.M) {
	switch os.Getenv(envServer) {
	case "stdio":
		srv, _ := newTestServer()
		if err := srv.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = []string{envServer + "=sleep"}
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv, _ := newTestServer()
		mcp.AddTool(srv, &mcp.Tool{Name: "child", Description: "The pid of the server's own child."},
			func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
				return text(strconv.Itoa(child.Process.Pid)), nil, nil
			})
		_ = srv.Run(context.Background(), &mcp.StdioTransport{})
		time.Sleep(time.Hour)
		os.Exit(0)
	case "sleep":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(2 * time.Minute) // bounded: a failed test leaves it behind
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type empty struct{}

// serverEvents lets an in-process server tell the test what it saw.
type serverEvents struct {
	mu        sync.Mutex
	cancelled int
	started   chan struct{}
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// newTestServer builds the server the tests talk to: echo (read-only),
// write, slow (reports progress, then waits for cancellation), fail (an
// error result), big (300 KB), pid and add (adds a tool, so the server
// announces tools/list_changed).
func newTestServer() (*mcp.Server, *serverEvents) {
	ev := &serverEvents{started: make(chan struct{}, 16)}
	srv := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echo the text.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text("echo: " + in.Text), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "write", Description: "Pretend to write."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text("wrote " + in.Text), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Description: "Wait until cancelled.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Message: "working", Progress: 1, Total: 2})
			}
			ev.started <- struct{}{}
			<-ctx.Done()
			ev.mu.Lock()
			ev.cancelled++
			ev.mu.Unlock()
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "Fail."},
		func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
			r := text("it failed")
			r.IsError = true
			return r, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "A large result."},
		func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
			return text(strings.Repeat("é", 150_000)), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "pid", Description: "The server's process id.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
			return text(strconv.Itoa(os.Getpid())), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Add a tool."},
		func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
			mcp.AddTool(srv, &mcp.Tool{Name: "added", Description: "Added later."},
				func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
					return text("hello from added"), nil, nil
				})
			return text("added"), nil, nil
		})
	return srv, ev
}

// httpHandler serves a server over streamable HTTP. Swapping the server
// (swap) forgets every session, as a restarted server does.
type httpHandler struct {
	mu sync.Mutex
	h  http.Handler
	ev *serverEvents
}

func newHTTPHandler() *httpHandler {
	h := &httpHandler{}
	h.swap()
	return h
}

func (h *httpHandler) swap() {
	srv, ev := newTestServer()
	h.mu.Lock()
	h.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	h.ev = ev
	h.mu.Unlock()
}

func (h *httpHandler) events() *serverEvents {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ev
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	next := h.h
	h.mu.Unlock()
	next.ServeHTTP(w, r)
}
