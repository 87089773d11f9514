package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// sniffLen is how much of a file http.DetectContentType looks at.
const sniffLen = 512

// Config configures a Service.
type Config struct {
	// Store holds the files and the workspace roles. Required.
	Store *persist.Store
	// MaxUploadBytes caps the size of an uploaded file. If zero, 50 MiB.
	MaxUploadBytes int64
}

// Service runs the file operations of the API's files family.
type Service struct {
	store    *persist.Store
	access   *tenancy.Access
	maxBytes int64
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("files: Store is required")
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = 50 << 20
	}
	if cfg.MaxUploadBytes < 0 {
		return nil, errors.New("files: MaxUploadBytes must not be negative")
	}
	return &Service{store: cfg.Store, access: tenancy.NewAccess(cfg.Store), maxBytes: cfg.MaxUploadBytes}, nil
}

// Upload names a file to store.
type Upload struct {
	// WorkspaceID is the caller's default workspace if empty.
	WorkspaceID string
	// Path is workspace-relative; an existing file at Path is replaced.
	Path string
	// ContentType is sniffed from the first bytes if empty or
	// application/octet-stream.
	ContentType string
	// Size is the content's declared size, if known: over the cap it is
	// refused (persist.ErrTooLarge) before anything is read.
	Size int64
}

// MaxUploadBytes is the upload cap.
func (s *Service) MaxUploadBytes() int64 { return s.maxBytes }

// Upload stores content as a file of a workspace the user edits. Content
// over the cap is persist.ErrTooLarge, and nothing is kept.
func (s *Service) Upload(ctx context.Context, userID string, up Upload, content io.Reader) (persist.File, error) {
	wsID, err := s.access.WorkspaceFor(ctx, userID, up.WorkspaceID, persist.WorkspaceEditor)
	if err != nil {
		return persist.File{}, err
	}
	clean, err := persist.CleanPath(up.Path)
	if err != nil {
		return persist.File{}, fmt.Errorf("%w: path must be relative, without .. elements, backslashes, empty or blank names, or control or invisible characters", agent.ErrInvalid)
	}
	if up.Size > s.maxBytes {
		return persist.File{}, fmt.Errorf("upload of %d bytes: %w", up.Size, persist.ErrTooLarge)
	}
	ctype, body, err := contentType(up.ContentType, content)
	if err != nil {
		return persist.File{}, fmt.Errorf("read the upload: %w", err)
	}
	return s.store.PutFile(ctx, persist.File{WorkspaceID: wsID, Path: clean, ContentType: ctype, CreatedBy: userID}, body, s.maxBytes)
}

// List lists the files of a workspace the user sees (their default
// workspace if workspaceID is empty).
func (s *Service) List(ctx context.Context, userID, workspaceID string) ([]persist.File, error) {
	wsID, err := s.access.WorkspaceFor(ctx, userID, workspaceID, persist.WorkspaceViewer)
	if err != nil {
		return nil, err
	}
	return s.store.ListFiles(wsID)
}

// Get returns the metadata of a file the user sees.
func (s *Service) Get(_ context.Context, userID, id string) (persist.File, error) {
	return s.file(userID, id, persist.WorkspaceViewer)
}

// Open returns a reader of a file's bytes, which the caller closes, and
// its metadata.
func (s *Service) Open(_ context.Context, userID, id string) (io.ReadCloser, persist.File, error) {
	if _, err := s.file(userID, id, persist.WorkspaceViewer); err != nil {
		return nil, persist.File{}, err
	}
	return s.store.OpenFileContent(id)
}

// Delete deletes a file of a workspace the user edits.
func (s *Service) Delete(ctx context.Context, userID, id string) error {
	if _, err := s.file(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	return s.store.DeleteFile(ctx, id)
}

// file loads a file if the user has at least the need role in its
// workspace. A file of a workspace they have no role in is not found, so
// that ids do not leak across tenants; a lower role is forbidden.
func (s *Service) file(userID, id, need string) (persist.File, error) {
	notFound := fmt.Errorf("file %q: %w", id, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixFile, id) {
		return persist.File{}, notFound
	}
	f, err := s.store.File(id)
	if err != nil {
		return persist.File{}, err
	}
	if err := s.access.Authorize(context.Background(), userID, f.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.File{}, notFound
		}
		return persist.File{}, err
	}
	return f, nil
}

// contentType returns the declared content type, or one sniffed from the
// first bytes if none or only the generic application/octet-stream was
// declared, and a reader of the whole content.
func contentType(declared string, content io.Reader) (string, io.Reader, error) {
	if declared != "" {
		if mt, params, err := mime.ParseMediaType(declared); err == nil && mt != "application/octet-stream" {
			return mime.FormatMediaType(mt, params), content, nil
		}
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(content, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", nil, err
	}
	head = head[:n]
	return http.DetectContentType(head), io.MultiReader(bytes.NewReader(head), content), nil
}
