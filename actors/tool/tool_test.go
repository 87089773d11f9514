package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

// mapFiles is a FileStore over a map, standing in for the Files store.
type mapFiles struct {
	mu    sync.Mutex
	files map[string]map[string][]byte // workspace → path → content
}

func newMapFiles() *mapFiles { return &mapFiles{files: map[string]map[string][]byte{}} }

func (m *mapFiles) ReadFile(_ context.Context, ws, path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[ws][path]
	if !ok {
		return nil, fmt.Errorf("file %s: %w", path, agent.ErrNotFound)
	}
	return b, nil
}

func (m *mapFiles) WriteFile(_ context.Context, ws, _, path string, content []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[ws] == nil {
		m.files[ws] = map[string][]byte{}
	}
	m.files[ws][path] = content
	return nil
}

func (m *mapFiles) ListFiles(_ context.Context, ws string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.files[ws] {
		out = append(out, p)
	}
	return out, nil
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(Builtins()...)
	var names []string
	for _, s := range r.Specs() {
		names = append(names, s.Name)
		require.True(t, json.Valid(s.InputSchema), s.Name)
		require.NotEmpty(t, s.Description, s.Name)
	}
	require.Equal(t, []string{NameReadFile, NameWriteFile, NameListFiles, NameAskUser}, names)

	got, ok := r.Get(NameWriteFile)
	require.True(t, ok)
	require.True(t, got.NeedsApproval())
	require.False(t, got.ReadOnly())
	_, ok = r.Get("nope")
	require.False(t, ok)

	var nilReg *Registry
	_, ok = nilReg.Get(NameReadFile)
	require.False(t, ok)
	require.Empty(t, nilReg.Specs())

	require.PanicsWithValue(t, `tool: NewRegistry: duplicate tool "read_file"`, func() {
		NewRegistry(append(Builtins(), Builtins()[0])...)
	})
}

func TestBuiltinFlags(t *testing.T) {
	r := NewRegistry(Builtins()...)
	tests := []struct {
		name          string
		needsApproval bool
		readOnly      bool
	}{
		{NameReadFile, false, true},
		{NameWriteFile, true, false},
		{NameListFiles, false, true},
		{NameAskUser, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl, ok := r.Get(tc.name)
			require.True(t, ok)
			require.Equal(t, tc.needsApproval, tl.NeedsApproval())
			require.Equal(t, tc.readOnly, tl.ReadOnly())
		})
	}
}

func TestValidateInput(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{
		"path":{"type":"string"},"n":{"type":"integer"},"f":{"type":"number"},
		"b":{"type":"boolean"},"a":{"type":"array"},"o":{"type":"object"},
		"opt":{"type":["string","null"]},"any":{}},"required":["path"]}`)
	tests := []struct {
		name    string
		schema  json.RawMessage
		input   string
		wantErr string
	}{
		{"ok minimal", schema, `{"path":"a.txt"}`, ""},
		{"ok all types", schema, `{"path":"a","n":3,"f":1.5,"b":true,"a":[1],"o":{},"opt":null,"any":[{}]}`, ""},
		{"integer accepts 2.0", schema, `{"path":"a","n":2.0}`, ""},
		{"number accepts integer", schema, `{"path":"a","f":2}`, ""},
		{"unknown property passes", schema, `{"path":"a","extra":1}`, ""},
		{"missing required", schema, `{}`, `invalid input: missing required property "path"`},
		{"empty input is {}", schema, ``, `invalid input: missing required property "path"`},
		{"wrong string type", schema, `{"path":1}`, `invalid input: property "path": want string, got integer`},
		{"wrong integer type", schema, `{"path":"a","n":1.5}`, `invalid input: property "n": want integer, got number`},
		{"wrong boolean type", schema, `{"path":"a","b":"yes"}`, `invalid input: property "b": want boolean, got string`},
		{"wrong array type", schema, `{"path":"a","a":{}}`, `invalid input: property "a": want array, got object`},
		{"wrong union", schema, `{"path":"a","opt":1}`, `invalid input: property "opt": want string or null, got integer`},
		{"not an object", schema, `[1]`, `invalid input: want object, got array`},
		{"bad json", schema, `{"path":`, `invalid input: not valid JSON`},
		{"no schema accepts object", nil, `{"x":1}`, ""},
		{"no schema accepts empty", nil, ``, ""},
		{"broken schema", json.RawMessage(`[`), `{}`, "tool input schema is not a JSON object"},
		{"bad type keyword", json.RawMessage(`{"type":5}`), `{}`, `bad "type"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateInput(tc.schema, json.RawMessage(tc.input))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, agent.ErrInvalid)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestBuiltinSchemasValidate(t *testing.T) {
	r := NewRegistry(Builtins()...)
	tests := []struct {
		tool, input string
		ok          bool
	}{
		{NameReadFile, `{"path":"a"}`, true},
		{NameReadFile, `{}`, false},
		{NameWriteFile, `{"path":"a","content":"x"}`, true},
		{NameWriteFile, `{"path":"a"}`, false},
		{NameListFiles, `{}`, true},
		{NameAskUser, `{"question":"why?"}`, true},
		{NameAskUser, `{"question":1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.tool+" "+tc.input, func(t *testing.T) {
			tl, ok := r.Get(tc.tool)
			require.True(t, ok)
			err := ValidateInput(tl.Spec().InputSchema, json.RawMessage(tc.input))
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, agent.ErrInvalid)
			}
		})
	}
}

func TestBuiltinsRun(t *testing.T) {
	const ws = "ws_test"
	files := newMapFiles()
	require.NoError(t, files.WriteFile(t.Context(), ws, "usr_test", "a.txt", []byte("hello")))
	require.NoError(t, files.WriteFile(t.Context(), ws, "usr_test", "bin", []byte{0xff, 0xfe}))
	require.NoError(t, files.WriteFile(t.Context(), "ws_other", "usr_test", "secret.txt", []byte("no")))
	r := NewRegistry(Builtins()...)

	var asked []string
	call := func(input string, store FileStore) Call {
		return Call{
			SessionID: "sess_1", WorkspaceID: ws, UserID: "usr_1", ToolUseID: "toolu_1",
			Input:    json.RawMessage(input),
			Files:    store,
			Progress: func(string) {},
			Ask: func(_ context.Context, q string) (string, error) {
				asked = append(asked, q)
				return "blue", nil
			},
		}
	}
	tests := []struct {
		name    string
		tool    string
		input   string
		noStore bool
		want    string
		wantErr string
	}{
		{name: "read", tool: NameReadFile, input: `{"path":"a.txt"}`, want: "hello"},
		{name: "read missing", tool: NameReadFile, input: `{"path":"nope.txt"}`, wantErr: "file not found: nope.txt"},
		{name: "read other workspace", tool: NameReadFile, input: `{"path":"secret.txt"}`, wantErr: "file not found: secret.txt"},
		{name: "read binary", tool: NameReadFile, input: `{"path":"bin"}`, wantErr: "file is not UTF-8 text: bin (2 bytes)"},
		{name: "read dotdot", tool: NameReadFile, input: `{"path":"../x"}`, wantErr: `must not contain ".."`},
		{name: "read absolute", tool: NameReadFile, input: `{"path":"/etc/passwd"}`, wantErr: "workspace-relative"},
		{name: "read no store", tool: NameReadFile, input: `{"path":"a.txt"}`, noStore: true, wantErr: "no file store is configured"},
		{name: "write", tool: NameWriteFile, input: `{"path":"dir/b.txt","content":"bee"}`, want: "wrote 3 bytes to dir/b.txt"},
		{name: "write nul", tool: NameWriteFile, input: `{"path":"a\u0000b","content":""}`, wantErr: "NUL"},
		{name: "list", tool: NameListFiles, input: `{}`, want: "a.txt\nbin\ndir/b.txt"},
		{name: "ask", tool: NameAskUser, input: `{"question":"favourite colour?"}`, want: "blue"},
		{name: "ask empty", tool: NameAskUser, input: `{"question":" "}`, wantErr: "question is empty"},
	}
	for _, tc := range tests { // in order: write precedes list
		t.Run(tc.name, func(t *testing.T) {
			tl, ok := r.Get(tc.tool)
			require.True(t, ok)
			var store FileStore = files
			if tc.noStore {
				store = nil
			}
			out, err := tl.Run(t.Context(), call(tc.input, store))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, out)
		})
	}
	require.Equal(t, []string{"favourite colour?"}, asked)
	b, err := files.ReadFile(t.Context(), ws, "dir/b.txt")
	require.NoError(t, err)
	require.Equal(t, "bee", string(b))
}

func TestListFilesEmpty(t *testing.T) {
	r := NewRegistry(Builtins()...)
	tl, _ := r.Get(NameListFiles)
	out, err := tl.Run(t.Context(), Call{WorkspaceID: "ws_empty", Files: newMapFiles()})
	require.NoError(t, err)
	require.Equal(t, "no files in the workspace", out)
}

func TestAskUserError(t *testing.T) {
	r := NewRegistry(Builtins()...)
	tl, _ := r.Get(NameAskUser)
	boom := errors.New("prompt timed out")
	_, err := tl.Run(t.Context(), Call{
		Input: json.RawMessage(`{"question":"q"}`),
		Ask:   func(context.Context, string) (string, error) { return "", boom },
	})
	require.ErrorIs(t, err, boom)
}
