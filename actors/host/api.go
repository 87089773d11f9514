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
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/quota"
	"github.com/seshat-host/seshat/actors/session"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// SessionOptions create a session.
type SessionOptions struct {
	WorkspaceID    string
	Title          string
	Model          string
	SystemPrompt   string
	PermissionMode string
	// AgentSlug names an agent profile (see Profiles): it fills in the
	// fields above that are empty and sets Context's agent profile.
	AgentSlug string
	// Context is the session's own turn context: its corpora, agent
	// profile and memory setting.
	Context agent.TurnContext
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
	// Options go to the turn's runner as they are (see turn.Options).
	// Model, SystemPrompt and PermissionMode set up a new session, and
	// override the session's own for this turn otherwise; Context's agent
	// profile and memory policy set up a new session too.
	turn.Options
	// AgentSlug names an agent profile (see Profiles) for this turn, and
	// for the session it makes.
	AgentSlug string
	// Route, when set, is Model already resolved by the caller (see
	// routing.Service.ResolveModel): the host then does not resolve it
	// again.
	Route *provider.Route
	// Stream asks for the turn's events.
	Stream bool
	// OneShot says the caller will not come back to the session (an
	// outside client that resends the whole conversation): its actor stops
	// as soon as the turn is durable instead of staying in memory for the
	// idle timeout.
	OneShot bool
	// AnswerAtEnd says the caller shows its client nothing of the turn,
	// the session's id included, before the turn ends (a one-shot call
	// answered once, not streamed). A new session is then written by the
	// turn's first save, in one commit with it, instead of being created
	// first: a crash before that loses only a call whose caller got no
	// answer, as with any stateless proxy.
	AnswerAtEnd bool
}

// Turn is a started turn.
type Turn struct {
	SessionID string
	TurnID    string
	// Events is set when the request asked for a stream.
	Events  *Stream
	outcome <-chan session.Outcome
	// wait, when set, replaces outcome (a turn run elsewhere, see NewTurn).
	wait func(context.Context) (*agent.QueryResult, error)
}

// NewTurn is a turn that runs somewhere else than this host (another node
// of a cluster): wait blocks until its end, or ctx is done.
func NewTurn(sessionID, turnID string, events *Stream, wait func(context.Context) (*agent.QueryResult, error)) *Turn {
	return &Turn{SessionID: sessionID, TurnID: turnID, Events: events, wait: wait}
}

// Wait blocks until the turn has ended and is durable, or ctx is done.
func (t *Turn) Wait(ctx context.Context) (*agent.QueryResult, error) {
	if t.wait != nil {
		return t.wait(ctx)
	}
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
	lease  *quota.Lease
	// close, when set, replaces sub (a stream relayed from elsewhere, see
	// NewStream).
	close  func()
	unhold func()
}

// Notify registers wake to be called after every event queued on C and
// after C closes (session.Subscription.Notify); the reader then looks at C
// once itself. A stream relayed from elsewhere (NewStream) is not
// Notifiable: Notify does nothing and its reader must wait on C.
func (s *Stream) Notify(wake func()) {
	if s.sub != nil {
		s.sub.Notify(wake)
	}
}

// Notifiable reports whether Notify works for this stream.
func (s *Stream) Notifiable() bool { return s.sub != nil }

// NewStream is a stream whose events come from somewhere else than this
// host (a session on another node of a cluster): close is called once, by
// Close.
func NewStream(replay []agent.Event, c <-chan *agent.Event, close func()) *Stream {
	var once sync.Once
	return &Stream{Replay: replay, C: c, close: func() { once.Do(close) }}
}

// Close leaves the stream and frees the user's stream slot.
func (s *Stream) Close() {
	if s.close != nil {
		s.close()
		return
	}
	s.sub.Close()
	s.lease.Release()
	if s.unhold != nil {
		s.unhold()
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
	if err := h.tenancy.Authorize(context.Background(), userID, rec.WorkspaceID, need); err != nil {
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

// resolve selects the provider of opts.Model for the user.
func (h *Host) resolve(ctx context.Context, userID, wsID string, opts turn.Options) (*provider.Route, error) {
	// Only the turn's own workspace's settings may serve it.
	prov, model, err := h.cfg.Providers.Select(provider.WithWorkspace(ctx, wsID), userID, opts.ProviderSettingID, opts.Model)
	if err != nil {
		return nil, err
	}
	return &provider.Route{Provider: prov, Model: model}, nil
}

// CreateSession creates a session in a workspace of the user (their
// default workspace when none is named).
func (h *Host) CreateSession(ctx context.Context, userID string, o SessionOptions) (persist.Session, error) {
	if err := checkSessionFields(&o.Title, &o.SystemPrompt); err != nil {
		return persist.Session{}, err
	}
	return h.createSession(ctx, userID, o, false, true)
}

// checkSessionFields applies the per-field caps to a session's title and
// system prompt (nil: not given).
func checkSessionFields(title, systemPrompt *string) error {
	if title != nil {
		if err := agent.CheckChars("title", strings.TrimSpace(*title), agent.MaxNameChars); err != nil {
			return err
		}
	}
	if systemPrompt != nil {
		return agent.CheckBytes("system_prompt", *systemPrompt, agent.MaxSystemPromptBytes)
	}
	return nil
}

// createSession is CreateSession; resolved says the caller has resolved
// o.Model already (a turn that makes its session), so it is not checked
// again.
func (h *Host) createSession(ctx context.Context, userID string, o SessionOptions, resolved, commit bool) (persist.Session, error) {
	if h.closed.Load() {
		return persist.Session{}, agent.ErrClosed
	}
	ws, err := h.tenancy.WorkspaceFor(ctx, userID, o.WorkspaceID, persist.WorkspaceEditor)
	if err != nil {
		return persist.Session{}, err
	}
	o.WorkspaceID = ws
	if o.AgentSlug != "" {
		p, err := h.resolveProfile(ctx, ws, o.AgentSlug)
		if err != nil {
			return persist.Session{}, err
		}
		sessionFromProfile(&o, p)
	}
	if err := h.validate(ctx, userID, ws, o.Context); err != nil {
		return persist.Session{}, err
	}
	if o.PermissionMode == "" {
		o.PermissionMode = agent.ModeDefault
	}
	if !agent.ValidMode(o.PermissionMode) {
		return persist.Session{}, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	if o.Model == "" {
		o.Model = h.tenancy.DefaultModel(userID, h.cfg.Session.DefaultModel)
	}
	if !resolved {
		if err := h.CheckModel(ctx, userID, "", o.Model); err != nil {
			return persist.Session{}, err
		}
	}
	t := time.Now().UTC()
	rec := persist.Session{
		ID: agent.NewID(agent.PrefixSession), WorkspaceID: o.WorkspaceID, UserID: userID,
		Title: strings.TrimSpace(o.Title), Model: o.Model, SystemPrompt: o.SystemPrompt,
		PermissionMode: o.PermissionMode, Status: agent.StatusIdle, CreatedAt: t, UpdatedAt: t,
		CorpusIDs: o.Context.CorpusIDs, AgentID: o.Context.AgentID, AgentVersion: o.Context.AgentVersion,
	}
	if m := o.Context.Memory; m != nil {
		rec.Memory = &persist.SessionMemory{Extract: m.Extract, Inject: m.Inject}
	}
	if !commit {
		return rec, nil
	}
	return rec, h.cfg.Store.CreateSession(ctx, rec)
}

// ListSessions lists the sessions of the user's workspaces (or of one of
// them), newest first, optionally searching titles and message text. A
// listing carries no system prompts (GetSession does): each may be up to
// 64 KiB, and a page of them would be most of the answer.
func (h *Host) ListSessions(ctx context.Context, userID string, q persist.SessionQuery) ([]persist.Session, string, error) {
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
			if err := h.tenancy.Authorize(ctx, userID, id, persist.WorkspaceViewer); err != nil {
				return nil, "", err
			}
		}
	}
	if len(q.WorkspaceIDs) == 0 {
		return []persist.Session{}, "", nil
	}
	items, next, err := h.cfg.Store.ListSessions(q)
	for i := range items {
		items[i].SystemPrompt = ""
	}
	return items, next, err
}

// GetSession returns a session with its messages and open requests.
func (h *Host) GetSession(ctx context.Context, userID, id string) (SessionView, error) {
	if _, err := h.authorize(userID, id, persist.WorkspaceViewer); err != nil {
		return SessionView{}, err
	}
	v, err := ask[session.View](ctx, h, id, &session.Get{})
	if err != nil {
		return SessionView{}, err
	}
	return toView(v), nil
}

// UpdateSession changes a session's settings.
func (h *Host) UpdateSession(ctx context.Context, userID, id string, u SessionUpdate) (SessionView, error) {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return SessionView{}, err
	}
	if err := checkSessionFields(u.Title, u.SystemPrompt); err != nil {
		return SessionView{}, err
	}
	if u.Model != nil {
		if err := h.CheckModel(ctx, userID, "", *u.Model); err != nil {
			return SessionView{}, err
		}
	}
	v, err := ask[session.View](ctx, h, id, &session.Update{Title: u.Title, Model: u.Model, SystemPrompt: u.SystemPrompt, PermissionMode: u.PermissionMode})
	if err != nil {
		return SessionView{}, err
	}
	return toView(v), nil
}

// DeleteSession interrupts a running turn and deletes the session.
func (h *Host) DeleteSession(ctx context.Context, userID, id string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := ask[session.Done](ctx, h, id, &session.Delete{})
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
		// A turn given as a prompt (the native and gRPC APIs, jobs) has
		// the per-field caps; the compatible surfaces send whole
		// conversations, bounded by the body cap.
		if strings.TrimSpace(req.Prompt) == "" {
			return nil, fmt.Errorf("%w: prompt is required", agent.ErrInvalid)
		}
		if err := agent.CheckBytes("prompt", req.Prompt, agent.MaxPromptBytes); err != nil {
			return nil, err
		}
		if err := agent.CheckBytes("system_prompt", req.SystemPrompt, agent.MaxSystemPromptBytes); err != nil {
			return nil, err
		}
		input = []agent.Message{{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(req.Prompt)}}}
	}
	if req.PermissionMode != "" && !agent.ValidMode(req.PermissionMode) {
		return nil, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	id := req.SessionID
	wsID := req.WorkspaceID
	sessionModel := ""
	var sess persist.Session
	if id != "" {
		rec, err := h.authorize(userID, id, persist.WorkspaceEditor)
		if err != nil {
			return nil, err
		}
		wsID, sessionModel, sess = rec.WorkspaceID, rec.Model, rec
	} else {
		var err error
		if wsID, err = h.tenancy.WorkspaceFor(ctx, userID, wsID, persist.WorkspaceEditor); err != nil {
			return nil, err
		}
	}
	if req.AgentSlug != "" {
		p, err := h.resolveProfile(ctx, wsID, req.AgentSlug)
		if err != nil {
			return nil, err
		}
		turnFromProfile(&req, p, true, sess)
	} else if p, ok, err := h.profileOf(ctx, sess); err != nil {
		return nil, err
	} else if ok {
		turnFromProfile(&req, p, false, sess)
	}
	if err := h.validate(ctx, userID, wsID, req.Context); err != nil {
		return nil, err
	}
	// The turn's model is resolved once, here: where the request names a
	// model or a setting, before the quota admission (an unknown model is
	// the client's error); else after it, from the new session's default
	// or the session's own model.
	opts := req.Options
	switch {
	case opts.Model == "" && opts.ProviderSettingID != "":
		// The setting's default model serves a request that names none.
	case id == "":
		opts.Model = cmp.Or(opts.Model, h.tenancy.DefaultModel(userID, h.cfg.Session.DefaultModel))
	default:
		opts.Model = cmp.Or(opts.Model, sessionModel)
	}
	route := req.Route
	named := req.Model != "" || req.ProviderSettingID != ""
	if route == nil && named {
		r, err := h.resolve(ctx, userID, wsID, opts)
		if err != nil {
			return nil, err
		}
		route = r
	}
	// The ledger refuses the turn now, before anything is streamed, when a
	// token window is used up or a turn, stream or request limit is
	// reached.
	lease, err := h.quotas.Turn(userID, wsID)
	if err != nil {
		return nil, err
	}
	var streamLease *quota.Lease
	fail := func(err error) (*Turn, error) {
		lease.Release()
		streamLease.Release()
		return nil, err
	}
	if req.Stream {
		if streamLease, err = h.quotas.Stream(userID); err != nil {
			return fail(err)
		}
	}
	if route == nil {
		r, err := h.resolve(ctx, userID, wsID, opts)
		switch {
		case err == nil:
			route = r
		case id == "":
			return fail(err)
		default:
			// The session's own model no longer resolves: the turn
			// starts and fails with the reason, as it always has.
			route = &provider.Route{Err: err}
		}
	}
	if id == "" {
		// A session no one can name before the turn's end is created by
		// the turn's first save, in the same commit, not in one of its own.
		deferCreate := req.OneShot && req.AnswerAtEnd
		rec, err := h.createSession(ctx, userID, SessionOptions{
			WorkspaceID: wsID, Model: opts.Model, SystemPrompt: req.SystemPrompt, PermissionMode: req.PermissionMode,
			// A session made by its first turn keeps that turn's agent
			// profile and memory setting; corpora stay the turn's own.
			Context: agent.TurnContext{AgentID: req.Context.AgentID, AgentVersion: req.Context.AgentVersion, Memory: req.Context.Memory},
		}, true, !deferCreate)
		if err != nil {
			return fail(err)
		}
		id = rec.ID
		// Its actor starts from this record, without reading it back.
		if deferCreate {
			h.deps.Fresh.PutUnsaved(rec)
		} else {
			h.deps.Fresh.Put(rec)
		}
		defer h.deps.Fresh.Forget(id)
	}
	if route.Err == nil {
		// Every model call of the turn is accounted to the lease's scopes.
		route = &provider.Route{Provider: h.quotas.Meter(lease.Scopes(), route.Provider), Model: route.Model}
	}
	// The turn (and its stream) are known as the user's before the
	// session hears of them, so that ending the user's work finds them.
	unholdTurn := h.work.hold(userID, id)
	var unholdStream func()
	if req.Stream {
		unholdStream = h.work.hold(userID, id)
	}
	msg := &session.StartTurn{
		UserID:    userID,
		Input:     input,
		Options:   opts,
		Route:     route,
		Subscribe: req.Stream,
		OneShot:   req.OneShot,
		// The actor releases the lease when the turn ends or is refused;
		// Release is idempotent, so the error path below may too.
		Release: func() {
			lease.Release()
			unholdTurn()
		},
	}
	ts, err := ask[*session.TurnStarted](ctx, h, id, msg)
	if err != nil {
		unholdTurn()
		if unholdStream != nil {
			unholdStream()
		}
		return fail(err)
	}
	t := &Turn{SessionID: id, TurnID: ts.TurnID, outcome: ts.Outcome}
	if ts.Sub != nil {
		t.Events = &Stream{Replay: ts.Sub.Replay, C: ts.Sub.C, sub: ts.Sub, lease: streamLease, unhold: unholdStream}
	} else {
		streamLease.Release()
		if unholdStream != nil {
			unholdStream()
		}
	}
	h.endIfDisabled(ctx, userID, id)
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
	lease, err := h.quotas.Stream(userID)
	if err != nil {
		return nil, err
	}
	unhold := h.work.hold(userID, id)
	sub, err := ask[*session.Subscription](ctx, h, id, &session.Attach{After: after, UserID: userID})
	if err != nil {
		unhold()
		lease.Release()
		return nil, err
	}
	h.endIfDisabled(ctx, userID, id)
	return &Stream{Replay: sub.Replay, C: sub.C, sub: sub, lease: lease, unhold: unhold}, nil
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
	return ask[bool](ctx, h, id, &session.Interrupt{})
}

// DecidePermission answers a permission request of a session.
func (h *Host) DecidePermission(ctx context.Context, userID, id, requestID string, allow, remember bool, reason string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := ask[session.Done](ctx, h, id, &session.Decide{RequestID: requestID, Allow: allow, Remember: remember, Reason: reason})
	return err
}

// AnswerPrompt answers a prompt request of a session.
func (h *Host) AnswerPrompt(ctx context.Context, userID, id, requestID, answer string) error {
	if _, err := h.authorize(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	_, err := ask[session.Done](ctx, h, id, &session.Answer{RequestID: requestID, Answer: answer})
	return err
}

func toView(v session.View) SessionView {
	return SessionView{Session: v.Session, Messages: v.Messages, Pending: v.Pending}
}
