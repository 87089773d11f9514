package grpcapi

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"path"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Skills is what SkillService needs of the skills family: the same calls,
// in REST's types, as the REST handlers make (cmd/seshat adapts
// actors/skills to both). admin says whether the caller is a server admin.
type Skills interface {
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

// skillService translates SkillService to Skills.
type skillService struct {
	seshatv1connect.UnimplementedSkillServiceHandler
	rt Skills
}

func (s *Server) skillService() seshatv1connect.SkillServiceHandler {
	if s.deps.Skills == nil {
		return seshatv1connect.UnimplementedSkillServiceHandler{}
	}
	return skillService{rt: s.deps.Skills}
}

// CreateSkill stores the archive in file, or, without one, the skill
// given as name, description and body. The archive is capped by the
// server's message size and then by the family's own limits.
func (h skillService) CreateSkill(ctx context.Context, req *connect.Request[seshatv1.CreateSkillRequest]) (*connect.Response[seshatv1.CreateSkillResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var sk apitype.Skill
	if len(m.File) > 0 {
		if m.Name != "" || m.Description != "" || m.Body != "" {
			return nil, apierr.Invalid("give either file or name, description and body, not both")
		}
		sk, err = h.rt.UploadSkill(ctx, uid, admin, m.WorkspaceId, m.Filename, bytes.NewReader(m.File), int64(len(m.File)))
	} else {
		sk, err = h.rt.CreateSkill(ctx, uid, admin, apitype.CreateSkillRequest{
			Name: m.Name, Description: m.Description, Body: m.Body, WorkspaceID: m.WorkspaceId,
		})
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateSkillResponse{Skill: skillOf(sk)}), nil
}

func (h skillService) ListSkills(ctx context.Context, req *connect.Request[seshatv1.ListSkillsRequest]) (*connect.Response[seshatv1.ListSkillsResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.ListSkills(ctx, uid, admin, req.Msg.WorkspaceId)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListSkillsResponse{Data: make([]*seshatv1.Skill, len(list))}
	for i, s := range list {
		out.Data[i] = skillOf(s)
	}
	return connect.NewResponse(out), nil
}

func (h skillService) GetSkill(ctx context.Context, req *connect.Request[seshatv1.GetSkillRequest]) (*connect.Response[seshatv1.GetSkillResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	sk, err := h.rt.GetSkill(ctx, uid, admin, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetSkillResponse{Skill: skillOf(sk)}), nil
}

func (h skillService) UpdateSkill(ctx context.Context, req *connect.Request[seshatv1.UpdateSkillRequest]) (*connect.Response[seshatv1.UpdateSkillResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Enabled == nil {
		return nil, apierr.Invalid("enabled is required")
	}
	sk, err := h.rt.UpdateSkill(ctx, uid, admin, req.Msg.Id, apitype.UpdateSkillRequest{Enabled: req.Msg.Enabled})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UpdateSkillResponse{Skill: skillOf(sk)}), nil
}

func (h skillService) DeleteSkill(ctx context.Context, req *connect.Request[seshatv1.DeleteSkillRequest]) (*connect.Response[seshatv1.DeleteSkillResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteSkill(ctx, uid, admin, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteSkillResponse{}), nil
}

// GetSkillFile returns the file's bytes and the content type REST would
// send: the extension's, else the sniffed one.
func (h skillService) GetSkillFile(ctx context.Context, req *connect.Request[seshatv1.GetSkillFileRequest]) (*connect.Response[seshatv1.GetSkillFileResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	name := req.Msg.Path
	data, err := h.rt.SkillFile(ctx, uid, admin, req.Msg.Id, name)
	if err != nil {
		return nil, err
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	return connect.NewResponse(&seshatv1.GetSkillFileResponse{ContentType: ctype, Data: data}), nil
}

func (h skillService) CreateSkillRepository(ctx context.Context, req *connect.Request[seshatv1.CreateSkillRepositoryRequest]) (*connect.Response[seshatv1.CreateSkillRepositoryResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	r, err := h.rt.CreateSkillRepository(ctx, uid, admin, apitype.CreateSkillRepositoryRequest{Name: m.Name, URL: m.Url, Ref: m.Ref, Path: m.Path})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.CreateSkillRepositoryResponse{Repository: skillRepositoryOf(r)}), nil
}

func (h skillService) ListSkillRepositories(ctx context.Context, _ *connect.Request[seshatv1.ListSkillRepositoriesRequest]) (*connect.Response[seshatv1.ListSkillRepositoriesResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.ListSkillRepositories(ctx, uid, admin)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListSkillRepositoriesResponse{Data: make([]*seshatv1.SkillRepository, len(list))}
	for i, r := range list {
		out.Data[i] = skillRepositoryOf(r)
	}
	return connect.NewResponse(out), nil
}

func (h skillService) GetSkillRepository(ctx context.Context, req *connect.Request[seshatv1.GetSkillRepositoryRequest]) (*connect.Response[seshatv1.GetSkillRepositoryResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.rt.GetSkillRepository(ctx, uid, admin, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetSkillRepositoryResponse{Repository: skillRepositoryOf(r)}), nil
}

func (h skillService) DeleteSkillRepository(ctx context.Context, req *connect.Request[seshatv1.DeleteSkillRepositoryRequest]) (*connect.Response[seshatv1.DeleteSkillRepositoryResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.DeleteSkillRepository(ctx, uid, admin, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteSkillRepositoryResponse{}), nil
}

func (h skillService) SyncSkillRepository(ctx context.Context, req *connect.Request[seshatv1.SyncSkillRepositoryRequest]) (*connect.Response[seshatv1.SyncSkillRepositoryResponse], error) {
	uid, admin, err := mcpCaller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := h.rt.SyncSkillRepository(ctx, uid, admin, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.SyncSkillRepositoryResponse{
		Added: int32(len(res.Added)), Updated: int32(len(res.Updated)), Removed: int32(len(res.Removed)),
		AddedSkills: res.Added, UpdatedSkills: res.Updated, RemovedSkills: res.Removed,
		Errors: make([]*seshatv1.SkillSyncError, len(res.Errors)), Repository: skillRepositoryOf(res.Repository),
	}
	for i, e := range res.Errors {
		out.Errors[i] = &seshatv1.SkillSyncError{Path: e.Path, Error: e.Error}
	}
	return connect.NewResponse(out), nil
}

func skillOf(s apitype.Skill) *seshatv1.Skill {
	out := &seshatv1.Skill{
		Id: s.ID, Name: s.Name, Description: s.Description, License: s.License, Compatibility: s.Compatibility,
		AllowedTools: s.AllowedTools, Scope: s.Scope, WorkspaceId: s.WorkspaceID,
		Source:  &seshatv1.SkillSource{Type: s.Source.Type, RepositoryId: s.Source.RepositoryID, Path: s.Source.Path, Commit: s.Source.Commit},
		Enabled: s.Enabled, Files: make([]*seshatv1.SkillFile, len(s.Files)),
		CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt),
	}
	if s.Body != nil {
		out.Body = *s.Body
	}
	md := make(map[string]any, len(s.Metadata))
	for k, v := range s.Metadata {
		md[k] = v
	}
	// String values always convert.
	out.Metadata, _ = structpb.NewStruct(md)
	for i, f := range s.Files {
		out.Files[i] = &seshatv1.SkillFile{Path: f.Path, Size: f.Size}
	}
	return out
}

func skillRepositoryOf(r apitype.SkillRepository) *seshatv1.SkillRepository {
	out := &seshatv1.SkillRepository{
		Id: r.ID, Name: r.Name, Url: r.URL, Ref: r.Ref, Path: r.Path, LastCommit: r.LastCommit,
		SkillCount: int32(r.SkillCount), LastError: r.LastError, CreatedAt: timestamp(r.CreatedAt),
	}
	if r.LastSyncedAt != nil {
		out.LastSyncedAt = timestamp(*r.LastSyncedAt)
	}
	return out
}
