package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Embedder setting statuses.
const (
	EmbedderOK    = "ok"
	EmbedderError = "error"
)

// Defaults of the openai embedder.
const (
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	DefaultOpenAIModel   = "text-embedding-3-small"
	maxBatchSize         = 2048
	embedTimeout         = 60 * time.Second
)

// ErrSecretRequired refuses a change of an embedder's destination that
// does not send its API key again.
var ErrSecretRequired = fmt.Errorf("%w: changing the embedder's provider or base_url needs its api_key again", agent.ErrSecretRequired)

// EmbedderInfo is the embedder setting as the API shows it.
type EmbedderInfo struct {
	Provider, BaseURL, Model string
	Dimensions, BatchSize    int
	APIKeySet                bool
	Fingerprint, Status      string
	LastError                string
}

// EmbedderUpdate changes the embedder; nil fields keep their value.
type EmbedderUpdate struct {
	Provider   string
	BaseURL    *string
	APIKey     *string
	Model      *string
	Dimensions *int
	BatchSize  *int
}

// EmbedderTest is the result of probing the embedder.
type EmbedderTest struct {
	OK         bool
	Dimensions int
	Latency    time.Duration
	Error      string
}

// loadEmbedder builds the embedder of the stored setting (builtin if none).
func (s *Service) loadEmbedder() (Embedder, error) {
	st, key, ok, err := s.store.EmbedderSetting()
	if err != nil {
		return nil, err
	}
	if !ok || st.Provider != ProviderOpenAI {
		return Builtin{}, nil
	}
	return s.openAI(st, string(key))
}

func (s *Service) openAI(st persist.EmbedderSetting, key string) (*OpenAI, error) {
	return NewOpenAI(OpenAIConfig{
		BaseURL: st.BaseURL, APIKey: key, Model: st.Model, Dimensions: st.Dimensions,
		SendDimensions: st.Dimensions > 0 && strings.HasPrefix(st.Model, "text-embedding-3"),
		BatchSize:      st.BatchSize, Client: s.embedClient,
	})
}

// EmbedderSetting returns the embedder setting.
func (s *Service) EmbedderSetting() (EmbedderInfo, error) {
	st, _, ok, err := s.store.EmbedderSetting()
	if err != nil && !errors.Is(err, persist.ErrNoMasterKey) {
		return EmbedderInfo{}, err
	}
	ref := s.Embedder().Ref()
	if !ok || st.Provider != ProviderOpenAI {
		return EmbedderInfo{Provider: ProviderBuiltin, Model: ref.Model, Dimensions: ref.Dimensions,
			Fingerprint: ref.Fingerprint, Status: EmbedderOK}, nil
	}
	return EmbedderInfo{Provider: st.Provider, BaseURL: st.BaseURL, Model: st.Model, Dimensions: st.Dimensions,
		BatchSize: st.BatchSize, APIKeySet: st.APIKeySet, Fingerprint: ref.Fingerprint, Status: st.Status, LastError: st.LastError}, nil
}

// SetEmbedder replaces the embedder setting (server admins only: the
// handler's route checks it). The openai embedder's dimension is probed
// with one request; a failed probe is stored as the setting's status and
// last_error. Corpora embedded otherwise become needs_reindex.
func (s *Service) SetEmbedder(ctx context.Context, up EmbedderUpdate) (EmbedderInfo, error) {
	old, oldKey, had, err := s.store.EmbedderSetting()
	if err != nil && !errors.Is(err, persist.ErrNoMasterKey) {
		return EmbedderInfo{}, err
	}
	switch up.Provider {
	case ProviderBuiltin:
		if err := s.store.PutEmbedderSetting(ctx, persist.EmbedderSetting{Provider: ProviderBuiltin, Status: EmbedderOK,
			Fingerprint: Builtin{}.Ref().Fingerprint}, ptr(persist.Secret(""))); err != nil {
			return EmbedderInfo{}, err
		}
		s.embedder.Store(&embedderBox{Builtin{}})
		return s.EmbedderSetting()
	case ProviderOpenAI:
	default:
		return EmbedderInfo{}, fmt.Errorf("%w: provider must be builtin or openai", agent.ErrInvalid)
	}
	st := persist.EmbedderSetting{Provider: ProviderOpenAI, BaseURL: DefaultOpenAIBaseURL, Model: DefaultOpenAIModel}
	if had && old.Provider == ProviderOpenAI {
		st.BaseURL, st.Model, st.Dimensions, st.BatchSize = old.BaseURL, old.Model, old.Dimensions, old.BatchSize
	}
	if up.BaseURL != nil {
		st.BaseURL = strings.TrimRight(*up.BaseURL, "/")
	}
	if up.Model != nil {
		st.Model = *up.Model
	}
	if up.Dimensions != nil {
		st.Dimensions = *up.Dimensions
	}
	if up.BatchSize != nil {
		st.BatchSize = *up.BatchSize
	}
	u, err := url.Parse(st.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return EmbedderInfo{}, fmt.Errorf("%w: base_url must be an http(s) URL without credentials", agent.ErrInvalid)
	}
	if strings.TrimSpace(st.Model) == "" || len(st.Model) > 200 {
		return EmbedderInfo{}, fmt.Errorf("%w: model is required (at most 200 characters)", agent.ErrInvalid)
	}
	if st.Dimensions < 0 || st.Dimensions > 16384 {
		return EmbedderInfo{}, fmt.Errorf("%w: dimensions must be between 1 and 16384", agent.ErrInvalid)
	}
	if st.BatchSize < 0 || st.BatchSize > maxBatchSize {
		return EmbedderInfo{}, fmt.Errorf("%w: batch_size must be between 1 and %d", agent.ErrInvalid, maxBatchSize)
	}
	// A stored key goes only where it was stored for.
	moved := !had || old.Provider != ProviderOpenAI || old.BaseURL != st.BaseURL
	if old.APIKeySet && moved && up.APIKey == nil {
		return EmbedderInfo{}, ErrSecretRequired
	}
	key := string(oldKey)
	var keyUpdate *persist.Secret
	if up.APIKey != nil {
		key = *up.APIKey
		keyUpdate = ptr(persist.Secret(key))
	}
	e, err := s.openAI(st, key)
	if err != nil {
		return EmbedderInfo{}, fmt.Errorf("%w: %v", agent.ErrInvalid, err)
	}
	probe := s.probe(ctx, e)
	st.Status, st.LastError = EmbedderOK, ""
	if !probe.OK {
		st.Status, st.LastError = EmbedderError, probe.Error
	} else {
		st.Dimensions = probe.Dimensions
		e.cfg.Dimensions = probe.Dimensions
	}
	st.Fingerprint = e.Ref().Fingerprint
	if err := s.store.PutEmbedderSetting(ctx, st, keyUpdate); err != nil {
		return EmbedderInfo{}, err
	}
	s.embedder.Store(&embedderBox{e})
	return s.EmbedderSetting()
}

// TestEmbedder probes the configured embedder with one request and, for
// openai, stores the dimension it answered with.
func (s *Service) TestEmbedder(ctx context.Context) (EmbedderTest, error) {
	e := s.Embedder()
	o, ok := e.(*OpenAI)
	if !ok {
		return s.probe(ctx, e), nil
	}
	res := s.probe(ctx, o)
	st, _, had, err := s.store.EmbedderSetting()
	if err != nil || !had {
		return res, err
	}
	st.Status, st.LastError = EmbedderOK, ""
	if !res.OK {
		st.Status, st.LastError = EmbedderError, res.Error
	} else if res.Dimensions != st.Dimensions {
		st.Dimensions = res.Dimensions
		cfg := o.cfg
		cfg.Dimensions = res.Dimensions
		ne, _ := NewOpenAI(cfg)
		st.Fingerprint = ne.Ref().Fingerprint
		s.embedder.Store(&embedderBox{ne})
	}
	return res, s.store.PutEmbedderSetting(ctx, st, nil)
}

func (s *Service) probe(ctx context.Context, e Embedder) EmbedderTest {
	if o, ok := e.(*OpenAI); ok {
		// The probe asks for the model's own size unless one was set.
		cfg := o.cfg
		cfg.Dimensions = 0
		e, _ = NewOpenAI(cfg)
		if o.cfg.SendDimensions {
			cfg.Dimensions = o.cfg.Dimensions
			e, _ = NewOpenAI(cfg)
		}
	}
	start := time.Now()
	vecs, err := e.Embed(ctx, []string{"dimension probe"})
	res := EmbedderTest{Latency: time.Since(start)}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if len(vecs) != 1 || len(vecs[0]) == 0 {
		res.Error = "the embedder returned no vector"
		return res
	}
	res.OK, res.Dimensions = true, len(vecs[0])
	return res
}

func ptr[T any](v T) *T { return &v }

// StorageDefaults are the storage settings of the environment; the
// stored ones (PATCH /api/v1/settings/storage) win over them.
type StorageDefaults struct {
	// AuditRetention is how long audit entries are kept; 0 is forever.
	AuditRetention time.Duration
	// JobRunHistory is how many runs each scheduled job keeps.
	JobRunHistory int
	// MaxUploadBytes caps an uploaded file.
	MaxUploadBytes int64
	// DefaultUserStoredBytes is the stored_bytes quota of a user with no
	// quota of their own; 0 is none.
	DefaultUserStoredBytes int64
}

// Over returns d with every field the stored setting sets taken from it.
func (d StorageDefaults) Over(st persist.StorageSetting) StorageDefaults {
	if st.AuditRetention != "" {
		if v, err := time.ParseDuration(st.AuditRetention); err == nil {
			d.AuditRetention = v
		}
	}
	if st.JobRunRetention > 0 {
		d.JobRunHistory = st.JobRunRetention
	}
	if st.MaxUploadBytes > 0 {
		d.MaxUploadBytes = st.MaxUploadBytes
	}
	if st.DefaultUserStoredBytes > 0 {
		d.DefaultUserStoredBytes = st.DefaultUserStoredBytes
	}
	return d
}

// StorageInfo is what the storage settings report: real usage, and the
// retention and limits in effect.
type StorageInfo struct {
	Usage persist.Usage
	// IndexBytes is what the lexical indexes take under the data dir.
	IndexBytes int64
	Settings   StorageDefaults
}

// StorageUpdate changes the stored storage settings; nil fields keep
// their value.
type StorageUpdate struct {
	AuditRetention         *time.Duration
	JobRunHistory          *int
	MaxUploadBytes         *int64
	DefaultUserStoredBytes *int64
}

// Storage reports the store's usage and the storage settings in effect
// (server admins only: the handler's route checks it).
func (s *Service) Storage(_ context.Context) (StorageInfo, error) {
	u, err := s.store.Usage()
	if err != nil {
		return StorageInfo{}, err
	}
	st, err := s.store.StorageSetting()
	if err != nil {
		return StorageInfo{}, err
	}
	return StorageInfo{Usage: u, IndexBytes: dirBytes(s.cfg.IndexDir), Settings: s.cfg.Storage.Over(st)}, nil
}

// SetStorage keeps the storage settings in the store, where they win over
// the environment's. The server reads them at start-up.
func (s *Service) SetStorage(ctx context.Context, up StorageUpdate) (StorageInfo, error) {
	st, err := s.store.StorageSetting()
	if err != nil {
		return StorageInfo{}, err
	}
	if v := up.AuditRetention; v != nil {
		if *v < 0 {
			return StorageInfo{}, fmt.Errorf("%w: retention.audit must not be negative (0 keeps entries forever)", agent.ErrInvalid)
		}
		st.AuditRetention = v.String()
	}
	if v := up.JobRunHistory; v != nil {
		if *v < 1 || *v > 100000 {
			return StorageInfo{}, fmt.Errorf("%w: retention.job_runs must be between 1 and 100000", agent.ErrInvalid)
		}
		st.JobRunRetention = *v
	}
	if v := up.MaxUploadBytes; v != nil {
		if *v < 1 || *v > 1<<40 {
			return StorageInfo{}, fmt.Errorf("%w: limits.max_upload_bytes must be between 1 and 2^40", agent.ErrInvalid)
		}
		st.MaxUploadBytes = *v
	}
	if v := up.DefaultUserStoredBytes; v != nil {
		if *v < 0 {
			return StorageInfo{}, fmt.Errorf("%w: limits.default_user_stored_bytes must not be negative", agent.ErrInvalid)
		}
		st.DefaultUserStoredBytes = *v
	}
	if err := s.store.PutStorageSetting(ctx, st); err != nil {
		return StorageInfo{}, err
	}
	return s.Storage(ctx)
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
