package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/seshat-host/seshat/actors/skills"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// newSkills builds the skills family from the settings.
func newSkills(cfg Config, store *persist.Store, log *slog.Logger) (*skills.Service, error) {
	return skills.New(skills.Config{
		Store:        store,
		Budget:       cfg.SkillsBudget,
		MaxBytes:     cfg.SkillMaxBytes,
		AllowPrivate: cfg.AllowPrivateUpstreams,
		Logger:       log.With("component", "skills"),
	})
}

// skillAPI adapts the skills service to httpapi.Skills: translation only.
type skillAPI struct{ svc *skills.Service }

var _ httpapi.Skills = skillAPI{}

func skillCaller(userID string, admin bool) skills.Caller {
	return skills.Caller{UserID: userID, Admin: admin}
}

func skillOf(s persist.Skill, withBody bool) apitype.Skill {
	out := apitype.Skill{
		ID: s.ID, Name: s.Name, Description: s.Description, License: s.License, Compatibility: s.Compatibility,
		Metadata: s.Metadata, AllowedTools: s.AllowedTools, Scope: s.Scope, WorkspaceID: s.WorkspaceID,
		Source:  apitype.SkillSource{Type: s.Source.Type, RepositoryID: s.Source.RepositoryID, Path: s.Source.Path, Commit: s.Source.Commit},
		Enabled: s.Enabled, Files: make([]apitype.SkillFile, len(s.Files)), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if out.AllowedTools == nil {
		out.AllowedTools = []string{}
	}
	for i, f := range s.Files {
		out.Files[i] = apitype.SkillFile{Path: f.Path, Size: f.Size}
	}
	if withBody {
		body := s.Body
		out.Body = &body
	}
	return out
}

func skillRepositoryOf(r persist.SkillRepository) apitype.SkillRepository {
	out := apitype.SkillRepository{ID: r.ID, Name: r.Name, URL: r.URL, Ref: r.Ref, Path: r.Path, LastCommit: r.LastCommit,
		SkillCount: r.SkillCount, LastError: r.LastError, CreatedAt: r.CreatedAt}
	if !r.LastSyncedAt.IsZero() {
		t := r.LastSyncedAt.UTC().Truncate(time.Microsecond)
		out.LastSyncedAt = &t
	}
	return out
}

func (a skillAPI) UploadSkill(ctx context.Context, userID string, admin bool, ws, filename string, r io.ReaderAt, size int64) (apitype.Skill, error) {
	s, err := a.svc.Upload(ctx, skillCaller(userID, admin), ws, filename, r, size)
	return skillOf(s, true), err
}

func (a skillAPI) CreateSkill(ctx context.Context, userID string, admin bool, req apitype.CreateSkillRequest) (apitype.Skill, error) {
	s, err := a.svc.CreateFromFields(ctx, skillCaller(userID, admin), req.WorkspaceID, req.Name, req.Description, req.Body)
	return skillOf(s, true), err
}

func (a skillAPI) ListSkills(ctx context.Context, userID string, admin bool, ws string) ([]apitype.Skill, error) {
	list, err := a.svc.List(ctx, skillCaller(userID, admin), ws)
	if err != nil {
		return nil, err
	}
	out := make([]apitype.Skill, len(list))
	for i, s := range list {
		out[i] = skillOf(s, false)
	}
	return out, nil
}

func (a skillAPI) GetSkill(ctx context.Context, userID string, admin bool, id string) (apitype.Skill, error) {
	s, err := a.svc.Get(ctx, skillCaller(userID, admin), id)
	return skillOf(s, true), err
}

func (a skillAPI) UpdateSkill(ctx context.Context, userID string, admin bool, id string, req apitype.UpdateSkillRequest) (apitype.Skill, error) {
	s, err := a.svc.SetEnabled(ctx, skillCaller(userID, admin), id, *req.Enabled)
	return skillOf(s, false), err
}

func (a skillAPI) DeleteSkill(ctx context.Context, userID string, admin bool, id string) error {
	return a.svc.Delete(ctx, skillCaller(userID, admin), id)
}

func (a skillAPI) SkillFile(ctx context.Context, userID string, admin bool, id, path string) ([]byte, error) {
	data, _, err := a.svc.File(ctx, skillCaller(userID, admin), id, path)
	return data, err
}

func (a skillAPI) CreateSkillRepository(ctx context.Context, userID string, admin bool, req apitype.CreateSkillRepositoryRequest) (apitype.SkillRepository, error) {
	r, err := a.svc.CreateRepository(ctx, skillCaller(userID, admin), skills.RepositoryInput{Name: req.Name, URL: req.URL, Ref: req.Ref, Path: req.Path})
	return skillRepositoryOf(r), err
}

func (a skillAPI) ListSkillRepositories(ctx context.Context, userID string, admin bool) ([]apitype.SkillRepository, error) {
	list, err := a.svc.Repositories(ctx, skillCaller(userID, admin))
	if err != nil {
		return nil, err
	}
	out := make([]apitype.SkillRepository, len(list))
	for i, r := range list {
		out[i] = skillRepositoryOf(r)
	}
	return out, nil
}

func (a skillAPI) GetSkillRepository(ctx context.Context, userID string, admin bool, id string) (apitype.SkillRepository, error) {
	r, err := a.svc.Repository(ctx, skillCaller(userID, admin), id)
	return skillRepositoryOf(r), err
}

func (a skillAPI) DeleteSkillRepository(ctx context.Context, userID string, admin bool, id string) error {
	return a.svc.DeleteRepository(ctx, skillCaller(userID, admin), id)
}

func (a skillAPI) SyncSkillRepository(ctx context.Context, userID string, admin bool, id string) (apitype.SkillSyncResult, error) {
	res, err := a.svc.Sync(ctx, skillCaller(userID, admin), id)
	if err != nil {
		return apitype.SkillSyncResult{}, err
	}
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	out := apitype.SkillSyncResult{Added: nonNil(res.Added), Updated: nonNil(res.Updated), Removed: nonNil(res.Removed),
		Errors: make([]apitype.SkillSyncError, len(res.Errors)), Repository: skillRepositoryOf(res.Repository)}
	for i, e := range res.Errors {
		out.Errors[i] = apitype.SkillSyncError{Path: e.Path, Error: e.Error}
	}
	return out, nil
}
