package persist

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Provider settings: model provider configurations (an upstream, its
// credentials, a model catalog) owned by a user, a workspace or the whole
// server. Buckets (schema version 3):
//
//	provider_settings            settingID -> providerSettingRecord
//	provider_settings_by_owner   scope|owner|settingID -> ""  (owner: the user or workspace id; "" for server)
//	provider_defaults            userID -> settingID
//	provider_defaults_by_setting settingID|userID -> ""
//
// A setting's credentials (API key, OAuth client secret and tokens) are
// never stored in the clear: they are sealed together with AES-256-GCM
// under Config.MasterKey, with a fresh random nonce per write and the
// setting's id as associated data, so that a sealed value copied onto
// another setting does not open. meta/master_key_check holds a sealed known
// text written by the first Open with a key; a later Open with another key
// fails with ErrWrongMasterKey instead of failing later on every secret.
var (
	bucketProviderSettings        = []byte("provider_settings")
	bucketProviderSettingsByOwner = []byte("provider_settings_by_owner")
	bucketProviderDefaults        = []byte("provider_defaults")
	bucketProviderDefaultsBy      = []byte("provider_defaults_by_setting")

	metaMasterKeyCheck = []byte("master_key_check")
)

// Scopes of a provider setting.
const (
	// ScopeUser: the setting of one user (ProviderSetting.UserID).
	ScopeUser = "user"
	// ScopeWorkspace: the setting of a workspace
	// (ProviderSetting.WorkspaceID); its members may use it.
	ScopeWorkspace = "workspace"
	// ScopeServer: a server-wide setting every user may use.
	ScopeServer = "server"
)

// MasterKeyBytes is the length of Config.MasterKey: an AES-256 key.
const MasterKeyBytes = 32

var (
	// ErrWrongMasterKey: Open was given a master key other than the one
	// the data dir's credentials are sealed with.
	ErrWrongMasterKey = errors.New("wrong master key")
	// ErrNoMasterKey: a credential was to be sealed or opened by a store
	// opened without a master key.
	ErrNoMasterKey = errors.New("no master key configured")
)

// Secret is a credential in the clear. Its String, GoString, LogValue and
// MarshalJSON methods all redact it, so that printing, logging or encoding
// a value that holds one does not leak it; string(s) is the way to read it.
type Secret string

// String implements fmt.Stringer with a redacted value.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer with a redacted value.
func (s Secret) GoString() string { return s.redacted() }

// LogValue implements slog.LogValuer with a redacted value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalJSON implements json.Marshaler with a redacted value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Hint returns what may be shown of a secret: "…" and its last 4
// characters, or "…" alone for a secret too short to show any of it
// (fewer than 12 bytes). An empty secret gives "".
func (s Secret) Hint() string {
	switch {
	case s == "":
		return ""
	case len(s) < 12:
		return "…"
	}
	return "…" + string(s[len(s)-4:])
}

// ProviderModel is one entry of a setting's model catalog. Prices are in
// the setting's currency per million tokens; zero means unknown.
type ProviderModel struct {
	ID                 string  `json:"id"`
	DisplayName        string  `json:"display_name,omitempty"`
	ContextWindow      int     `json:"context_window,omitempty"`
	MaxOutputTokens    int     `json:"max_output_tokens,omitempty"`
	InputPricePerMTok  float64 `json:"input_price_per_mtok,omitempty"`
	OutputPricePerMTok float64 `json:"output_price_per_mtok,omitempty"`
}

// ProviderOAuth is the OAuth 2.0 client a setting authenticates with
// instead of an API key. Its client secret, if any, is a credential and
// lives in ProviderSecrets.
type ProviderOAuth struct {
	AuthorizeURL string   `json:"authorize_url"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	Scopes       []string `json:"scopes,omitempty"`
	// RedirectURL, if set, is the redirect URI registered with the
	// authorization server; if empty, the server's own callback.
	RedirectURL string `json:"redirect_url,omitempty"`
}

// ProviderSetting is a provider setting without its credentials. The
// fields after OAuth describe the sealed credentials and are maintained by
// the store on every write; what a caller sets there is ignored.
type ProviderSetting struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Provider is the backend: "anthropic", "openai" or "mock".
	Provider     string          `json:"provider"`
	BaseURL      string          `json:"base_url,omitempty"`
	DefaultModel string          `json:"default_model,omitempty"`
	Models       []ProviderModel `json:"models,omitempty"`
	// Scope is ScopeUser (UserID set), ScopeWorkspace (WorkspaceID set)
	// or ScopeServer (neither).
	Scope       string `json:"scope"`
	UserID      string `json:"user_id,omitempty"`
	WorkspaceID string `json:"workspace_id,omitempty"`
	// CreatedBy is the user who created the setting.
	CreatedBy string         `json:"created_by"`
	OAuth     *ProviderOAuth `json:"oauth,omitempty"`

	// HasAPIKey and APIKeyHint (see Secret.Hint) describe the API key.
	HasAPIKey  bool   `json:"has_api_key,omitempty"`
	APIKeyHint string `json:"api_key_hint,omitempty"`
	// HasClientSecret tells whether an OAuth client secret is stored.
	HasClientSecret bool `json:"has_client_secret,omitempty"`
	// OAuthConnected tells whether OAuth tokens are stored, and
	// OAuthExpiry when the access token expires (zero: never, or unknown).
	OAuthConnected bool      `json:"oauth_connected,omitempty"`
	OAuthExpiry    time.Time `json:"oauth_expiry,omitzero"`

	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt changes with every write but token refreshes
	// (SaveProviderToken), so it versions the setting for caches.
	UpdatedAt time.Time `json:"updated_at"`
}

// OAuthToken is a setting's OAuth 2.0 token.
type OAuthToken struct {
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	// Expiry is when AccessToken expires; zero if it does not.
	Expiry time.Time
}

// ProviderSecrets are a setting's credentials in the clear.
type ProviderSecrets struct {
	APIKey       Secret
	ClientSecret Secret
	// Token is nil until the OAuth flow has completed.
	Token *OAuthToken
}

// empty reports whether there is nothing to seal.
func (sec ProviderSecrets) empty() bool {
	return sec.APIKey == "" && sec.ClientSecret == "" && sec.Token == nil
}

// providerSettingRecord is the stored form of a setting.
type providerSettingRecord struct {
	ProviderSetting
	// Sealed is sealedVersion, a nonce and the AES-GCM sealed JSON of
	// sealedSecrets; nil when the setting has no credentials.
	Sealed []byte `json:"sealed,omitempty"`
}

// sealedSecrets is what is sealed: ProviderSecrets with plain strings, as
// Secret redacts itself when encoded.
type sealedSecrets struct {
	APIKey       string    `json:"api_key,omitempty"`
	ClientSecret string    `json:"client_secret,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	HasToken     bool      `json:"has_token,omitempty"`
}

// sealedVersion is the first byte of a sealed value, naming its format:
// 1 is AES-256-GCM with a 12-byte nonce.
const sealedVersion = 1

// masterKeyCheckText is sealed into meta/master_key_check.
const masterKeyCheckText = "seshat master key check"

// newAEAD returns AES-256-GCM for key, which must be MasterKeyBytes long.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != MasterKeyBytes {
		return nil, fmt.Errorf("persist: master key must be %d bytes, got %d: %w", MasterKeyBytes, len(key), ErrInvalid)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("persist: master key: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain with a fresh random nonce, bound to ad.
func seal(aead cipher.AEAD, plain, ad []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("persist: nonce: %w", err)
	}
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, ad), nil
}

// open decrypts what seal produced with the same ad.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealedVersion {
		return nil, errors.New("sealed value is malformed")
	}
	return aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
}

// checkMasterKey returns the AEAD of key after checking it against the
// file's check value, which the first Open with a key writes. A nil key
// gives a nil AEAD: the store then refuses credentials.
func checkMasterKey(eng engine, key []byte) (cipher.AEAD, error) {
	if key == nil {
		return nil, nil
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	err = eng.Update(func(tx kvTx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaMasterKeyCheck); v != nil {
			plain, err := open(aead, v, metaMasterKeyCheck)
			if err != nil || string(plain) != masterKeyCheckText {
				return fmt.Errorf("persist: the master key does not match the one this data dir's credentials are sealed with: %w", ErrWrongMasterKey)
			}
			return nil
		}
		v, err := seal(aead, []byte(masterKeyCheckText), metaMasterKeyCheck)
		if err != nil {
			return err
		}
		return meta.Put(metaMasterKeyCheck, v)
	})
	if err != nil {
		return nil, err
	}
	return aead, nil
}

// sealSecrets seals sec for setting id; nil when sec is empty.
func (s *Store) sealSecrets(id string, sec ProviderSecrets) ([]byte, error) {
	if sec.empty() {
		return nil, nil
	}
	if s.aead == nil {
		return nil, fmt.Errorf("persist: provider setting %s has credentials: %w", id, ErrNoMasterKey)
	}
	w := sealedSecrets{APIKey: string(sec.APIKey), ClientSecret: string(sec.ClientSecret)}
	if t := sec.Token; t != nil {
		w.HasToken = true
		w.AccessToken, w.RefreshToken = string(t.AccessToken), string(t.RefreshToken)
		w.TokenType, w.Expiry = t.TokenType, normTime(t.Expiry)
	}
	plain, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return seal(s.aead, plain, []byte(id))
}

// openSecrets opens what sealSecrets sealed for setting id.
func (s *Store) openSecrets(id string, sealed []byte) (ProviderSecrets, error) {
	if sealed == nil {
		return ProviderSecrets{}, nil
	}
	if s.aead == nil {
		return ProviderSecrets{}, fmt.Errorf("persist: credentials of provider setting %s: %w", id, ErrNoMasterKey)
	}
	plain, err := open(s.aead, sealed, []byte(id))
	if err != nil {
		return ProviderSecrets{}, fmt.Errorf("persist: credentials of provider setting %s do not open: %w", id, err)
	}
	var w sealedSecrets
	if err := json.Unmarshal(plain, &w); err != nil {
		return ProviderSecrets{}, fmt.Errorf("persist: credentials of provider setting %s: %w", id, err)
	}
	sec := ProviderSecrets{APIKey: Secret(w.APIKey), ClientSecret: Secret(w.ClientSecret)}
	if w.HasToken {
		sec.Token = &OAuthToken{AccessToken: Secret(w.AccessToken), RefreshToken: Secret(w.RefreshToken),
			TokenType: w.TokenType, Expiry: w.Expiry}
	}
	return sec, nil
}

// putSecrets seals sec into rec and refreshes the fields describing it.
func (s *Store) putSecrets(rec *providerSettingRecord, sec ProviderSecrets) error {
	sealed, err := s.sealSecrets(rec.ID, sec)
	if err != nil {
		return err
	}
	rec.Sealed = sealed
	rec.HasAPIKey, rec.APIKeyHint = sec.APIKey != "", sec.APIKey.Hint()
	rec.HasClientSecret = sec.ClientSecret != ""
	rec.OAuthConnected, rec.OAuthExpiry = sec.Token != nil, time.Time{}
	if sec.Token != nil {
		rec.OAuthExpiry = normTime(sec.Token.Expiry)
	}
	return nil
}

// settingOwnerKey is the key of a setting in provider_settings_by_owner.
func settingOwnerKey(ps ProviderSetting) []byte {
	switch ps.Scope {
	case ScopeUser:
		return key(ScopeUser, ps.UserID, ps.ID)
	case ScopeWorkspace:
		return key(ScopeWorkspace, ps.WorkspaceID, ps.ID)
	}
	return key(ScopeServer, "", ps.ID)
}

// checkSetting validates what the store relies on: the id and the scope's
// owner. Everything else is the caller's to validate.
func checkSetting(ps ProviderSetting) error {
	if err := checkID("provider setting id", ps.ID); err != nil {
		return err
	}
	switch ps.Scope {
	case ScopeUser:
		if ps.WorkspaceID != "" {
			return fmt.Errorf("persist: user-scoped provider setting with a workspace: %w", ErrInvalid)
		}
		return checkID("user id", ps.UserID)
	case ScopeWorkspace:
		if ps.UserID != "" {
			return fmt.Errorf("persist: workspace-scoped provider setting with a user: %w", ErrInvalid)
		}
		return checkID("workspace id", ps.WorkspaceID)
	case ScopeServer:
		if ps.UserID != "" || ps.WorkspaceID != "" {
			return fmt.Errorf("persist: server-wide provider setting with an owner: %w", ErrInvalid)
		}
		return nil
	}
	return fmt.Errorf("persist: provider setting scope %q: %w", ps.Scope, ErrInvalid)
}

// CreateProviderSetting stores a new setting with its credentials sealed.
// ID, Scope and the scope's owner are required; a zero CreatedAt becomes
// now and UpdatedAt becomes CreatedAt. It returns the stored setting, or
// ErrConflict if the id exists, ErrNotFound if the owner does not, and
// ErrNoMasterKey if sec holds a credential and the store has no key.
func (s *Store) CreateProviderSetting(ctx context.Context, ps ProviderSetting, sec ProviderSecrets) (ProviderSetting, error) {
	if err := checkSetting(ps); err != nil {
		return ProviderSetting{}, err
	}
	if ps.CreatedAt.IsZero() {
		ps.CreatedAt = now()
	}
	ps.CreatedAt = normTime(ps.CreatedAt)
	ps.UpdatedAt = ps.CreatedAt
	rec := providerSettingRecord{ProviderSetting: ps}
	// Sealed once, outside the writer: a rerun stores the same bytes.
	if err := s.putSecrets(&rec, sec); err != nil {
		return ProviderSetting{}, err
	}
	err := s.Update(ctx, func(tx *Tx) error {
		settings := tx.bucket(bucketProviderSettings)
		if settings.Get([]byte(ps.ID)) != nil {
			return fmt.Errorf("persist: provider setting %s exists: %w", ps.ID, ErrConflict)
		}
		switch ps.Scope {
		case ScopeUser:
			if tx.bucket(bucketUsers).Get([]byte(ps.UserID)) == nil {
				return fmt.Errorf("persist: user %s: %w", ps.UserID, ErrNotFound)
			}
		case ScopeWorkspace:
			if tx.bucket(bucketWorkspaces).Get([]byte(ps.WorkspaceID)) == nil {
				return fmt.Errorf("persist: workspace %s: %w", ps.WorkspaceID, ErrNotFound)
			}
		}
		if err := putJSON(settings, []byte(ps.ID), rec); err != nil {
			return err
		}
		return tx.bucket(bucketProviderSettingsByOwner).Put(settingOwnerKey(ps), nil)
	})
	if err != nil {
		return ProviderSetting{}, err
	}
	return rec.ProviderSetting, nil
}

func (tx *Tx) providerSetting(id string) (providerSettingRecord, error) {
	var rec providerSettingRecord
	ok, err := getJSON(tx.bucket(bucketProviderSettings), []byte(id), &rec)
	if err != nil {
		return rec, err
	}
	if !ok {
		return rec, fmt.Errorf("persist: provider setting %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

// ProviderSetting returns a setting without its credentials, or
// ErrNotFound.
func (s *Store) ProviderSetting(id string) (ProviderSetting, error) {
	var ps ProviderSetting
	err := s.View(func(tx *Tx) error {
		rec, err := tx.providerSetting(id)
		ps = rec.ProviderSetting
		return err
	})
	return ps, err
}

// ProviderSecrets opens a setting's credentials. It returns ErrNotFound
// for an unknown setting and ErrNoMasterKey if the setting has credentials
// and the store has no key.
func (s *Store) ProviderSecrets(id string) (ProviderSecrets, error) {
	var rec providerSettingRecord
	err := s.View(func(tx *Tx) error {
		var err error
		rec, err = tx.providerSetting(id)
		return err
	})
	if err != nil {
		return ProviderSecrets{}, err
	}
	return s.openSecrets(id, rec.Sealed)
}

// ProviderSettingsFor returns the settings userID may use: the user's own,
// those of workspaceIDs (the caller passes the user's workspaces) and the
// server-wide ones, in that order, each group oldest first.
func (s *Store) ProviderSettingsFor(userID string, workspaceIDs []string) ([]ProviderSetting, error) {
	var out []ProviderSetting
	err := s.View(func(tx *Tx) error {
		byOwner := tx.bucket(bucketProviderSettingsByOwner)
		scan := func(scope, owner string) error {
			var group []ProviderSetting
			prefix := prefixKey(scope, owner)
			c := byOwner.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				rec, err := tx.providerSetting(string(k[len(prefix):]))
				if err != nil {
					return err
				}
				group = append(group, rec.ProviderSetting)
			}
			slices.SortFunc(group, func(a, b ProviderSetting) int {
				return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
			})
			out = append(out, group...)
			return nil
		}
		if userID != "" {
			if err := scan(ScopeUser, userID); err != nil {
				return err
			}
		}
		for _, ws := range workspaceIDs {
			if ws == "" {
				continue
			}
			if err := scan(ScopeWorkspace, ws); err != nil {
				return err
			}
		}
		return scan(ScopeServer, "")
	})
	return out, err
}

// UpdateProviderSetting changes a setting in one write: fn gets the stored
// setting and its opened credentials and changes them in place. The store
// keeps ID and CreatedAt, moves the setting if fn changed its scope or
// owner, reseals the credentials with a fresh nonce and sets UpdatedAt to
// now. fn runs on the writer goroutine and may run more than once (see
// Update): it must only change its arguments. An error from fn aborts the
// write and is returned.
func (s *Store) UpdateProviderSetting(ctx context.Context, id string, fn func(*ProviderSetting, *ProviderSecrets) error) (ProviderSetting, error) {
	var out ProviderSetting
	err := s.Update(ctx, func(tx *Tx) error {
		rec, err := tx.providerSetting(id)
		if err != nil {
			return err
		}
		sec, err := s.openSecrets(id, rec.Sealed)
		if err != nil {
			return err
		}
		old := rec.ProviderSetting
		ps := old
		ps.Models = slices.Clone(old.Models)
		if old.OAuth != nil {
			o := *old.OAuth
			o.Scopes = slices.Clone(o.Scopes)
			ps.OAuth = &o
		}
		if err := fn(&ps, &sec); err != nil {
			return err
		}
		ps.ID, ps.CreatedAt = old.ID, old.CreatedAt
		if err := checkSetting(ps); err != nil {
			return err
		}
		ps.UpdatedAt = now()
		if !ps.UpdatedAt.After(old.UpdatedAt) {
			// Keep versions distinct even within one clock tick.
			ps.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
		}
		next := providerSettingRecord{ProviderSetting: ps}
		if err := s.putSecrets(&next, sec); err != nil {
			return err
		}
		byOwner := tx.bucket(bucketProviderSettingsByOwner)
		if ok, nk := settingOwnerKey(old), settingOwnerKey(ps); !bytes.Equal(ok, nk) {
			if err := byOwner.Delete(ok); err != nil {
				return err
			}
			if err := byOwner.Put(nk, nil); err != nil {
				return err
			}
		}
		if err := putJSON(tx.bucket(bucketProviderSettings), []byte(id), next); err != nil {
			return err
		}
		out = next.ProviderSetting
		return nil
	})
	return out, err
}

// SaveProviderToken replaces a setting's OAuth token, as a refresh does,
// without changing UpdatedAt. It writes only if the setting's UpdatedAt is
// still version, so that a refresh racing an edit or a disconnect cannot
// bring back an old credential: otherwise ErrConflict. An unknown setting
// is ErrNotFound.
func (s *Store) SaveProviderToken(ctx context.Context, id string, version time.Time, tok OAuthToken) error {
	return s.Update(ctx, func(tx *Tx) error {
		rec, err := tx.providerSetting(id)
		if err != nil {
			return err
		}
		if !rec.UpdatedAt.Equal(normTime(version)) {
			return fmt.Errorf("persist: provider setting %s changed since version %s: %w", id, version.Format(time.RFC3339Nano), ErrConflict)
		}
		sec, err := s.openSecrets(id, rec.Sealed)
		if err != nil {
			return err
		}
		t := tok
		sec.Token = &t
		if err := s.putSecrets(&rec, sec); err != nil {
			return err
		}
		return putJSON(tx.bucket(bucketProviderSettings), []byte(id), rec)
	})
}

// DeleteProviderSetting removes a setting, its credentials and every
// user's choice of it as their default. An unknown id is ErrNotFound.
func (s *Store) DeleteProviderSetting(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.DeleteProviderSetting(id) })
}

// DeleteProviderSetting is Store.DeleteProviderSetting inside tx.
func (tx *Tx) DeleteProviderSetting(id string) error {
	rec, err := tx.providerSetting(id)
	if err != nil {
		return err
	}
	defaults, by := tx.bucket(bucketProviderDefaults), tx.bucket(bucketProviderDefaultsBy)
	prefix := prefixKey(id)
	var users [][]byte
	c := by.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		users = append(users, bytes.Clone(k))
	}
	for _, k := range users {
		if err := defaults.Delete(k[len(prefix):]); err != nil {
			return err
		}
		if err := by.Delete(k); err != nil {
			return err
		}
	}
	if err := tx.bucket(bucketProviderSettingsByOwner).Delete(settingOwnerKey(rec.ProviderSetting)); err != nil {
		return err
	}
	return tx.bucket(bucketProviderSettings).Delete([]byte(id))
}

// SetDefaultProviderSetting makes settingID userID's default setting, or
// clears the default when settingID is empty. It checks that both exist
// (ErrNotFound), not that the user may use the setting: that is the
// caller's rule.
func (s *Store) SetDefaultProviderSetting(ctx context.Context, userID, settingID string) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if settingID != "" {
		if err := checkID("provider setting id", settingID); err != nil {
			return err
		}
	}
	return s.Update(ctx, func(tx *Tx) error {
		if tx.bucket(bucketUsers).Get([]byte(userID)) == nil {
			return fmt.Errorf("persist: user %s: %w", userID, ErrNotFound)
		}
		defaults, by := tx.bucket(bucketProviderDefaults), tx.bucket(bucketProviderDefaultsBy)
		if old := defaults.Get([]byte(userID)); old != nil {
			if err := by.Delete(key(string(old), userID)); err != nil {
				return err
			}
		}
		if settingID == "" {
			return defaults.Delete([]byte(userID))
		}
		if tx.bucket(bucketProviderSettings).Get([]byte(settingID)) == nil {
			return fmt.Errorf("persist: provider setting %s: %w", settingID, ErrNotFound)
		}
		if err := defaults.Put([]byte(userID), []byte(settingID)); err != nil {
			return err
		}
		return by.Put(key(settingID, userID), nil)
	})
}

// DefaultProviderSetting returns the id of userID's default setting, or ""
// if the user has none.
func (s *Store) DefaultProviderSetting(userID string) (string, error) {
	id := ""
	err := s.View(func(tx *Tx) error {
		id = string(tx.bucket(bucketProviderDefaults).Get([]byte(userID)))
		return nil
	})
	return id, err
}

// migrateProviderSettingBuckets is schema version 3: the buckets of
// provider settings.
func migrateProviderSettingBuckets(tx kvTx) error {
	for _, name := range [][]byte{
		bucketProviderSettings, bucketProviderSettingsByOwner, bucketProviderDefaults, bucketProviderDefaultsBy,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}
