package plans

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// Caps of a plan's fields.
const (
	MaxTitle    = 200
	MaxContent  = 256 << 10
	MaxFeedback = 64 << 10
)

// Start starts a turn of sessionID as userID with prompt in the given
// permission mode and turn context, and returns its id without waiting
// for it to end (the host's StartTurn). An error wrapping agent.ErrBusy
// means the session runs a turn already.
type Start func(ctx context.Context, userID, sessionID, prompt, mode string, c agent.TurnContext) (turnID string, err error)

// Config configures a Service.
type Config struct {
	// Store keeps the plans. Required.
	Store *persist.Store
	// Access checks workspace roles. Required.
	Access *tenancy.Access
	// Start starts execution turns; if nil, approving with execute fails.
	Start Start
}

// Service runs the plans family.
type Service struct {
	store  *persist.Store
	access *tenancy.Access
	start  Start

	mu sync.Mutex
	// submitted holds the plan a turn's submit_plan gave, by turn id,
	// until the turn's end saves it.
	submitted map[string]submission
}

type submission struct{ title, content string }

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Access == nil {
		return nil, errors.New("plans: Config.Store and Config.Access are required")
	}
	return &Service{store: cfg.Store, access: cfg.Access, start: cfg.Start, submitted: map[string]submission{}}, nil
}

// SetStart sets the function that starts execution turns (the host, made
// after the service).
func (s *Service) SetStart(f Start) { s.start = f }

// Query selects plans for List.
type Query struct {
	WorkspaceID string
	SessionID   string
	Status      string
	Limit       int
	Cursor      string
}

func validStatus(st string) bool {
	switch st {
	case persist.PlanProposed, persist.PlanApproved, persist.PlanRejected, persist.PlanSuperseded, persist.PlanExecuted:
		return true
	}
	return false
}

// List returns the latest versions of the plans userID may see, newest
// first: of q.WorkspaceID, or else of every workspace of the user.
func (s *Service) List(ctx context.Context, userID string, q Query) ([]persist.Plan, string, error) {
	if q.Status != "" && !validStatus(q.Status) {
		return nil, "", fmt.Errorf("%w: status must be one of proposed, approved, rejected, superseded, executed", agent.ErrInvalid)
	}
	if q.Limit < 0 || q.Limit > 100 {
		return nil, "", fmt.Errorf("%w: limit must be between 1 and 100", agent.ErrInvalid)
	}
	var wss []string
	if q.WorkspaceID != "" {
		if err := s.access.Authorize(ctx, userID, q.WorkspaceID, persist.WorkspaceViewer); err != nil {
			return nil, "", err
		}
		wss = []string{q.WorkspaceID}
	} else {
		all, err := s.store.WorkspacesForUser(userID)
		if err != nil {
			return nil, "", err
		}
		for _, w := range all {
			wss = append(wss, w.ID)
		}
	}
	list, next, err := s.store.Plans(persist.PlanQuery{WorkspaceIDs: wss, SessionID: q.SessionID, Status: q.Status, Limit: q.Limit, Cursor: q.Cursor})
	// A cursor the listing never handed out is persist.ErrBadCursor,
	// which the API answers as 400 invalid_cursor.
	return list, next, err
}

// authorize loads a plan's latest version if userID has at least need in
// its workspace; another tenant's plan is agent.ErrNotFound.
func (s *Service) authorize(ctx context.Context, userID, id, need string) (persist.Plan, error) {
	if !agent.ValidID(agent.PrefixPlan, id) {
		return persist.Plan{}, fmt.Errorf("%w: plan %s", agent.ErrNotFound, id)
	}
	p, err := s.store.Plan(id)
	if err != nil {
		return persist.Plan{}, tenancy.NotFound(err, "plan "+id)
	}
	if err := s.access.Authorize(ctx, userID, p.WorkspaceID, persist.WorkspaceViewer); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.Plan{}, fmt.Errorf("%w: plan %s", agent.ErrNotFound, id)
		}
		return persist.Plan{}, err
	}
	if need != persist.WorkspaceViewer {
		if err := s.access.Authorize(ctx, userID, p.WorkspaceID, need); err != nil {
			return persist.Plan{}, err
		}
	}
	return p, nil
}

// Get returns a plan's latest version.
func (s *Service) Get(ctx context.Context, userID, id string) (persist.Plan, error) {
	return s.authorize(ctx, userID, id, persist.WorkspaceViewer)
}

// Versions returns every version of a plan, oldest first.
func (s *Service) Versions(ctx context.Context, userID, id string) ([]persist.Plan, error) {
	if _, err := s.authorize(ctx, userID, id, persist.WorkspaceViewer); err != nil {
		return nil, err
	}
	vs, err := s.store.PlanVersions(id)
	return vs, tenancy.NotFound(err, "plan "+id)
}

func checkText(title, content string) error {
	if n := utf8.RuneCountInString(title); n > MaxTitle {
		return fmt.Errorf("%w: title is %d characters, over the cap of %d", agent.ErrInvalid, n, MaxTitle)
	}
	if strings.TrimSpace(content) == "" {
		return fmt.Errorf("%w: content is required", agent.ErrInvalid)
	}
	if len(content) > MaxContent {
		return fmt.Errorf("%w: content is %d bytes, over the cap of %d", agent.ErrInvalid, len(content), MaxContent)
	}
	return nil
}

var errNotProposed = fmt.Errorf("%w: the plan is not proposed", agent.ErrConflict)

// Edit writes a person's version of a proposed plan: version n+1, the one
// before it superseded. title nil keeps the title.
func (s *Service) Edit(ctx context.Context, userID, id string, title *string, content string) (persist.Plan, error) {
	p, err := s.authorize(ctx, userID, id, persist.WorkspaceEditor)
	if err != nil {
		return persist.Plan{}, err
	}
	t := p.Title
	if title != nil {
		t = strings.TrimSpace(*title)
	}
	if err := checkText(t, content); err != nil {
		return persist.Plan{}, err
	}
	return s.store.UpdatePlan(ctx, id, func(cur persist.Plan) (persist.Plan, error) {
		if cur.Status != persist.PlanProposed {
			return cur, errNotProposed
		}
		next := cur
		next.Version++
		next.Title, next.Content, next.TurnID, next.CreatedBy = t, content, "", userID
		return next, nil
	})
}

// Reject decides a proposed plan rejected, with feedback for the
// session's next turns.
func (s *Service) Reject(ctx context.Context, userID, id, feedback string) (persist.Plan, error) {
	if len(feedback) > MaxFeedback {
		return persist.Plan{}, fmt.Errorf("%w: feedback is %d bytes, over the cap of %d", agent.ErrInvalid, len(feedback), MaxFeedback)
	}
	if _, err := s.authorize(ctx, userID, id, persist.WorkspaceEditor); err != nil {
		return persist.Plan{}, err
	}
	return s.store.UpdatePlan(ctx, id, func(cur persist.Plan) (persist.Plan, error) {
		if cur.Status != persist.PlanProposed {
			return cur, errNotProposed
		}
		cur.Status, cur.Feedback, cur.DecidedBy, cur.DecidedAt = persist.PlanRejected, strings.TrimSpace(feedback), userID, time.Now()
		return cur, nil
	})
}

// Approval is what Approve did.
type Approval struct {
	Plan      persist.Plan
	SessionID string
	// TurnID is the execution turn, when Approve was asked to execute.
	TurnID string
}

// Approve decides a proposed plan approved and, with execute, starts the
// turn of its session that carries it out in mode (default or
// accept_all; accept_all needs a workspace admin). If the turn cannot
// start (the session is busy, say), the plan stays proposed.
func (s *Service) Approve(ctx context.Context, userID, id string, execute bool, mode string) (Approval, error) {
	switch mode {
	case "":
		mode = agent.ModeDefault
	case agent.ModeDefault, agent.ModeAcceptAll:
	default:
		return Approval{}, fmt.Errorf("%w: permission_mode must be default or accept_all", agent.ErrInvalid)
	}
	p, err := s.authorize(ctx, userID, id, persist.WorkspaceEditor)
	if err != nil {
		return Approval{}, err
	}
	if execute && mode == agent.ModeAcceptAll {
		if err := s.access.Authorize(ctx, userID, p.WorkspaceID, persist.WorkspaceAdmin); err != nil {
			return Approval{}, err
		}
	}
	if execute && s.start == nil {
		return Approval{}, errors.New("plans: no turn starter")
	}
	approved, err := s.store.UpdatePlan(ctx, id, func(cur persist.Plan) (persist.Plan, error) {
		if cur.Status != persist.PlanProposed {
			return cur, errNotProposed
		}
		cur.Status, cur.Feedback, cur.DecidedBy, cur.DecidedAt = persist.PlanApproved, "", userID, time.Now()
		return cur, nil
	})
	if err != nil {
		return Approval{}, err
	}
	out := Approval{Plan: approved, SessionID: approved.SessionID}
	if !execute {
		return out, nil
	}
	turnID, err := s.start(ctx, userID, approved.SessionID, executionPrompt(approved), mode, agent.TurnContext{PlanID: approved.ID})
	if err != nil {
		// Nothing carries the plan out: it is proposed again.
		if _, rerr := s.store.UpdatePlan(context.WithoutCancel(ctx), id, func(cur persist.Plan) (persist.Plan, error) {
			if cur.Status == persist.PlanApproved && cur.Version == approved.Version {
				cur.Status, cur.DecidedBy, cur.DecidedAt = persist.PlanProposed, "", time.Time{}
			}
			return cur, nil
		}); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Approval{}, err
	}
	out.TurnID = turnID
	if out.Plan, err = s.store.UpdatePlan(context.WithoutCancel(ctx), id, func(cur persist.Plan) (persist.Plan, error) {
		if cur.ExecutedTurnID == "" {
			cur.ExecutedTurnID = turnID
		}
		return cur, nil
	}); err != nil {
		return out, err
	}
	return out, nil
}

// executionPrompt is the user message of the turn that carries p out.
func executionPrompt(p persist.Plan) string {
	title := p.Title
	if title == "" {
		title = "(untitled)"
	}
	return fmt.Sprintf("Carry out the approved plan %q (version %d):\n\n%s", title, p.Version, p.Content)
}
