package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/persist"
)

// maxToolFileBytes caps what a tool reads or writes in one call.
const maxToolFileBytes = 8 << 20

// files gives the built-in tools the workspace's Files store.
type files struct{ store *persist.Store }

// toolPath is persist.CleanPath with its refusal worded for the model:
// it reads the error as the tool's result.
func toolPath(path string) (string, error) {
	p, err := persist.CleanPath(path)
	var pe *persist.PathError
	if errors.As(err, &pe) {
		if pe.Path == "" {
			return "", &tool.InputError{Problem: "path is " + pe.Why}
		}
		return "", &tool.InputError{Problem: fmt.Sprintf("path %q: %s", pe.Path, pe.Why)}
	}
	return p, err
}

func (f files) ReadFile(_ context.Context, workspaceID, path string) ([]byte, error) {
	p, err := toolPath(path)
	if err != nil {
		return nil, err
	}
	rec, err := f.store.FileByPath(workspaceID, p)
	if errors.Is(err, persist.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", agent.ErrNotFound, p)
	}
	if err != nil {
		return nil, err
	}
	rc, _, err := f.store.OpenFileContent(rec.ID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxToolFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxToolFileBytes {
		return nil, fmt.Errorf("file %s is larger than %d bytes", p, maxToolFileBytes)
	}
	return b, nil
}

// WriteFile stores the file as userID's, as an upload by them would be:
// its bytes count toward their, the workspace's and its organization's
// stored_bytes, and a write past one of those quotas fails (the tool's
// result then says which) and stores nothing.
func (f files) WriteFile(ctx context.Context, workspaceID, userID, path string, content []byte) error {
	p, err := toolPath(path)
	if err != nil {
		return err
	}
	_, err = f.store.PutFile(ctx, persist.File{WorkspaceID: workspaceID, Path: p, ContentType: "text/plain; charset=utf-8", CreatedBy: userID},
		bytes.NewReader(content), maxToolFileBytes)
	return err
}

func (f files) ListFiles(_ context.Context, workspaceID string) ([]string, error) {
	list, err := f.store.ListFiles(workspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.Path
	}
	return out, nil
}

var _ tool.FileStore = files{}
