package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
)

// Names of the built-in tools.
const (
	NameReadFile  = "read_file"
	NameWriteFile = "write_file"
	NameListFiles = "list_files"
	NameAskUser   = "ask_user"
)

// errNoFiles is returned by the file tools when the runner has no store.
var errNoFiles = errors.New("no file store is configured")

// Builtins returns the built-in tools in a stable order: read_file,
// write_file, list_files, ask_user. Only write_file needs approval in the
// default mode; ask_user needs none (asking is its whole point) and counts
// as read-only, so plan mode may ask questions.
func Builtins() []Tool {
	return []Tool{
		builtin{
			spec: agent.ToolSpec{
				Name:        NameReadFile,
				Description: "Read a workspace file and return its text content.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"Workspace-relative path of the file."}},"required":["path"]}`),
			},
			readOnly: true,
			run:      readFile,
		},
		builtin{
			spec: agent.ToolSpec{
				Name:        NameWriteFile,
				Description: "Create or replace a workspace file with the given text content.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"Workspace-relative path of the file."},"content":{"type":"string","description":"The file's new content."}},"required":["path","content"]}`),
			},
			needsApproval: true,
			run:           writeFile,
		},
		builtin{
			spec: agent.ToolSpec{
				Name:        NameListFiles,
				Description: "List the paths of every file in the workspace, one per line.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{}}`),
			},
			readOnly: true,
			run:      listFiles,
		},
		builtin{
			spec: agent.ToolSpec{
				Name:        NameAskUser,
				Description: "Ask the user a question and return their answer.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"question":{"type":"string","description":"The question to ask."}},"required":["question"]}`),
			},
			readOnly: true,
			run:      askUser,
		},
	}
}

// builtin is a Tool made of a spec, two flags and a function.
type builtin struct {
	spec          agent.ToolSpec
	needsApproval bool
	readOnly      bool
	run           func(ctx context.Context, call Call) (string, error)
}

func (b builtin) Spec() agent.ToolSpec { return b.spec }
func (b builtin) NeedsApproval() bool  { return b.needsApproval }
func (b builtin) ReadOnly() bool       { return b.readOnly }
func (b builtin) Run(ctx context.Context, call Call) (string, error) {
	return b.run(ctx, call)
}

func readFile(ctx context.Context, call Call) (string, error) {
	var in struct {
		Path string `json:"path"`
	}
	if err := decodeInput(call.Input, &in); err != nil {
		return "", err
	}
	if err := checkPath(in.Path); err != nil {
		return "", err
	}
	if call.Files == nil {
		return "", errNoFiles
	}
	data, err := call.Files.ReadFile(ctx, call.WorkspaceID, in.Path)
	if errors.Is(err, agent.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("file not found: %s", in.Path)
	}
	if err != nil {
		return "", err
	}
	// A tool result is a JSON string: bytes that are not UTF-8 would be
	// silently mangled on the way to the model.
	if !utf8.Valid(data) {
		return "", fmt.Errorf("file is not UTF-8 text: %s (%d bytes)", in.Path, len(data))
	}
	return string(data), nil
}

func writeFile(ctx context.Context, call Call) (string, error) {
	var in struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	if err := decodeInput(call.Input, &in); err != nil {
		return "", err
	}
	if err := checkPath(in.Path); err != nil {
		return "", err
	}
	if call.Files == nil {
		return "", errNoFiles
	}
	if err := call.Files.WriteFile(ctx, call.WorkspaceID, call.UserID, in.Path, []byte(in.Content)); err != nil {
		return "", err
	}
	return fmt.Sprintf("wrote %d bytes to %s", len(in.Content), in.Path), nil
}

func listFiles(ctx context.Context, call Call) (string, error) {
	if call.Files == nil {
		return "", errNoFiles
	}
	paths, err := call.Files.ListFiles(ctx, call.WorkspaceID)
	if err != nil {
		return "", err
	}
	if len(paths) == 0 {
		return "no files in the workspace", nil
	}
	paths = slices.Clone(paths)
	slices.Sort(paths)
	return strings.Join(paths, "\n"), nil
}

func askUser(ctx context.Context, call Call) (string, error) {
	var in struct {
		Question string `json:"question"`
	}
	if err := decodeInput(call.Input, &in); err != nil {
		return "", err
	}
	if strings.TrimSpace(in.Question) == "" {
		return "", &InputError{Problem: "question is empty"}
	}
	return call.Ask(ctx, in.Question)
}

// decodeInput decodes a tool's input; an empty input counts as {}.
func decodeInput(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &InputError{Problem: err.Error()}
	}
	return nil
}

// checkPath rejects what the Files API rejects (empty, absolute, "..",
// NUL), so the model gets a clear answer before the store is touched.
func checkPath(p string) error {
	switch {
	case p == "":
		return &InputError{Problem: "path is empty"}
	case strings.ContainsRune(p, 0):
		return &InputError{Problem: "path contains a NUL byte"}
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`):
		return &InputError{Problem: "path must be workspace-relative: " + p}
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return &InputError{Problem: "path must not contain \"..\": " + p}
		}
	}
	return nil
}

var _ Tool = builtin{}
