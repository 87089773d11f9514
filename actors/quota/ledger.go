package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/actors/tenancy"
	"github.com/seshat-host/seshat/persist"
)

// Config configures a Ledger.
type Config struct {
	// Store keeps the limits and the durable usage. Required.
	Store *persist.Store
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
	// MaxTurnsPerUser is the default concurrent_turns of a user scope
	// without its own: past it a turn is agent.ErrTooManyTurns. If zero,
	// 256.
	MaxTurnsPerUser int
	// MaxStreamsPerUser caps a user's open streams
	// (agent.ErrTooManyStreams). If zero, 1024. It never exceeds a
	// sixteenth of MaxStreams (at least 1): no fewer than 16 users can
	// fill the global cap.
	MaxStreamsPerUser int
	// MaxStreams caps the open streams of all users together. If zero,
	// 50000.
	MaxStreams int
	// Logger receives the ledger's few logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// fairShare is how many users at their stream cap it takes at least to
// fill the global one.
const fairShare = 16

func (c Config) withDefaults() Config {
	if c.ReserveTokens <= 0 {
		c.ReserveTokens = 4096
	}
	if c.ReserveWait <= 0 {
		c.ReserveWait = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxTurnsPerUser <= 0 {
		c.MaxTurnsPerUser = 256
	}
	if c.MaxStreamsPerUser <= 0 {
		c.MaxStreamsPerUser = 1024
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 50000
	}
	c.MaxStreamsPerUser = min(c.MaxStreamsPerUser, max(1, c.MaxStreams/fairShare))
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Usage is what a scope uses of its limits now.
type Usage struct {
	RequestsThisMinute int64
	TokensToday        int64
	TokensThisMonth    int64
	// ReservedTokens are held by model calls in flight.
	ReservedTokens int64
	RunningTurns   int64
	StoredBytes    int64
}

// View is a scope's limits and usage.
type View struct {
	Scope  string
	ID     string
	Limits persist.QuotaLimits
	Usage  Usage
}

// Scope names one scope: Kind is persist.QuotaUser, QuotaWorkspace or
// QuotaOrganization.
type Scope struct{ Kind, ID string }

// counter is the state of one scope.
type counter struct {
	// usage is loaded from the store when the scope first has limits;
	// until then (loaded false) tokens are only recorded durably.
	usage    persist.QuotaUsage
	loaded   bool
	reserved int64
	running  int64
	streams  int64
	minute   int64 // Unix minute of requests
	requests int64
}

// idle reports whether c holds nothing a scope without limits needs kept.
func (c *counter) idle() bool {
	return !c.loaded && c.reserved == 0 && c.running == 0 && c.streams == 0
}

// Ledger is the one owner of the quota state: limits, token usage and
// reservations, running turns and open streams per scope. It is safe for
// concurrent use.
//
// Lock order: mu guards limits, counters and the totals; it is held across
// a store read only when a scope with limits loads its usage, and never
// while calling anything else.
type Ledger struct {
	cfg    Config
	store  *persist.Store
	access *tenancy.Access
	log    *slog.Logger

	mu       sync.Mutex
	limits   map[Scope]persist.QuotaLimits // guarded by mu; scopes with limits
	counters map[Scope]*counter            // guarded by mu
	turns    int64                         // guarded by mu; running turns of all scopes' users
	streams  int64                         // guarded by mu; open streams of all users
}

// New loads the stored limits and returns a Ledger. It starts nothing.
func New(cfg Config) (*Ledger, error) {
	if cfg.Store == nil {
		return nil, errors.New("quota: Store is required")
	}
	cfg = cfg.withDefaults()
	l := &Ledger{
		cfg: cfg, store: cfg.Store, access: tenancy.NewAccess(cfg.Store), log: cfg.Logger.With("component", "quotas"),
		limits: map[Scope]persist.QuotaLimits{}, counters: map[Scope]*counter{},
	}
	all, err := cfg.Store.AllQuotaLimits()
	if err != nil {
		return nil, err
	}
	for _, q := range all {
		l.limits[Scope{q.Scope, q.ID}] = q.Limits
	}
	return l, nil
}

// Forget drops the limits of a scope the store deleted with its subject
// (a workspace, an organization).
func (l *Ledger) Forget(kind, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Scope{kind, id}
	delete(l.limits, s)
	if c := l.counters[s]; c != nil && c.reserved == 0 && c.running == 0 && c.streams == 0 {
		delete(l.counters, s)
	}
}

// counterLocked returns the counter of s, creating it; with limits, its
// usage is loaded from the store first. l.mu must be held.
func (l *Ledger) counterLocked(s Scope) (*counter, error) {
	c := l.counters[s]
	if c == nil {
		c = &counter{}
		l.counters[s] = c
	}
	if !c.loaded && !l.limits[s].Unlimited() {
		u, err := l.store.QuotaUsage(s.Kind, s.ID, l.cfg.Now())
		if err != nil {
			if c.idle() {
				delete(l.counters, s)
			}
			return nil, err
		}
		c.usage, c.loaded = u, true
	}
	return c, nil
}

// dropIdleLocked forgets the counter of s if nothing needs it. l.mu must
// be held.
func (l *Ledger) dropIdleLocked(s Scope) {
	if c := l.counters[s]; c != nil && c.idle() && l.limits[s].Unlimited() {
		delete(l.counters, s)
	}
}

// ScopesOf returns the scopes a turn of userID in workspaceID counts
// toward: the user, the workspace and its organization, if any.
func (l *Ledger) ScopesOf(userID, workspaceID string) []Scope {
	out := []Scope{{persist.QuotaUser, userID}}
	if workspaceID == "" {
		return out
	}
	out = append(out, Scope{persist.QuotaWorkspace, workspaceID})
	if ws, err := l.store.Workspace(workspaceID); err == nil && ws.OrganizationID != "" {
		out = append(out, Scope{persist.QuotaOrganization, ws.OrganizationID})
	}
	return out
}

// AdmitRequest counts an API request of userID against their
// requests_per_minute, refusing it with an *agent.QuotaError at the limit.
// Without that limit it costs a map lookup.
func (l *Ledger) AdmitRequest(userID string) error {
	s := Scope{persist.QuotaUser, userID}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limits[s]
	if lim.RequestsPerMinute == 0 {
		return nil
	}
	c, err := l.counterLocked(s)
	if err != nil {
		return err
	}
	now := l.cfg.Now()
	c.roll(now)
	if c.requests >= lim.RequestsPerMinute {
		return refuse(s, persist.LimitRequestsPerMinute, lim.RequestsPerMinute, c.requests, time.Unix((c.minute+1)*60, 0).Sub(now))
	}
	c.requests++
	return nil
}

// Lease is a turn's or a stream's hold on the ledger: taken whole by
// Turn or Stream, given back whole by Release.
type Lease struct {
	l      *Ledger
	scopes []Scope
	turn   bool
	once   sync.Once
}

// Scopes are the scopes the lease counts toward, user first.
func (ls *Lease) Scopes() []Scope { return ls.scopes }

// Release gives back what the lease holds. It is idempotent: only the
// first call does anything.
func (ls *Lease) Release() {
	if ls == nil {
		return
	}
	ls.once.Do(func() {
		l := ls.l
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range ls.scopes {
			c := l.counters[s]
			if c == nil {
				continue
			}
			if ls.turn {
				c.running = max(0, c.running-1)
			} else {
				c.streams = max(0, c.streams-1)
			}
			l.dropIdleLocked(s)
		}
		if ls.turn {
			l.turns--
		} else {
			l.streams--
		}
	})
}

// Turn admits a turn of userID in workspaceID and returns its lease. It
// refuses, taking nothing, when a token window of one of the turn's
// scopes is spent, a concurrent_turns limit is reached (the user's
// default is Config.MaxTurnsPerUser, which refuses with
// agent.ErrTooManyTurns), or a workspace's or organization's
// requests_per_minute is.
func (l *Ledger) Turn(userID, workspaceID string) (*Lease, error) {
	scopes := l.ScopesOf(userID, workspaceID)
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := make([]*counter, len(scopes))
	for i, s := range scopes {
		c, err := l.counterLocked(s)
		if err != nil {
			l.dropAllIdleLocked(scopes)
			return nil, err
		}
		cs[i] = c
		lim := l.limits[s]
		c.roll(now)
		err = tokensSpent(s, c, lim, now)
		if err == nil && lim.ConcurrentTurns > 0 && c.running >= lim.ConcurrentTurns {
			err = refuse(s, persist.LimitConcurrentTurns, lim.ConcurrentTurns, c.running, time.Second)
		}
		if err == nil && s.Kind == persist.QuotaUser && lim.ConcurrentTurns == 0 && c.running >= int64(l.cfg.MaxTurnsPerUser) {
			err = fmt.Errorf("%w: at most %d running turns per user", agent.ErrTooManyTurns, l.cfg.MaxTurnsPerUser)
		}
		if err == nil && s.Kind != persist.QuotaUser && lim.RequestsPerMinute > 0 && c.requests >= lim.RequestsPerMinute {
			err = refuse(s, persist.LimitRequestsPerMinute, lim.RequestsPerMinute, c.requests, time.Unix((c.minute+1)*60, 0).Sub(now))
		}
		if err != nil {
			l.dropAllIdleLocked(scopes)
			return nil, err
		}
	}
	for i, s := range scopes {
		cs[i].running++
		if s.Kind != persist.QuotaUser && l.limits[s].RequestsPerMinute > 0 {
			cs[i].requests++
		}
	}
	l.turns++
	return &Lease{l: l, scopes: scopes, turn: true}, nil
}

// Stream admits an open stream of userID and returns its lease, or
// agent.ErrTooManyStreams past Config.MaxStreamsPerUser or MaxStreams.
func (l *Ledger) Stream(userID string) (*Lease, error) {
	s := Scope{persist.QuotaUser, userID}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counters[s]
	if c == nil {
		c = &counter{}
		l.counters[s] = c
	}
	if c.streams >= int64(l.cfg.MaxStreamsPerUser) || l.streams >= int64(l.cfg.MaxStreams) {
		l.dropIdleLocked(s)
		return nil, fmt.Errorf("%w: at most %d open streams per user", agent.ErrTooManyStreams, l.cfg.MaxStreamsPerUser)
	}
	c.streams++
	l.streams++
	return &Lease{l: l, scopes: []Scope{s}}, nil
}

func (l *Ledger) dropAllIdleLocked(scopes []Scope) {
	for _, s := range scopes {
		l.dropIdleLocked(s)
	}
}

// RunningTurns and OpenStreams are the ledger's totals, for the gauges.
func (l *Ledger) RunningTurns() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.turns)
}

// OpenStreams is the number of open streams of all users.
func (l *Ledger) OpenStreams() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.streams)
}

// roll starts new windows when now is past the current ones.
func (c *counter) roll(now time.Time) {
	if c.loaded {
		c.usage = c.usage.At(now)
	}
	if m := now.Unix() / 60; m != c.minute {
		c.minute, c.requests = m, 0
	}
}

func refuse(s Scope, limit string, max, used int64, retry time.Duration) error {
	return &agent.QuotaError{Scope: s.Kind, ID: s.ID, Limit: limit, Max: max, Used: used, RetryAfter: retry}
}

// tokensSpent refuses when the tokens used in a window reached its limit:
// nothing but the next window can admit a call.
func tokensSpent(s Scope, c *counter, l persist.QuotaLimits, now time.Time) error {
	now = now.UTC()
	if l.TokensPerDay > 0 && c.usage.DayTokens >= l.TokensPerDay {
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		return refuse(s, persist.LimitTokensPerDay, l.TokensPerDay, c.usage.DayTokens, next.Sub(now))
	}
	if l.TokensPerMonth > 0 && c.usage.MonthTokens >= l.TokensPerMonth {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return refuse(s, persist.LimitTokensPerMonth, l.TokensPerMonth, c.usage.MonthTokens, next.Sub(now))
	}
	return nil
}

// tokensHeld reports whether the calls in flight hold what is left of a
// window: a new reservation must wait for them to settle.
func tokensHeld(c *counter, l persist.QuotaLimits) bool {
	return (l.TokensPerDay > 0 && c.usage.DayTokens+c.reserved >= l.TokensPerDay) ||
		(l.TokensPerMonth > 0 && c.usage.MonthTokens+c.reserved >= l.TokensPerMonth)
}

// hasTokenLimit reports whether a scope's token limits apply.
func hasTokenLimit(l persist.QuotaLimits) bool { return l.TokensPerDay > 0 || l.TokensPerMonth > 0 }

// reserve reserves n tokens in every scope of scopes whose token limits
// apply, all or nothing, and returns those it reserved in. A scope whose
// window is spent refuses at once (an *agent.QuotaError). One whose rest
// is held by calls in flight makes it try again after a short, growing
// wait, until ctx ends or Config.ReserveWait passed.
func (l *Ledger) reserve(ctx context.Context, scopes []Scope, n int64) ([]Scope, error) {
	deadline := time.Now().Add(l.cfg.ReserveWait)
	wait := time.Millisecond
	for {
		held, busy, err := l.tryReserve(scopes, n)
		if err != nil || busy == nil {
			return held, err
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			max := l.limits[*busy].TokensPerDay
			l.mu.Unlock()
			return nil, &agent.QuotaError{Scope: busy.Kind, ID: busy.ID, Limit: persist.LimitTokensPerDay, Max: max, RetryAfter: time.Second}
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

// tryReserve makes one attempt of reserve under the lock: all of the
// limited scopes or none.
func (l *Ledger) tryReserve(scopes []Scope, n int64) (held []Scope, busy *Scope, err error) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var cs []*counter
	for _, s := range scopes {
		lim := l.limits[s]
		if !hasTokenLimit(lim) {
			continue
		}
		c, err := l.counterLocked(s)
		if err != nil {
			return nil, nil, err
		}
		c.roll(now)
		if err := tokensSpent(s, c, lim, now); err != nil {
			return nil, nil, err
		}
		if tokensHeld(c, lim) {
			return nil, &s, nil
		}
		held, cs = append(held, s), append(cs, c)
	}
	for _, c := range cs {
		c.reserved += n
	}
	return held, nil, nil
}

// settle ends a call: the reservations in held are released, the used
// tokens counted in every scope whose usage is loaded and recorded
// durably for every scope.
func (l *Ledger) settle(scopes, held []Scope, n, used int64) {
	now := l.cfg.Now()
	var deltas []persist.UsageDelta
	l.mu.Lock()
	for _, s := range scopes {
		c := l.counters[s]
		if c != nil {
			c.roll(now)
			for _, h := range held {
				if h == s {
					c.reserved = max(0, c.reserved-n)
				}
			}
			if c.loaded {
				c.usage.DayTokens += used
				c.usage.MonthTokens += used
			}
			l.dropIdleLocked(s)
		}
		if used > 0 {
			deltas = append(deltas, persist.UsageDelta{Scope: s.Kind, ID: s.ID, At: now, Tokens: used})
		}
	}
	l.mu.Unlock()
	if len(deltas) > 0 {
		l.store.AddQuotaUsage(deltas, func(err error) {
			if err != nil {
				l.log.Debug("record quota usage", "err", err)
			}
		})
	}
}

// Meter returns prov with every call accounted to scopes: before a call
// its estimate is reserved in every scope whose token limits apply, after
// it the actual usage is settled and recorded.
func (l *Ledger) Meter(scopes []Scope, prov provider.Provider) provider.Provider {
	return &meter{inner: prov, l: l, scopes: scopes}
}

// meter reserves before each call and settles after it.
type meter struct {
	inner  provider.Provider
	l      *Ledger
	scopes []Scope
}

// Stream implements provider.Provider. Its frame stays small: the turn's
// goroutine waits for the model below it, so the work before the call is
// in reserve.
func (p *meter) Stream(ctx context.Context, req *agent.ModelRequest, emit func(agent.ModelChunk)) (agent.ModelResponse, error) {
	req, held, est, err := p.reserve(ctx, req)
	if err != nil {
		return agent.ModelResponse{}, err
	}
	resp, err := p.inner.Stream(ctx, req, emit)
	p.l.settle(p.scopes, held, est, max(0, resp.Usage.InputTokens)+max(0, resp.Usage.OutputTokens))
	return resp, err
}

// reserve reserves a call's estimate in the scopes whose token limits
// apply, if any does, and returns the request to send: req itself, or a
// copy capped at the reserved output when req leaves its output open
// (req is the caller's, and must not be modified).
func (p *meter) reserve(ctx context.Context, req *agent.ModelRequest) (*agent.ModelRequest, []Scope, int64, error) {
	limited := false
	p.l.mu.Lock()
	for _, s := range p.scopes {
		if hasTokenLimit(p.l.limits[s]) {
			limited = true
			break
		}
	}
	p.l.mu.Unlock()
	if !limited {
		return req, nil, 0, nil
	}
	if req.MaxTokens <= 0 {
		capped := *req
		capped.MaxTokens = p.l.cfg.ReserveTokens
		req = &capped
	}
	est := int64(req.MaxTokens) + inputBound(req)
	held, err := p.l.reserve(ctx, p.scopes, est)
	return req, held, est, err
}

// inputBound bounds the input tokens of a call from above: one token per
// two bytes of text (a word needs a byte and a separator; byte-level
// tokenizers never make more than one token per byte pair of prose).
func inputBound(req *agent.ModelRequest) int64 {
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

// view returns a scope's limits and usage: the ledger's counters if its
// usage is loaded, else the stored usage.
func (l *Ledger) view(s Scope) (View, error) {
	now := l.cfg.Now()
	l.mu.Lock()
	v := View{Scope: s.Kind, ID: s.ID, Limits: l.limits[s]}
	var loaded bool
	if !v.Limits.Unlimited() {
		c, err := l.counterLocked(s)
		if err != nil {
			l.mu.Unlock()
			return v, err
		}
		c.roll(now)
		v.Usage = Usage{RequestsThisMinute: c.requests, TokensToday: c.usage.DayTokens, TokensThisMonth: c.usage.MonthTokens,
			ReservedTokens: c.reserved, RunningTurns: c.running}
		loaded = true
	}
	l.mu.Unlock()
	if !loaded {
		u, err := l.store.QuotaUsage(s.Kind, s.ID, now)
		if err != nil {
			return v, err
		}
		v.Usage.TokensToday, v.Usage.TokensThisMonth = u.DayTokens, u.MonthTokens
	}
	n, err := l.store.StoredBytes(s.Kind, s.ID)
	v.Usage.StoredBytes = n
	return v, err
}

// Quotas returns the limits and usage that apply to userID: their own,
// and, with workspaceID (where they need a role), the workspace's and its
// organization's.
func (l *Ledger) Quotas(ctx context.Context, userID, workspaceID string) ([]View, error) {
	scopes := []Scope{{persist.QuotaUser, userID}}
	if workspaceID != "" {
		if err := l.access.Authorize(ctx, userID, workspaceID, persist.WorkspaceViewer); err != nil {
			return nil, err
		}
		scopes = l.ScopesOf(userID, workspaceID)
	}
	out := make([]View, 0, len(scopes))
	for _, s := range scopes {
		v, err := l.view(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// checkScope validates a scope and id named by a server admin.
func checkScope(scope, id string) error {
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
func (l *Ledger) GetQuota(_ context.Context, scope, id string) (View, error) {
	if err := checkScope(scope, id); err != nil {
		return View{}, err
	}
	if _, err := l.store.QuotaLimits(scope, id); err != nil {
		return View{}, err
	}
	return l.view(Scope{scope, id})
}

// SetQuota replaces a scope's limits (for server admins); all zero
// removes them. The scope's user, workspace or organization must exist.
func (l *Ledger) SetQuota(ctx context.Context, actorID, scope, id string, lim persist.QuotaLimits) (View, error) {
	if err := checkScope(scope, id); err != nil {
		return View{}, err
	}
	if lim.RequestsPerMinute < 0 || lim.TokensPerDay < 0 || lim.TokensPerMonth < 0 || lim.ConcurrentTurns < 0 || lim.StoredBytes < 0 {
		return View{}, fmt.Errorf("%w: limits must not be negative (0 is unlimited)", agent.ErrInvalid)
	}
	lim.UpdatedBy, lim.UpdatedAt = actorID, time.Time{}
	stored, err := l.store.SetQuotaLimits(ctx, scope, id, lim)
	if errors.Is(err, persist.ErrNotFound) {
		return View{}, fmt.Errorf("%w: %s %s", agent.ErrNotFound, scope, id)
	}
	if err != nil {
		return View{}, err
	}
	s := Scope{scope, id}
	l.mu.Lock()
	if stored.Unlimited() {
		delete(l.limits, s)
	} else {
		l.limits[s] = stored
	}
	l.mu.Unlock()
	return l.view(s)
}
