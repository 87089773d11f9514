package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
)

// Skills is what the skills routes need of the skills family (cmd/seshat
// adapts actors/skills to it). admin says whether the caller is a server
// admin.
type Skills interface {
	// UploadSkill stores the skill folder an archive holds.
	UploadSkill(ctx context.Context, userID string, admin bool, workspaceID, filename string, r io.ReaderAt, size int64) (apitype.Skill, error)
	CreateSkill(ctx context.Context, userID string, admin bool, req apitype.CreateSkillRequest) (apitype.Skill, error)
	ListSkills(ctx context.Context, userID string, admin bool, workspaceID string) ([]apitype.Skill, error)
	GetSkill(ctx context.Context, userID string, admin bool, id string) (apitype.Skill, error)
	UpdateSkill(ctx context.Context, userID string, admin bool, id string, req apitype.UpdateSkillRequest) (apitype.Skill, error)
	DeleteSkill(ctx context.Context, userID string, admin bool, id string) error
	SkillFile(ctx context.Context, userID string, admin bool, id, path string) ([]byte, error)

	CreateSkillRepository(ctx context.Context, userID string, admin bool, req apitype.CreateSkillRepositoryRequest) (apitype.SkillRepository, error)
	ListSkillRepositories(ctx context.Context, userID string, admin bool) ([]apitype.SkillRepository, error)
	GetSkillRepository(ctx context.Context, userID string, admin bool, id string) (apitype.SkillRepository, error)
	DeleteSkillRepository(ctx context.Context, userID string, admin bool, id string) error
	SyncSkillRepository(ctx context.Context, userID string, admin bool, id string) (apitype.SkillSyncResult, error)
}

// errNoSkills answers the skills routes of a server built without the
// family.
var errNoSkills = fmt.Errorf("%w: skills are not configured", agent.ErrOverloaded)

func (s *Server) skills() (Skills, error) {
	if s.deps.Skills == nil {
		return nil, errNoSkills
	}
	return s.deps.Skills, nil
}

// POST /api/v1/skills: a multipart upload (file, workspace_id) of an
// archive, or JSON {name, description, body, workspace_id}.
func (s *Server) createSkill(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	p := principal(ctx)
	var out apitype.Skill
	if bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("multipart/form-data")) {
		form, err := ctx.MultipartForm()
		if err != nil {
			return &Error{Status: fasthttp.StatusBadRequest, Code: CodeInvalidRequest, Msg: "malformed multipart body", Err: err}
		}
		defer ctx.Request.RemoveMultipartFormFiles()
		parts := form.File["file"]
		if len(parts) != 1 {
			return invalid("exactly one form field named file is required")
		}
		f, err := parts[0].Open()
		if err != nil {
			return fmt.Errorf("open uploaded part: %w", err)
		}
		defer f.Close()
		out, err = sk.UploadSkill(s.opCtx, p.UserID, isAdmin(ctx), formValue(form, "workspace_id"), parts[0].Filename, f, parts[0].Size)
		if err != nil {
			return err
		}
	} else {
		var req apitype.CreateSkillRequest
		if err := decodeJSON(ctx, &req); err != nil {
			return err
		}
		if out, err = sk.CreateSkill(s.opCtx, p.UserID, isAdmin(ctx), req); err != nil {
			return err
		}
	}
	noteAudit(ctx).resource(out.ID, out.WorkspaceID)
	return writeJSON(ctx, fasthttp.StatusCreated, out)
}

// GET /api/v1/skills?workspace_id= → 200 {data}.
func (s *Server) listSkills(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	list, err := sk.ListSkills(s.opCtx, principal(ctx).UserID, isAdmin(ctx), string(ctx.QueryArgs().Peek("workspace_id")))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(list))
}

// GET /api/v1/skills/{id} → 200 skill with body.
func (s *Server) getSkill(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	v, err := sk.GetSkill(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// PATCH /api/v1/skills/{id} {enabled} → 200 skill.
func (s *Server) updateSkill(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	var req apitype.UpdateSkillRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return invalid("enabled is required")
	}
	v, err := sk.UpdateSkill(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"), req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// DELETE /api/v1/skills/{id} → 204.
func (s *Server) deleteSkill(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	if err := sk.DeleteSkill(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// GET /api/v1/skills/{id}/files/{path} → the file's bytes.
func (s *Server) skillFile(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	name := pathParam(ctx, "path")
	data, err := sk.SkillFile(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"), name)
	if err != nil {
		return err
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	ctx.SetContentType(ctype)
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)})
	if disposition == "" {
		disposition = "attachment"
	}
	ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, disposition)
	// A skill's files are its author's: browsers must neither sniff them
	// into HTML nor run them.
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, "sandbox")
	ctx.SetBody(data)
	return nil
}

// POST /api/v1/skills/repositories → 201 repository.
func (s *Server) createSkillRepository(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	var req apitype.CreateSkillRepositoryRequest
	if err := decodeJSON(ctx, &req); err != nil {
		return err
	}
	v, err := sk.CreateSkillRepository(s.opCtx, principal(ctx).UserID, isAdmin(ctx), req)
	if err != nil {
		return err
	}
	noteAudit(ctx).resource(v.ID, "")
	return writeJSON(ctx, fasthttp.StatusCreated, v)
}

// GET /api/v1/skills/repositories → 200 {data}.
func (s *Server) listSkillRepositories(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	list, err := sk.ListSkillRepositories(s.opCtx, principal(ctx).UserID, isAdmin(ctx))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, apitype.NewList(list))
}

// GET /api/v1/skills/repositories/{id} → 200 repository.
func (s *Server) getSkillRepository(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	v, err := sk.GetSkillRepository(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}

// DELETE /api/v1/skills/repositories/{id} → 204; its skills go.
func (s *Server) deleteSkillRepository(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	if err := sk.DeleteSkillRepository(s.opCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id")); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// POST /api/v1/skills/repositories/{id}/sync → 200 {added, updated,
// removed, errors}. The sync runs on the request's goroutine, bounded by
// the family's sync timeout.
func (s *Server) syncSkillRepository(ctx *fasthttp.RequestCtx) error {
	sk, err := s.skills()
	if err != nil {
		return err
	}
	v, err := sk.SyncSkillRepository(s.baseCtx, principal(ctx).UserID, isAdmin(ctx), pathParam(ctx, "id"))
	if err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, v)
}
