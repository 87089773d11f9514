package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/seshat-host/seshat/actors/knowledge"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/http/httpapi"
	"github.com/seshat-host/seshat/persist"
)

// indexDirName is the folder of the corpora's lexical indexes in the data
// dir.
const indexDirName = "index"

// newKnowledge builds the knowledge family and resumes the ingestion the
// last run left in progress. Its corpus event streams count against the
// ledger's open-stream caps.
func newKnowledge(cfg Config, store *persist.Store, ledger *quota.Ledger, log *slog.Logger) (*knowledge.Service, error) {
	svc, err := knowledge.New(knowledge.Config{
		Store:      store,
		Authorizer: workspaceRoles{access: tenancy.NewAccess(store), store: store},
		IndexDir:   filepath.Join(cfg.DataDir, indexDirName),
		Workers:    cfg.KnowledgeWorkers,
		Storage: knowledge.StorageDefaults{
			AuditRetention: cfg.AuditRetention, JobRunHistory: cfg.JobRunHistory, MaxUploadBytes: cfg.MaxUploadBytes,
		},
		AdmitStream: func(userID string) (func(), error) {
			lease, err := ledger.Stream(userID)
			if err != nil {
				return nil, err
			}
			return lease.Release, nil
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := svc.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("resume ingestion: %w", err)
	}
	return svc, nil
}

// applyStoredStorage lets the storage settings an admin kept in the store
// win over the environment's: upload cap, audit retention and job run
// history.
func applyStoredStorage(cfg *Config, store *persist.Store) error {
	st, err := store.StorageSetting()
	if err != nil {
		return fmt.Errorf("read the storage settings: %w", err)
	}
	d := knowledge.StorageDefaults{AuditRetention: cfg.AuditRetention, JobRunHistory: cfg.JobRunHistory, MaxUploadBytes: cfg.MaxUploadBytes}.Over(st)
	cfg.AuditRetention, cfg.JobRunHistory, cfg.MaxUploadBytes = d.AuditRetention, d.JobRunHistory, d.MaxUploadBytes
	return nil
}

// workspaceRoles is the knowledge family's view of tenancy.
type workspaceRoles struct {
	access *tenancy.Access
	store  *persist.Store
}

func (w workspaceRoles) AuthorizeWorkspace(userID, workspaceID, need string) error {
	return w.access.Authorize(context.Background(), userID, workspaceID, need)
}

func (w workspaceRoles) DefaultWorkspace(userID string) (string, error) {
	return w.access.WorkspaceFor(context.Background(), userID, "", persist.WorkspaceViewer)
}

func (w workspaceRoles) Workspaces(userID string) ([]string, error) {
	list, err := w.store.WorkspacesForUser(userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, ws := range list {
		ids[i] = ws.ID
	}
	return ids, nil
}

var _ httpapi.Knowledge = (*knowledge.Service)(nil)
