package tenancy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/seshat-host/seshat/persist"
)

// Config configures a Service.
type Config struct {
	// Store keeps users, organizations, groups, workspaces, grants and
	// the audit log. Required.
	Store *persist.Store
	// Models checks a default_model preference. If nil, any model id is
	// accepted.
	Models ModelChecker
	// Emails normalises an email typed to name an invitee or a member as
	// account emails are normalised (auth.NormalizeEmail), refusing
	// look-alikes with an error wrapping agent.ErrInvalid. If nil, emails
	// are trimmed and lower-cased.
	Emails func(email string) (string, error)
}

// ModelChecker reports whether a model resolves to a provider for a user
// (routing.Service implements it).
type ModelChecker interface {
	CheckModel(ctx context.Context, userID, settingID, model string) error
}

// Runtime is what runs inside workspaces: a deletion asks it to end that
// work before the records go. The host implements it.
type Runtime interface {
	// EndWorkspace disarms the jobs and deletes the live sessions of a
	// workspace about to be deleted (interrupting their turns), and
	// returns how many sessions it deleted.
	EndWorkspace(ctx context.Context, c persist.WorkspaceContents) int
	// ScopeDeleted forgets what is kept in memory about a deleted
	// workspace or organization (persist.QuotaWorkspace or
	// QuotaOrganization and its id).
	ScopeDeleted(scope, id string)
}

// Service runs organizations, groups, workspaces and their members,
// account administration, preferences and the audit queries, checking
// who may do what (the rules are in the methods and in docs/api.md); the
// store keeps the records and the invariants a concurrent change could
// break (the last owner, a group's members belonging to its
// organization). It is safe for concurrent use.
type Service struct {
	*Access
	store  *persist.Store
	models ModelChecker
	emails func(string) (string, error)
	rt     atomic.Pointer[Runtime]

	hooksMu  sync.Mutex
	disabled []func(ctx context.Context, userID string) // guarded by hooksMu
}

// OnUserDisabled adds fn to what runs once an account is disabled (its
// flag stored): the host ends the user's streams and turns, a family its
// own streams.
func (s *Service) OnUserDisabled(fn func(ctx context.Context, userID string)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.disabled = append(s.disabled, fn)
}

// userDisabled runs the OnUserDisabled hooks.
func (s *Service) userDisabled(ctx context.Context, userID string) {
	s.hooksMu.Lock()
	hooks := slices.Clone(s.disabled)
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(ctx, userID)
	}
}

// New validates cfg and returns a Service. It starts nothing.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("tenancy: Store is required")
	}
	emails := cfg.Emails
	if emails == nil {
		emails = func(email string) (string, error) { return strings.ToLower(strings.TrimSpace(email)), nil }
	}
	return &Service{Access: NewAccess(cfg.Store), store: cfg.Store, models: cfg.Models, emails: emails}, nil
}

// SetRuntime sets what ends the work of deleted workspaces; until it is
// set, nothing runs in them.
func (s *Service) SetRuntime(rt Runtime) { s.rt.Store(&rt) }

func (s *Service) runtime() Runtime {
	if p := s.rt.Load(); p != nil && *p != nil {
		return *p
	}
	return noRuntime{}
}

// checkModel checks a default_model preference.
func (s *Service) checkModel(ctx context.Context, userID, model string) error {
	if s.models == nil {
		return nil
	}
	return s.models.CheckModel(ctx, userID, "", model)
}

// noRuntime is the Runtime of a service no host has joined.
type noRuntime struct{}

func (noRuntime) EndWorkspace(context.Context, persist.WorkspaceContents) int { return 0 }
func (noRuntime) ScopeDeleted(string, string)                                 {}
