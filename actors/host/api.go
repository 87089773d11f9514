package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/persist"
)

// SessionOptions create a session.
type SessionOptions struct {
	WorkspaceID    string
	Title          string
	Model          string
	SystemPrompt   string
	PermissionMode string
}

// SessionView is a session with its messages and open requests.
type SessionView struct {
	Session  persist.Session
	Messages []agent.Message
	Pending  []agent.Pending
}

// SessionUpdate changes a session's settings; nil fields stay.
type SessionUpdate struct {
	Title          *string
	Model          *string
	SystemPrompt   *string
	PermissionMode *string
}

// TurnRequest starts a turn: in SessionID, or else in a new session of
// WorkspaceID (or the user's default workspace).
type TurnRequest struct {
	SessionID   string
	WorkspaceID string
	// Prompt is the user's text; Input, when set, replaces it with whole
	// messages (an outside client's trailing user messages).
	Prompt string
	Input  []agent.Message
	// Model, SystemPrompt and PermissionMode set up a new session, and
	// override the session's own for this turn otherwise.
	Model string
	// ProviderSettingID picks one of the user's provider settings for this
	// turn.
	ProviderSettingID string
	SystemPrompt      string
	PermissionMode    string
	MaxTurns          int
	MaxTokens         int
	ClientTools       []agent.ToolSpec
	ToolChoice        *agent.ToolChoice
	// DisableServerTools hides the server's tools from the model.
	DisableServerTools bool
	// NoAsk denies what would need approval instead of asking.
	NoAsk bool
	// Stream asks for the turn's events.
	Stream bool
}

// Turn is a started turn.
type Turn struct {
	SessionID string
	TurnID    string
	// Events is set when the request asked for a stream.
	Events  *Stream
	outcome <-chan session.Outcome
}

// Wait blocks until the turn has ended and is durable, or ctx is done.
func (t *Turn) Wait(ctx context.Context) (*agent.QueryResult, error) {
	select {
	case o := <-t.outcome:
		return o.Result, o.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stream is a subscription to a turn's events: Replay, then C until it is
// closed. Close must be called once the reader is done.
type Stream struct {
	Replay []agent.Event
	C      <-chan *agent.Event
	sub    *session.Subscription
	free   func()
	gauge  func()
}

// Close leaves the stream and frees the user's stream slot.
func (s *Stream) Close() {
	s.sub.Close()
	if s.free != nil {
		s.free()
		s.free = nil
		s.gauge()
	}
}

// authorize returns the session record if userID has at least the need
// role in its workspace: another tenant's session is agent.ErrNotFound,
// never a distinct error; a role below need is agent.ErrForbidden.
func (h *Host) authorize(userID, id, need string) (persist.Session, error) {
	if !agent.ValidID(agent.PrefixSession, id) {
		return persist.Session{}, fmt.Errorf("%w: session %s", agent.ErrNotFound, id)
	}
	rec, err := h.cfg.Store.Session(id)
	if errors.Is(err, persist.ErrNotFound) {
		return rec, fmt.Errorf("%w: session %s", agent.ErrNotFound, id)
	}
	if err != nil {
		return rec, err
	}
	if err := h.member(userID, rec.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return rec, fmt.Errorf("%w: session %s", agent.ErrNotFound, id)
		}
		return rec, err
	}
	return rec, nil
}

// CheckModel reports whether model (through settingID, if set) resolves
// to a provider for the user.
func (h *Host) CheckModel(ctx context.Context, userID, settingID, model string) error {
	_, _, err := h.cfg.Providers.Select(ctx, userID, settingID, model)
	return err
}

// CreateSession creates a session in a workspace of the user (their
// default workspace when none is named).
func (h *Host) CreateSession(ctx context.Context, userID string, o SessionOptions) (persist.Session, error) {
	return h.createSession(ctx, userID, o, "")
}

// createSession is CreateSession with the model checked through the
// provider setting a turn names, if any.
func (h *Host) createSession(ctx context.Context, userID string, o SessionOptions, settingID string) (persist.Session, error) {
	if h.closed.Load() {
		return persist.Session{}, agent.ErrClosed
	}
	if o.WorkspaceID == "" {
		ws, err := h.cfg.Store.DefaultWorkspaceFor(userID)
		if err != nil {
			return persist.Session{}, err
		}
		o.WorkspaceID = ws
	}
	if err := h.member(userID, o.WorkspaceID, persist.WorkspaceEditor); err != nil {
		return persist.Session{}, err
	}
	if o.PermissionMode == "" {
		o.PermissionMode = agent.ModeDefault
	}
	if !agent.ValidMode(o.PermissionMode) {
		return persist.Session{}, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	if o.Model == "" {
		o.Model = h.defaultModel(userID)
	}
	if err := h.CheckModel(ctx, userID, settingID, o.Model); err != nil {
		return persist.Session{}, err
	}
	t := time.Now().UTC()
	rec := persist.Session{
		ID: agent.NewID(agent.PrefixSession), WorkspaceID: o.WorkspaceID, UserID: userID,
		Title: strings.TrimSpace(o.Title), Model: o.Model, SystemPrompt: o.SystemPrompt,
		PermissionMode: o.PermissionMode, Status: agent.StatusIdle, CreatedAt: t, UpdatedAt: t,
	}
	return rec, h.cfg.Store.CreateSession(ctx, rec)
}

// ListSessions lists the sessions of the user's workspaces (or of one of
// them), newest first, optionally searching titles and message text.
func (h *Host) ListSessions(_ context.Context, userID string, q persist.SessionQuery) ([]persist.Session, string, error) {
	if len(q.WorkspaceIDs) == 0 {
		ws, err := h.cfg.Store.WorkspacesForUser(userID)
		if err != nil {
			return nil, "", err
		}
		for _, w := range ws {
			q.WorkspaceIDs = append(q.WorkspaceIDs, w.ID)
		}
	} else {
		for _, id := range q.WorkspaceIDs {
			if err := h.member(userID, id, persist.WorkspaceViewer); err != nil {
				return nil, "", err
			}
		}
	}
	if len(q.WorkspaceIDs) == 0 {
		return []persist.Session{}, "", nil
	}
	return h.cfg.Store.ListSessions(q)
}

// GetSession returns a session with its messages and open requests.
func (h *Host) GetSession(ctx context.Context, userID, id string) (SessionView, error) {
	if _, err := h.authorize(userID, id, persist.WorkspaceViewer); err != nil {
		return SessionView{}, err
	}
	v, err := h.request(ctx, id, &session.Get{})
	if err != nil {
		return SessionView{}, err
	}
	return toView(v.(session.View)), nil
}

// UpdateSession changes a session's settings.
func (h *Host) UpdateSession(ctx context.Context, userID, id string, u SessionUpdate) (SessionView, error) {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return SessionView{}, err
	}
	if u.Model != nil {
		if err := h.CheckModel(ctx, userID, "", *u.Model); err != nil {
			return SessionView{}, err
		}
	}
	v, err := h.request(ctx, id, &session.Update{Title: u.Title, Model: u.Model, SystemPrompt: u.SystemPrompt, PermissionMode: u.PermissionMode})
	if err != nil {
		return SessionView{}, err
	}
	return toView(v.(session.View)), nil
}

// DeleteSession interrupts a running turn and deletes the session.
func (h *Host) DeleteSession(ctx context.Context, userID, id string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := h.request(ctx, id, &session.Delete{})
	return err
}

// StartTurn starts a turn. Rejections (busy session, the user's turn or
// stream cap, an unknown model, an unknown session) come back as errors
// before anything is streamed.
func (h *Host) StartTurn(ctx context.Context, userID string, req TurnRequest) (*Turn, error) {
	if h.closed.Load() {
		return nil, agent.ErrClosed
	}
	input := req.Input
	if len(input) == 0 {
		if strings.TrimSpace(req.Prompt) == "" {
			return nil, fmt.Errorf("%w: prompt is required", agent.ErrInvalid)
		}
		input = []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(req.Prompt)}}}
	}
	if req.PermissionMode != "" && !agent.ValidMode(req.PermissionMode) {
		return nil, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	id := req.SessionID
	wsID := req.WorkspaceID
	sessionModel := ""
	if id != "" {
		rec, err := h.authorize(userID, id, persist.WorkspaceEditor)
		if err != nil {
			return nil, err
		}
		wsID, sessionModel = rec.WorkspaceID, rec.Model
	} else {
		if wsID == "" {
			def, err := h.cfg.Store.DefaultWorkspaceFor(userID)
			if err != nil {
				return nil, err
			}
			wsID = def
		}
		if err := h.member(userID, wsID, persist.WorkspaceEditor); err != nil {
			return nil, err
		}
	}
	if req.Model != "" || req.ProviderSettingID != "" {
		model := cmp.Or(req.Model, sessionModel, h.cfg.Session.DefaultModel)
		if err := h.CheckModel(ctx, userID, req.ProviderSettingID, model); err != nil {
			return nil, err
		}
	}
	// Quotas refuse the turn now, before anything is streamed, when a
	// token window is used up or a turn or request limit is reached.
	endQuota, err := h.quotas.admitTurn(userID, wsID)
	if err != nil {
		return nil, err
	}
	release, ok := h.turns.acquire(userID)
	if !ok {
		endQuota()
		return nil, fmt.Errorf("%w: at most %d running turns per user", agent.ErrTooManyTurns, h.cfg.MaxTurnsPerUser)
	}
	var free func()
	if req.Stream {
		if free, ok = h.streams.acquire(userID); !ok {
			release()
			endQuota()
			return nil, fmt.Errorf("%w: at most %d open streams per user", agent.ErrTooManyStreams, h.cfg.MaxStreamsPerUser)
		}
	}
	fail := func(err error) (*Turn, error) {
		release()
		endQuota()
		if free != nil {
			free()
		}
		return nil, err
	}
	if id == "" {
		rec, err := h.createSession(ctx, userID, SessionOptions{
			WorkspaceID: wsID, Model: req.Model, SystemPrompt: req.SystemPrompt, PermissionMode: req.PermissionMode,
		}, req.ProviderSettingID)
		if err != nil {
			return fail(err)
		}
		id = rec.ID
	}
	h.metrics.turnsRunning.Inc()
	var once sync.Once
	msg := &session.StartTurn{
		UserID: userID,
		Input:  input,
		Options: session.TurnOptions{
			Model: req.Model, ProviderSettingID: req.ProviderSettingID, System: req.SystemPrompt, PermissionMode: req.PermissionMode,
			MaxTurns: req.MaxTurns, MaxTokens: req.MaxTokens, ClientTools: req.ClientTools,
			ToolChoice: req.ToolChoice, DisableServerTools: req.DisableServerTools, NoAsk: req.NoAsk,
		},
		Subscribe: req.Stream,
		// Release runs once however often it is called: the actor calls
		// it when the turn ends or is refused, and so does the error path
		// below when the request failed.
		Release: func() {
			once.Do(func() {
				release()
				endQuota()
				h.metrics.turnsRunning.Dec()
			})
		},
	}
	v, err := h.request(ctx, id, msg)
	if err != nil {
		msg.Release()
		if free != nil {
			free()
		}
		return nil, err
	}
	ts := v.(*session.TurnStarted)
	t := &Turn{SessionID: id, TurnID: ts.TurnID, outcome: ts.Outcome}
	if ts.Sub != nil {
		h.metrics.streamsOpen.Inc()
		t.Events = &Stream{Replay: ts.Sub.Replay, C: ts.Sub.C, sub: ts.Sub, free: free, gauge: h.metrics.streamsOpen.Dec}
	}
	return t, nil
}

// Query runs a turn to its end and returns the query response.
func (h *Host) Query(ctx context.Context, userID string, req TurnRequest) (*agent.QueryResult, error) {
	req.Stream = false
	t, err := h.StartTurn(ctx, userID, req)
	if err != nil {
		return nil, err
	}
	return t.Wait(ctx)
}

// Attach subscribes to the current or last turn of a session after the
// event id after.
func (h *Host) Attach(ctx context.Context, userID, id string, after uint64) (*Stream, error) {
	if h.closed.Load() {
		return nil, agent.ErrClosed
	}
	if _, err := h.authorize(userID, id, persist.WorkspaceViewer); err != nil {
		return nil, err
	}
	free, ok := h.streams.acquire(userID)
	if !ok {
		return nil, fmt.Errorf("%w: at most %d open streams per user", agent.ErrTooManyStreams, h.cfg.MaxStreamsPerUser)
	}
	v, err := h.request(ctx, id, &session.Attach{After: after})
	if err != nil {
		free()
		return nil, err
	}
	sub := v.(*session.Subscription)
	h.metrics.streamsOpen.Inc()
	return &Stream{Replay: sub.Replay, C: sub.C, sub: sub, free: free, gauge: h.metrics.streamsOpen.Dec}, nil
}

// Interrupt cancels a session's running turn and reports whether one ran.
func (h *Host) Interrupt(ctx context.Context, userID, id string) (bool, error) {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return false, err
	}
	return h.interrupt(ctx, id)
}

// interrupt cancels a session's running turn without checking who asks:
// for the host's own work (a job's run, a workspace's deletion).
func (h *Host) interrupt(ctx context.Context, id string) (bool, error) {
	v, err := h.request(ctx, id, &session.Interrupt{})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// DecidePermission answers a permission request of a session.
func (h *Host) DecidePermission(ctx context.Context, userID, id, requestID string, allow, remember bool, reason string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := h.request(ctx, id, &session.Decide{RequestID: requestID, Allow: allow, Remember: remember, Reason: reason})
	return err
}

// AnswerPrompt answers a prompt request of a session.
func (h *Host) AnswerPrompt(ctx context.Context, userID, id, requestID, answer string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := h.request(ctx, id, &session.Answer{RequestID: requestID, Answer: answer})
	return err
}

func toView(v session.View) SessionView {
	return SessionView{Session: v.Session, Messages: v.Messages, Pending: v.Pending}
}
