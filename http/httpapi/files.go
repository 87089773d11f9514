package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// sniffLen is how much of a file http.DetectContentType looks at.
const sniffLen = 512

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
	wsID, err := s.workspaceFor(p.UserID, formValue(form, "workspace_id"), persist.WorkspaceEditor)
	if err != nil {
		return err
	}
	name := formValue(form, "path")
	if name == "" {
		name = fh.Filename
	}
	clean, err := persist.CleanPath(name)
	if err != nil {
		return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest,
			Msg: "path must be relative, without .. elements, backslashes or NUL bytes", Err: err}
	}
	if fh.Size > s.cfg.MaxUploadBytes {
		return tooLarge(s.cfg.MaxUploadBytes)
	}
	content, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open uploaded part: %w", err)
	}
	defer content.Close()
	ctype, body, err := contentType(fh.Header.Get("Content-Type"), content)
	if err != nil {
		return fmt.Errorf("read uploaded part: %w", err)
	}
	f, err := s.deps.Store.PutFile(s.opCtx, persist.File{
		WorkspaceID: wsID,
		Path:        clean,
		ContentType: ctype,
		CreatedBy:   p.UserID,
	}, body, s.cfg.MaxUploadBytes)
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
	wsID, err := s.workspaceFor(p.UserID, string(ctx.QueryArgs().Peek("workspace_id")), persist.WorkspaceViewer)
	if err != nil {
		return err
	}
	files, err := s.deps.Store.ListFiles(wsID)
	if err != nil {
		return err
	}
	out := make([]apitype.File, len(files))
	for i, f := range files {
		out[i] = fileOf(f)
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(out))
}

// GET /api/v1/files/{id}
func (s *Server) getFile(ctx *fasthttp.RequestCtx) error {
	f, err := s.callerFile(ctx, persist.WorkspaceViewer)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, fileOf(f))
}

// GET /api/v1/files/{id}/content
func (s *Server) fileContent(ctx *fasthttp.RequestCtx) error {
	f, err := s.callerFile(ctx, persist.WorkspaceViewer)
	if err != nil {
		return err
	}
	rc, f, err := s.deps.Store.OpenFileContent(f.ID)
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
	f, err := s.callerFile(ctx, persist.WorkspaceEditor)
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteFile(s.opCtx, f.ID); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// callerFile loads the file named by the {id} parameter if the caller has
// at least the need role in its workspace. A file of a workspace they
// have no role in is not found, so that ids do not leak across tenants; a
// lower role is 403.
func (s *Server) callerFile(ctx *fasthttp.RequestCtx, need string) (persist.File, error) {
	p := principal(ctx)
	id := pathParam(ctx, "id")
	notFound := fmt.Errorf("file %q: %w", id, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixFile, id) {
		return persist.File{}, notFound
	}
	f, err := s.deps.Store.File(id)
	if err != nil {
		return persist.File{}, err
	}
	if err := s.workspaceAccess(p.UserID, f.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.File{}, notFound
		}
		return persist.File{}, err
	}
	return f, nil
}

// workspaceAccess checks that userID has at least the need role in
// workspaceID with persist.AuthorizeWorkspace, the rule every workspace
// check uses: no role is not found, a lower role is forbidden.
func (s *Server) workspaceAccess(userID, workspaceID, need string) error {
	_, err := s.deps.Store.AuthorizeWorkspace(userID, workspaceID, need)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("workspace %q: %w", workspaceID, agent.ErrNotFound)
	case errors.Is(err, persist.ErrForbidden):
		return fmt.Errorf("%w: this needs the %s role in workspace %s", agent.ErrForbidden, need, workspaceID)
	}
	return err
}

// workspaceFor returns the workspace a request names, or the caller's
// default one if it names none, provided the caller has at least the need
// role in it (see workspaceAccess): a workspace they have no role in is not
// found, a lower role 403.
func (s *Server) workspaceFor(userID, requested, need string) (string, error) {
	if requested == "" {
		def, err := s.deps.Store.DefaultWorkspaceFor(userID)
		if err != nil {
			return "", err
		}
		requested = def
	}
	notFound := fmt.Errorf("workspace %q: %w", requested, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixWorkspace, requested) {
		return "", notFound
	}
	if err := s.workspaceAccess(userID, requested, need); err != nil {
		return "", err
	}
	return requested, nil
}

// contentType returns the part's declared content type, or one sniffed
// from its first bytes if it declared none or only the generic
// application/octet-stream, and a reader of the whole content.
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
