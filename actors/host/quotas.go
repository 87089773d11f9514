package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// Quotas.
//
// Limits are set per user, workspace or organization (persist keeps them
// and the host caches them). A turn is accounted to three scopes: its
// user, its workspace and the workspace's organization, if any.
//
//   - requests_per_minute: a user's limit counts every authenticated API
//     request they make (AdmitRequest, called by the HTTP layer); a
//     workspace's or organization's counts the turns started in it.
//   - concurrent_turns: turns running at once; a slot is taken when the
//     turn starts and freed when it ends.
//   - tokens_per_day, tokens_per_month: input plus output tokens of model
//     calls, in UTC calendar days and months.
//   - stored_bytes: checked by the store in the transaction that writes a
//     file (see persist.countStored).
//
// Each scope that has limits has one owner, a quota actor, which holds
// its counters (tokens used in the window, tokens reserved by calls in
// flight, running turns, requests this minute) and decides admissions and
// reservations one message at a time, so concurrent turns cannot race
// past a limit. Scopes without limits have no actor; their usage is only
// recorded.
//
// Every model call of a turn goes through quotaProvider, the wrapper of
// the provider the runner selected: before the call it reserves its
// estimate (max_tokens, or Config.Quotas.ReserveTokens, which then also
// caps the call's output, plus an upper bound of the input: one token per
// two bytes of text) in every scope whose token limits apply, and after it
// settles the actual usage. A reservation is granted while the scope's
// used plus reserved tokens are below the limit, so the last call granted
// may cross it: the spending of a scope exceeds its limit by at most one
// reservation, as long as calls use no more than they reserved (max_tokens
// bounds the output; the input bound holds for the mock's word count and
// for byte-level tokenizers). Once the used tokens reach the limit, calls
// are refused with an *agent.QuotaError, which fails the turn; StartTurn
// checks the same before the turn starts, so a client usually gets a 429
// before anything streams. In between (the rest is held by calls in
// flight) a call waits for them to settle rather than being refused while
// room may remain.
//
// Usage is made durable through the store's group-commit writer
// (persist.AddQuotaUsage) in deltas, one write per call that batches with
// every other write, so recording costs no commit of its own.

// QuotaConfig tunes quotas.
type QuotaConfig struct {
	// ReserveTokens is the output a model call without max_tokens reserves
	// under a token limit, and the max_tokens it is then given. If zero,
	// 4096.
	ReserveTokens int
	// ReserveWait bounds how long a model call waits for the calls in
	// flight to settle when they hold what is left of a token limit; it
	// then fails with a quota error. If zero, 60s.
	ReserveWait time.Duration
	// Now is the clock of the quota windows. If nil, time.Now.
	Now func() time.Time
}

func (c QuotaConfig) withDefaults() QuotaConfig {
	if c.ReserveTokens <= 0 {
		c.ReserveTokens = 4096
	}
	if c.ReserveWait <= 0 {
		c.ReserveWait = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// QuotaUsage is what a scope uses of its limits now.
type QuotaUsage struct {
	RequestsThisMinute int64
	TokensToday        int64
	TokensThisMonth    int64
	// ReservedTokens are held by model calls in flight.
	ReservedTokens int64
	RunningTurns   int64
	StoredBytes    int64
}

// QuotaView is a scope's limits and usage.
type QuotaView struct {
	Scope  string
	ID     string
	Limits persist.QuotaLimits
	Usage  QuotaUsage
}

// quotaScope names one scope.
type quotaScope struct{ scope, id string }

func (s quotaScope) key() string { return s.scope + "/" + s.id }

// quotas is the host's quota engine.
type quotas struct {
	cfg   QuotaConfig
	store *persist.Store
	sys   *actor.ActorSystem
	log   *slog.Logger

	mu sync.RWMutex // guards limits and pids
	// limits caches the store's limits by scope key.
	limits map[string]persist.QuotaLimits
	// pids are the quota actors, one per scope that has limits (or had:
	// an actor lives until the host closes).
	pids map[string]*actor.PID
}

func newQuotas(store *persist.Store, sys *actor.ActorSystem, log *slog.Logger, cfg QuotaConfig) (*quotas, error) {
	q := &quotas{
		cfg: cfg.withDefaults(), store: store, sys: sys, log: log,
		limits: map[string]persist.QuotaLimits{}, pids: map[string]*actor.PID{},
	}
	all, err := store.AllQuotaLimits()
	if err != nil {
		return nil, err
	}
	for _, l := range all {
		q.limits[quotaScope{l.Scope, l.ID}.key()] = l.Limits
	}
	return q, nil
}

// forget drops the cached limits of a scope the store deleted with its
// subject (a workspace, an organization).
func (q *quotas) forget(s quotaScope) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.limits, s.key())
}

// limitsOf returns the cached limits of a scope.
func (q *quotas) limitsOf(s quotaScope) persist.QuotaLimits {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.limits[s.key()]
}

// actorFor returns the quota actor of a scope, starting it with the
// usage the store holds. The load happens before the actor is known, so
// every settle sent to it afterwards is counted once.
func (q *quotas) actorFor(s quotaScope) (*actor.PID, error) {
	q.mu.RLock()
	pid := q.pids[s.key()]
	q.mu.RUnlock()
	if pid != nil {
		return pid, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if pid := q.pids[s.key()]; pid != nil {
		return pid, nil
	}
	u, err := q.store.QuotaUsage(s.scope, s.id, q.cfg.Now())
	if err != nil {
		return nil, err
	}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &quotaActor{scope: s, usage: u}
	})
	pid, err = q.sys.Root.SpawnNamed(props, "quota/"+s.key())
	if err != nil {
		return nil, err
	}
	q.pids[s.key()] = pid
	return pid, nil
}

// ask sends msg to a scope's actor and returns its error reply.
func (q *quotas) ask(s quotaScope, msg any) (any, error) {
	pid, err := q.actorFor(s)
	if err != nil {
		return nil, err
	}
	res, err := q.sys.Root.RequestFuture(pid, msg, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("quota of %s %s did not answer: %w", s.scope, s.id, err)
	}
	r := res.(quotaReply)
	return r.value, r.err
}

// scopesOf returns the scopes a turn of userID in workspaceID counts
// toward.
func (q *quotas) scopesOf(userID, workspaceID string) []quotaScope {
	out := []quotaScope{{persist.QuotaUser, userID}}
	if workspaceID == "" {
		return out
	}
	out = append(out, quotaScope{persist.QuotaWorkspace, workspaceID})
	if ws, err := q.store.Workspace(workspaceID); err == nil && ws.OrganizationID != "" {
		out = append(out, quotaScope{persist.QuotaOrganization, ws.OrganizationID})
	}
	return out
}

// admitRequest counts an API request against the user's
// requests_per_minute.
func (q *quotas) admitRequest(userID string) error {
	s := quotaScope{persist.QuotaUser, userID}
	l := q.limitsOf(s)
	if l.RequestsPerMinute == 0 {
		return nil
	}
	_, err := q.ask(s, &quotaAdmit{limits: l, now: q.cfg.Now(), request: true})
	return err
}

// admitTurn takes a turn slot in every limited scope of the turn, after
// checking their token windows, concurrent turns and (for workspaces and
// organizations) requests per minute. It returns the function that frees
// the slots.
func (q *quotas) admitTurn(userID, workspaceID string) (func(), error) {
	var taken []quotaScope
	release := func() {
		for _, s := range taken {
			if pid, err := q.actorFor(s); err == nil {
				q.sys.Root.Send(pid, quotaEndTurn{})
			}
		}
	}
	q.mu.RLock()
	none := len(q.limits) == 0
	q.mu.RUnlock()
	if none {
		return func() {}, nil // the common case costs no store read
	}
	now := q.cfg.Now()
	for _, s := range q.scopesOf(userID, workspaceID) {
		l := q.limitsOf(s)
		if l.Unlimited() {
			continue
		}
		_, err := q.ask(s, &quotaAdmit{limits: l, now: now, turn: true, request: s.scope != persist.QuotaUser})
		if err != nil {
			release()
			return nil, err
		}
		taken = append(taken, s)
	}
	var once sync.Once
	return func() { once.Do(release) }, nil
}

// hasTokenLimit reports whether a scope's token limits apply.
func hasTokenLimit(l persist.QuotaLimits) bool { return l.TokensPerDay > 0 || l.TokensPerMonth > 0 }

// reserve reserves n tokens in every scope of scopes whose token limits
// apply, all or nothing, and returns those it reserved in. A scope whose
// window is spent refuses at once (an *agent.QuotaError). One whose rest
// is held by calls in flight makes it release what it reserved (so that no
// call holds one scope while it waits for another) and try again after a
// short, growing wait, until ctx ends or Config.Quotas.ReserveWait passed.
func (q *quotas) reserve(ctx context.Context, scopes []quotaScope, n int64) ([]quotaScope, error) {
	deadline := time.Now().Add(q.cfg.ReserveWait)
	wait := time.Millisecond
	for {
		held, busy, err := q.tryReserve(scopes, n)
		if err != nil || busy == nil {
			return held, err
		}
		if time.Now().After(deadline) {
			return nil, &agent.QuotaError{Scope: busy.scope, ID: busy.id, Limit: persist.LimitTokensPerDay,
				Max: q.limitsOf(*busy).TokensPerDay, RetryAfter: time.Second}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// tryReserve makes one attempt of reserve: on a refusal or a busy scope
// it releases what it reserved.
func (q *quotas) tryReserve(scopes []quotaScope, n int64) (held []quotaScope, busy *quotaScope, err error) {
	now := q.cfg.Now()
	release := func() {
		for _, h := range held {
			if pid, err := q.actorFor(h); err == nil {
				q.sys.Root.Send(pid, quotaSettle{reserved: n, now: now})
			}
		}
	}
	for _, s := range scopes {
		l := q.limitsOf(s)
		if !hasTokenLimit(l) {
			continue
		}
		v, err := q.ask(s, &quotaReserve{limits: l, n: n, now: now})
		if err != nil {
			release()
			return nil, nil, err
		}
		if _, ok := v.(quotaBusy); ok {
			release()
			return nil, &s, nil
		}
		held = append(held, s)
	}
	return held, nil, nil
}

// settleCall ends a call: the reservations in held are released and the
// used tokens counted by the actor of every limited scope (held or not)
// and recorded durably for every scope.
func (q *quotas) settleCall(scopes, held []quotaScope, n, used int64, now time.Time) {
	var deltas []persist.UsageDelta
	for _, s := range scopes {
		reserved := int64(0)
		for _, h := range held {
			if h == s {
				reserved = n
			}
		}
		if reserved > 0 || !q.limitsOf(s).Unlimited() {
			if pid, err := q.actorFor(s); err == nil {
				q.sys.Root.Send(pid, quotaSettle{reserved: reserved, used: used, now: now})
			}
		}
		if used > 0 {
			deltas = append(deltas, persist.UsageDelta{Scope: s.scope, ID: s.id, At: now, Tokens: used})
		}
	}
	if len(deltas) > 0 {
		q.store.AddQuotaUsage(deltas, func(err error) {
			if err != nil {
				q.log.Debug("record quota usage", "err", err)
			}
		})
	}
}

// view returns a scope's limits and usage: its actor's counters if it has
// limits, else the stored usage.
func (q *quotas) view(s quotaScope) (QuotaView, error) {
	v := QuotaView{Scope: s.scope, ID: s.id, Limits: q.limitsOf(s)}
	now := q.cfg.Now()
	if !v.Limits.Unlimited() {
		res, err := q.ask(s, quotaState{now: now})
		if err != nil {
			return v, err
		}
		v.Usage = res.(QuotaUsage)
	} else {
		u, err := q.store.QuotaUsage(s.scope, s.id, now)
		if err != nil {
			return v, err
		}
		v.Usage.TokensToday, v.Usage.TokensThisMonth = u.DayTokens, u.MonthTokens
	}
	n, err := q.store.StoredBytes(s.scope, s.id)
	v.Usage.StoredBytes = n
	return v, err
}

// Messages of a quota actor. Each request is answered with a quotaReply.
type (
	// quotaAdmit admits a turn (checking tokens and concurrent turns, and
	// taking a slot) and/or a request (checking and counting it).
	quotaAdmit struct {
		limits  persist.QuotaLimits
		now     time.Time
		turn    bool
		request bool
	}
	// quotaReserve reserves n tokens for a model call; the reply's value
	// is quotaBusy when calls in flight hold what is left.
	quotaReserve struct {
		limits persist.QuotaLimits
		n      int64
		now    time.Time
	}
	// quotaSettle (no reply) releases a reservation and counts used tokens.
	quotaSettle struct {
		reserved, used int64
		now            time.Time
	}
	// quotaEndTurn (no reply) frees a turn slot.
	quotaEndTurn struct{}
	// quotaBusy answers a reservation that must wait.
	quotaBusy struct{}
	// quotaState asks for the counters (a QuotaUsage).
	quotaState struct{ now time.Time }
	quotaReply struct {
		value any
		err   error
	}
)

// quotaActor owns the counters of one scope.
type quotaActor struct {
	scope    quotaScope
	usage    persist.QuotaUsage
	reserved int64
	running  int64
	minute   int64 // Unix minute of requests
	requests int64
}

// Receive implements actor.Actor.
func (a *quotaActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *quotaAdmit:
		c.Respond(quotaReply{err: a.admit(m)})
	case *quotaReserve:
		v, err := a.reserve(m)
		c.Respond(quotaReply{value: v, err: err})
	case quotaSettle:
		a.roll(m.now)
		a.reserved = max(0, a.reserved-m.reserved)
		a.usage.DayTokens += m.used
		a.usage.MonthTokens += m.used
	case quotaEndTurn:
		a.running = max(0, a.running-1)
	case quotaState:
		a.roll(m.now)
		c.Respond(quotaReply{value: QuotaUsage{
			RequestsThisMinute: a.requests, TokensToday: a.usage.DayTokens, TokensThisMonth: a.usage.MonthTokens,
			ReservedTokens: a.reserved, RunningTurns: a.running,
		}})
	}
}

// roll starts new windows when now is past the current ones.
func (a *quotaActor) roll(now time.Time) {
	a.usage = a.usage.At(now)
	if m := now.Unix() / 60; m != a.minute {
		a.minute, a.requests = m, 0
	}
}

func (a *quotaActor) refuse(limit string, max, used int64, retry time.Duration) error {
	return &agent.QuotaError{Scope: a.scope.scope, ID: a.scope.id, Limit: limit, Max: max, Used: used, RetryAfter: retry}
}

// tokensSpent refuses when the tokens used in a window reached its limit:
// nothing but the next window can admit a call.
func (a *quotaActor) tokensSpent(l persist.QuotaLimits, now time.Time) error {
	now = now.UTC()
	if l.TokensPerDay > 0 && a.usage.DayTokens >= l.TokensPerDay {
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		return a.refuse(persist.LimitTokensPerDay, l.TokensPerDay, a.usage.DayTokens, next.Sub(now))
	}
	if l.TokensPerMonth > 0 && a.usage.MonthTokens >= l.TokensPerMonth {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return a.refuse(persist.LimitTokensPerMonth, l.TokensPerMonth, a.usage.MonthTokens, next.Sub(now))
	}
	return nil
}

// tokensHeld reports whether the calls in flight hold what is left of a
// window: a new reservation must wait for them to settle.
func (a *quotaActor) tokensHeld(l persist.QuotaLimits) bool {
	return (l.TokensPerDay > 0 && a.usage.DayTokens+a.reserved >= l.TokensPerDay) ||
		(l.TokensPerMonth > 0 && a.usage.MonthTokens+a.reserved >= l.TokensPerMonth)
}

func (a *quotaActor) admit(m *quotaAdmit) error {
	a.roll(m.now)
	l := m.limits
	if m.turn {
		if err := a.tokensSpent(l, m.now); err != nil {
			return err
		}
		if l.ConcurrentTurns > 0 && a.running >= l.ConcurrentTurns {
			return a.refuse(persist.LimitConcurrentTurns, l.ConcurrentTurns, a.running, time.Second)
		}
	}
	if m.request && l.RequestsPerMinute > 0 && a.requests >= l.RequestsPerMinute {
		next := time.Unix((a.minute+1)*60, 0)
		return a.refuse(persist.LimitRequestsPerMinute, l.RequestsPerMinute, a.requests, next.Sub(m.now))
	}
	if m.turn {
		a.running++
	}
	if m.request {
		a.requests++
	}
	return nil
}

// reserve grants a reservation while the used and reserved tokens are
// below the limits, refuses it once the used ones reached them, and in
// between answers quotaBusy: the caller retries after calls in flight
// settled.
func (a *quotaActor) reserve(m *quotaReserve) (any, error) {
	a.roll(m.now)
	if err := a.tokensSpent(m.limits, m.now); err != nil {
		return nil, err
	}
	if a.tokensHeld(m.limits) {
		return quotaBusy{}, nil
	}
	a.reserved += m.n
	return nil, nil
}

// quotaSelector wraps the selector the turn runner uses, so that every
// model call of a turn is accounted.
type quotaSelector struct {
	inner provider.Selector
	q     *quotas
}

// Select implements provider.Selector. Calls selected without a turn's
// scope (model checks) are not wrapped.
func (s quotaSelector) Select(ctx context.Context, userID, settingID, model string) (provider.Provider, string, error) {
	prov, id, err := s.inner.Select(ctx, userID, settingID, model)
	if err != nil {
		return prov, id, err
	}
	ts, ok := agent.TurnScopeFrom(ctx)
	if !ok {
		return prov, id, nil
	}
	return quotaProvider{inner: prov, q: s.q, scopes: s.q.scopesOf(ts.UserID, ts.WorkspaceID)}, id, nil
}

// quotaProvider reserves before each call and settles after it.
type quotaProvider struct {
	inner  provider.Provider
	q      *quotas
	scopes []quotaScope
}

// Stream implements provider.Provider.
func (p quotaProvider) Stream(ctx context.Context, req agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	limited := false
	for _, s := range p.scopes {
		if hasTokenLimit(p.q.limitsOf(s)) {
			limited = true
			break
		}
	}
	var held []quotaScope
	var est int64
	if limited {
		if req.MaxTokens <= 0 {
			req.MaxTokens = p.q.cfg.ReserveTokens // req is a copy; its messages are not touched
		}
		est = int64(req.MaxTokens) + inputBound(req)
		var err error
		if held, err = p.q.reserve(ctx, p.scopes, est); err != nil {
			return agent.ModelResponse{}, err
		}
	}
	resp, err := p.inner.Stream(ctx, req, emit)
	used := max(0, resp.Usage.InputTokens) + max(0, resp.Usage.OutputTokens)
	p.q.settleCall(p.scopes, held, est, used, p.q.cfg.Now())
	return resp, err
}

// inputBound bounds the input tokens of a call from above: one token per
// two bytes of text (a word needs a byte and a separator; byte-level
// tokenizers never make more than one token per byte pair of prose).
func inputBound(req agent.ModelRequest) int64 {
	n := half(len(req.System))
	for _, m := range req.Messages {
		for _, b := range m.Content {
			n += half(len(b.Text)) + half(len(b.Input)) + half(len(b.Content)) + half(len(b.Name))
		}
	}
	for _, t := range req.Tools {
		n += half(len(t.Name)) + half(len(t.Description)) + half(len(t.InputSchema))
	}
	return n
}

func half(n int) int64 { return int64(n+1) / 2 }

// AdmitRequest counts an API request of userID against their
// requests_per_minute, refusing it with an *agent.QuotaError at the limit.
// Without that limit it costs a map lookup.
func (h *Host) AdmitRequest(userID string) error {
	return h.quotas.admitRequest(userID)
}

// Quotas returns the limits and usage that apply to userID: their own,
// and, with workspaceID, the workspace's and its organization's.
func (h *Host) Quotas(_ context.Context, userID, workspaceID string) ([]QuotaView, error) {
	scopes := []quotaScope{{persist.QuotaUser, userID}}
	if workspaceID != "" {
		if err := h.member(userID, workspaceID, persist.WorkspaceViewer); err != nil {
			return nil, err
		}
		scopes = h.quotas.scopesOf(userID, workspaceID)
	}
	out := make([]QuotaView, 0, len(scopes))
	for _, s := range scopes {
		v, err := h.quotas.view(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// checkQuotaScope validates a scope and id named by a server admin.
func checkQuotaScope(scope, id string) error {
	prefix := map[string]string{
		persist.QuotaUser: agent.PrefixUser, persist.QuotaWorkspace: agent.PrefixWorkspace,
		persist.QuotaOrganization: agent.PrefixOrg,
	}[scope]
	if prefix == "" {
		return fmt.Errorf("%w: scope must be user, workspace or organization", agent.ErrInvalid)
	}
	if !agent.ValidID(prefix, id) {
		return fmt.Errorf("%w: %s %s", agent.ErrNotFound, scope, id)
	}
	return nil
}

// GetQuota returns a scope's limits and usage (for server admins).
func (h *Host) GetQuota(_ context.Context, scope, id string) (QuotaView, error) {
	if err := checkQuotaScope(scope, id); err != nil {
		return QuotaView{}, err
	}
	if _, err := h.cfg.Store.QuotaLimits(scope, id); err != nil {
		return QuotaView{}, err
	}
	return h.quotas.view(quotaScope{scope, id})
}

// SetQuota replaces a scope's limits (for server admins); all zero
// removes them. The scope's user, workspace or organization must exist.
func (h *Host) SetQuota(ctx context.Context, actorID, scope, id string, l persist.QuotaLimits) (QuotaView, error) {
	if err := checkQuotaScope(scope, id); err != nil {
		return QuotaView{}, err
	}
	if l.RequestsPerMinute < 0 || l.TokensPerDay < 0 || l.TokensPerMonth < 0 || l.ConcurrentTurns < 0 || l.StoredBytes < 0 {
		return QuotaView{}, fmt.Errorf("%w: limits must not be negative (0 is unlimited)", agent.ErrInvalid)
	}
	l.UpdatedBy, l.UpdatedAt = actorID, time.Time{}
	stored, err := h.cfg.Store.SetQuotaLimits(ctx, scope, id, l)
	if errors.Is(err, persist.ErrNotFound) {
		return QuotaView{}, fmt.Errorf("%w: %s %s", agent.ErrNotFound, scope, id)
	}
	if err != nil {
		return QuotaView{}, err
	}
	s := quotaScope{scope, id}
	h.quotas.mu.Lock()
	if stored.Unlimited() {
		delete(h.quotas.limits, s.key())
	} else {
		h.quotas.limits[s.key()] = stored
	}
	h.quotas.mu.Unlock()
	return h.quotas.view(s)
}
