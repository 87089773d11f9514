package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"path"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/files"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// Files is what the files routes need of the files family.
// *files.Service implements it.
type Files interface {
	Upload(ctx context.Context, userID string, up files.Upload, content io.Reader) (persist.File, error)
	List(ctx context.Context, userID, workspaceID string) ([]persist.File, error)
	Get(ctx context.Context, userID, id string) (persist.File, error)
	Open(ctx context.Context, userID, id string) (io.ReadCloser, persist.File, error)
	Delete(ctx context.Context, userID, id string) error
}

// POST /api/v1/files: multipart form with `file` and optional
// `workspace_id` and `path`. fasthttp has parsed the form while reading the
// body (large files into temporary files), so the part is streamed from
// there into the store.
func (s *Server) uploadFile(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	form, err := ctx.MultipartForm()
	switch {
	case errors.Is(err, fasthttp.ErrNoMultipartForm):
		return &Error{Status: fasthttp.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Msg: "Content-Type must be multipart/form-data", Err: err}
	case err != nil:
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest, Msg: "malformed multipart body", Err: err}
	}
	defer ctx.Request.RemoveMultipartFormFiles()
	parts := form.File["file"]
	if len(parts) != 1 {
		return invalid("exactly one form field named file is required")
	}
	fh := parts[0]
	name := formValue(form, "path")
	if name == "" {
		name = fh.Filename
	}
	up := files.Upload{WorkspaceID: formValue(form, "workspace_id"), Path: name, ContentType: fh.Header.Get("Content-Type"), Size: fh.Size}
	content, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open uploaded part: %w", err)
	}
	defer content.Close()
	f, err := s.deps.Files.Upload(s.opCtx, p.UserID, up, content)
	if errors.Is(err, persist.ErrTooLarge) {
		return tooLarge(s.cfg.MaxUploadBytes)
	}
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(f.ID, f.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, fileOf(f))
}

// GET /api/v1/files?workspace_id=
func (s *Server) listFiles(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	list, err := s.deps.Files.List(s.opCtx, p.UserID, string(ctx.QueryArgs().Peek("workspace_id")))
	if err != nil {
		return err
	}
	out := make([]apitype.File, len(list))
	for i, f := range list {
		out[i] = fileOf(f)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/files/{id}
func (s *Server) getFile(ctx *fasthttp.RequestCtx) error {
	f, err := s.deps.Files.Get(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, fileOf(f))
}

// GET /api/v1/files/{id}/content
func (s *Server) fileContent(ctx *fasthttp.RequestCtx) error {
	rc, f, err := s.deps.Files.Open(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	// A large file to a slow client needs longer than WriteTimeout; a
	// deadline set by the handler takes precedence over the server's.
	_ = ctx.SetWriteDeadline(time.Now().Add(s.cfg.TransferTimeout))
	ctx.SetContentType(f.ContentType)
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(f.Path)})
	if disposition == "" {
		disposition = "attachment"
	}
	ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, disposition)
	// The bytes are the user's: browsers must not sniff them into HTML.
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, "sandbox")
	ctx.Response.Header.Set("X-Content-SHA256", f.SHA256)
	// fasthttp closes rc once it has written the body.
	ctx.SetBodyStream(rc, int(f.Size))
	return nil
}

// DELETE /api/v1/files/{id}
func (s *Server) deleteFile(ctx *fasthttp.RequestCtx) error {
	if err := s.deps.Files.Delete(s.opCtx, principal(ctx).UserID, pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func formValue(form *multipart.Form, name string) string {
	if v := form.Value[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func invalid(msg string) error {
	return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest, Msg: msg}
}

func tooLarge(limit int64) error {
	return &Error{Status: fasthttp.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Msg: "file too large (limit " + strconv.FormatInt(limit, 10) + " bytes)"}
}

func fileOf(f persist.File) apitype.File {
	return apitype.File{
		ID:          f.ID,
		WorkspaceID: f.WorkspaceID,
		Path:        f.Path,
		Size:        f.Size,
		ContentType: f.ContentType,
		SHA256:      f.SHA256,
		CreatedAt:   f.CreatedAt.UTC(),
		UpdatedAt:   f.UpdatedAt.UTC(),
	}
}
