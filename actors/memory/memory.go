package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// Limits and the similarity rule.
const (
	// MaxContentRunes caps a memory's content.
	MaxContentRunes = 2000
	// RecallLimit is how many memories a turn recalls.
	RecallLimit = 5
	// NearDuplicate is the similarity at or above which a candidate
	// repeats an active memory: the Jaccard index of their term sets
	// (persist.MemoryTerms), provided the terms they do not share hold no
	// digit (a changed number is never a repeat).
	NearDuplicate = 0.9
	// similarPostings caps the postings one term of a duplicate check
	// reads, which keeps an add's cost independent of how many memories
	// the owner holds.
	similarPostings = 2000
	// similarCandidates is how many search hits a duplicate check compares.
	similarCandidates = 5
)

// Operations of the update rule.
const (
	OpAdd       = "add"
	OpSupersede = "supersede"
	OpNoop      = "noop"
)

// Origins of a write, for the audit log.
const (
	// OriginAPI writes are audited by the API layer (REST or gRPC).
	OriginAPI = "api"
	// OriginTool writes come from the memory_save tool.
	OriginTool = "tool"
	// OriginExtraction writes come from extraction after a turn.
	OriginExtraction = "extraction"
)

// Conversation is what extraction reads of a session.
type Conversation struct {
	SessionID   string
	WorkspaceID string
	// UserID owns the session (the memories extracted are theirs).
	UserID string
	// Model is the session's "provider:model".
	Model    string
	Messages []agent.Message
}

// Sessions loads a session's conversation for a user who may read it
// (agent.ErrNotFound otherwise).
type Sessions func(ctx context.Context, userID, sessionID string) (Conversation, error)

// Config configures a Service.
type Config struct {
	// Store holds the memories. Required.
	Store *persist.Store
	// Providers selects the model extraction calls. Required.
	Providers provider.Selector
	// Sessions loads conversations for POST /memories/extract. If nil,
	// extraction on demand fails.
	Sessions Sessions
	// Workers caps the extractions that run at once. If zero, 4.
	Workers int
	// QueuePerUser caps a user's waiting extractions; more are dropped
	// (logged) rather than queued without bound. If zero, 32.
	QueuePerUser int
	// ExtractTimeout bounds one extraction's model call. If zero, 2m.
	ExtractTimeout time.Duration
	// Logger receives the service's logs. If nil, they are discarded.
	Logger *slog.Logger
}

// Service runs the memories family: the update rule, recall, the CRUD of
// the API and extraction (extract.go).
type Service struct {
	store    *persist.Store
	sel      provider.Selector
	sessions Sessions
	log      *slog.Logger
	timeout  time.Duration
	perUser  int

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex // guards queues, closed
	queues map[string][]Job
	closed bool
}

// New validates cfg and returns a Service. It starts no goroutine until
// an extraction is queued.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Providers == nil {
		return nil, errors.New("memory: Store and Providers are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.QueuePerUser <= 0 {
		cfg.QueuePerUser = 32
	}
	if cfg.ExtractTimeout <= 0 {
		cfg.ExtractTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		store: cfg.Store, sel: cfg.Providers, sessions: cfg.Sessions,
		log: cfg.Logger.With("component", "memory"), timeout: cfg.ExtractTimeout, perUser: cfg.QueuePerUser,
		ctx: ctx, cancel: cancel, sem: make(chan struct{}, cfg.Workers), queues: map[string][]Job{},
	}, nil
}

// Candidate is a memory proposed for writing, by a caller or a model.
type Candidate struct {
	Content string
	// Kind is fact, preference, instruction or event; fact if empty.
	Kind string
	// Replaces names the memory this one supersedes: its id, or its
	// content (as the mock's "!replaces OLD" gives it).
	Replaces string
}

// Op is what the update rule did (or, in a dry run, would do) with a
// candidate.
type Op struct {
	Op string
	// Memory is the memory added, or the one the candidate repeats.
	Memory persist.Memory
	// Superseded is the memory a supersede replaced.
	Superseded *persist.Memory
	Reason     string
	// existing marks a supersede whose replacement is an active memory
	// already: the old one is linked to it and nothing is added.
	existing bool
}

// Target names where a write goes.
type Target struct {
	// Scope is persist.MemoryScopeUser (default) or MemoryScopeWorkspace.
	Scope string
	// WorkspaceID is the caller's default workspace if empty.
	WorkspaceID string
	Source      *persist.MemorySource
	Origin      string
}

// Save applies the update rule to one candidate: a repeat of an active
// memory is a noop, a candidate that replaces one supersedes it, anything
// else is added. Workspace memories need the editor role.
func (s *Service) Save(ctx context.Context, userID string, t Target, c Candidate) (Op, error) {
	owner, t, err := s.target(userID, t)
	if err != nil {
		return Op{}, err
	}
	if c, err = cleanCandidate(c); err != nil {
		return Op{}, err
	}
	ops, err := s.apply(ctx, userID, owner, t, []Candidate{c}, false)
	if err != nil {
		return Op{}, err
	}
	return ops[0], nil
}

// cleanCandidate trims a candidate and checks its fields.
func cleanCandidate(c Candidate) (Candidate, error) {
	c.Content = strings.TrimSpace(c.Content)
	c.Replaces = strings.TrimSpace(c.Replaces)
	if c.Kind == "" {
		c.Kind = persist.MemoryKindFact
	}
	switch {
	case c.Content == "":
		return c, fmt.Errorf("%w: content is required", agent.ErrInvalid)
	case utf8.RuneCountInString(c.Content) > MaxContentRunes:
		return c, fmt.Errorf("%w: content is longer than %d characters", agent.ErrInvalid, MaxContentRunes)
	case !utf8.ValidString(c.Content) || strings.ContainsFunc(c.Content, isBadRune):
		return c, fmt.Errorf("%w: content holds control characters", agent.ErrInvalid)
	case !persist.ValidMemoryKind(c.Kind):
		return c, fmt.Errorf("%w: kind must be fact, preference, instruction or event", agent.ErrInvalid)
	case len(persist.MemoryTerms(c.Content)) == 0:
		return c, fmt.Errorf("%w: content holds no words", agent.ErrInvalid)
	}
	return c, nil
}

func isBadRune(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }

// target resolves a write's workspace and scope and checks the caller's
// role: their own memories need a role in the workspace, shared ones the
// editor role.
func (s *Service) target(userID string, t Target) (string, Target, error) {
	if t.Scope == "" {
		t.Scope = persist.MemoryScopeUser
	}
	need := persist.WorkspaceViewer
	switch t.Scope {
	case persist.MemoryScopeUser:
	case persist.MemoryScopeWorkspace:
		need = persist.WorkspaceEditor
	default:
		return "", t, fmt.Errorf("%w: scope must be user or workspace", agent.ErrInvalid)
	}
	ws, err := s.workspaceFor(userID, t.WorkspaceID, need)
	if err != nil {
		return "", t, err
	}
	t.WorkspaceID = ws
	return persist.MemoryOwner(t.Scope, ws, userID), t, nil
}

// apply runs the update rule for candidates in one transaction (dry: a
// read transaction that writes nothing). Candidates see the effect of the
// ones before them, so a batch never adds the same fact twice.
func (s *Service) apply(ctx context.Context, userID, owner string, t Target, cands []Candidate, dry bool) ([]Op, error) {
	var ops []Op
	run := func(tx *persist.Tx) error {
		ops = ops[:0]
		var added []persist.Memory // dry runs: what earlier candidates would add
		for _, c := range cands {
			op, err := decide(tx, owner, c, added)
			if err != nil {
				return err
			}
			if op.existing {
				if !dry {
					old, err := tx.SupersedeMemory(op.Superseded.ID, op.Memory.ID, time.Now())
					if err != nil {
						return err
					}
					op.Superseded = &old
				}
			} else if op.Op != OpNoop {
				at := time.Now().UTC().Round(0)
				m := persist.Memory{
					ID: agent.NewID(agent.PrefixMemory), Scope: t.Scope, UserID: userID, WorkspaceID: t.WorkspaceID,
					Content: c.Content, Kind: c.Kind, Status: persist.MemoryActive, Source: t.Source,
					CreatedAt: at, UpdatedAt: at,
				}
				if op.Superseded != nil {
					m.Supersedes = op.Superseded.ID
				}
				if !dry {
					if op.Superseded != nil {
						old, err := tx.SupersedeMemory(op.Superseded.ID, m.ID, at)
						if err != nil {
							return err
						}
						op.Superseded = &old
					}
					if err := tx.AddMemory(m); err != nil {
						return err
					}
				} else {
					added = append(added, m)
				}
				op.Memory = m
			}
			ops = append(ops, op)
		}
		return nil
	}
	var err error
	if dry {
		err = s.store.View(run)
	} else {
		err = s.store.Update(ctx, run)
	}
	if err != nil {
		return nil, err
	}
	if !dry && t.Origin != OriginAPI {
		for _, op := range ops {
			if op.Op != OpNoop {
				s.audit(userID, t, op)
			}
		}
	}
	return ops, nil
}

// decide is the update rule for one candidate against the owner's active
// memories (and, in a dry run, those earlier candidates would add).
func decide(tx *persist.Tx, owner string, c Candidate, pending []persist.Memory) (Op, error) {
	norm := persist.NormalizeMemory(c.Content)
	for _, p := range pending {
		if persist.NormalizeMemory(p.Content) == norm {
			return Op{Op: OpNoop, Memory: p, Reason: "repeats an earlier candidate"}, nil
		}
	}
	var replaced *persist.Memory
	if c.Replaces != "" {
		old, ok, err := replaceTarget(tx, owner, c.Replaces)
		if err != nil {
			return Op{}, err
		}
		if ok {
			if persist.NormalizeMemory(old.Content) == norm {
				return Op{Op: OpNoop, Memory: old, Reason: "the same as the memory it would replace"}, nil
			}
			replaced = &old
		}
	}
	if dup, ok, err := tx.ActiveMemoryByNorm(owner, c.Content); err != nil {
		return Op{}, err
	} else if ok && replaced != nil {
		return Op{Op: OpSupersede, Memory: dup, Superseded: replaced, existing: true,
			Reason: "replaces " + replaced.ID + " with " + dup.ID + ", which already says it"}, nil
	} else if ok {
		return Op{Op: OpNoop, Memory: dup, Reason: "repeats " + dup.ID + " (same normalised text)"}, nil
	}
	if replaced != nil {
		return Op{Op: OpSupersede, Superseded: replaced, Reason: "replaces " + replaced.ID}, nil
	}
	hits, err := tx.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: c.Content, Limit: similarCandidates, MaxPostings: similarPostings})
	if err != nil {
		return Op{}, err
	}
	for _, h := range hits {
		if sim := Similarity(c.Content, h.Memory.Content); sim >= NearDuplicate {
			return Op{Op: OpNoop, Memory: h.Memory, Reason: fmt.Sprintf("repeats %s (similarity %.2f)", h.Memory.ID, sim)}, nil
		}
	}
	reason := "new"
	if c.Replaces != "" {
		reason = "new (the memory it names to replace is not active)"
	}
	return Op{Op: OpAdd, Reason: reason}, nil
}

// replaceTarget finds the active memory a candidate replaces, by id or by
// normalised content, among the owner's.
func replaceTarget(tx *persist.Tx, owner, ref string) (persist.Memory, bool, error) {
	if agent.ValidID(agent.PrefixMemory, ref) {
		m, err := tx.Memory(ref)
		if errors.Is(err, persist.ErrNotFound) {
			return persist.Memory{}, false, nil
		}
		if err != nil {
			return persist.Memory{}, false, err
		}
		return m, m.Owner() == owner && m.Status == persist.MemoryActive, nil
	}
	return tx.ActiveMemoryByNorm(owner, ref)
}

// Similarity is the near-duplicate measure: the Jaccard index of the two
// texts' term sets, or 0 when a term only one of them holds has a digit.
func Similarity(a, b string) float64 {
	sa, sb := map[string]bool{}, map[string]bool{}
	for _, t := range persist.MemoryTerms(a) {
		sa[t] = true
	}
	for _, t := range persist.MemoryTerms(b) {
		sb[t] = true
	}
	inter := 0
	for t := range sa {
		if sb[t] {
			inter++
		} else if strings.ContainsFunc(t, unicode.IsDigit) {
			return 0
		}
	}
	for t := range sb {
		if !sa[t] && strings.ContainsFunc(t, unicode.IsDigit) {
			return 0
		}
	}
	union := len(sa) + len(sb) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// audit records a write that did not come through the HTTP API.
func (s *Service) audit(userID string, t Target, op Op) {
	details := map[string]string{"op": op.Op, "origin": t.Origin, "scope": op.Memory.Scope}
	if op.Superseded != nil {
		details["supersedes"] = op.Superseded.ID
	}
	if t.Source != nil {
		details["session_id"] = t.Source.SessionID
		details["turn_id"] = t.Source.TurnID
	}
	actorType := persist.ActorUser
	if t.Origin == OriginExtraction {
		actorType = persist.ActorSystem
	}
	s.store.AppendAudit(persist.AuditEntry{
		ActorID: userID, ActorType: actorType, Action: "memory." + op.Op, ResourceType: "memory",
		ResourceID: op.Memory.ID, WorkspaceID: op.Memory.WorkspaceID, Outcome: persist.OutcomeSuccess, Details: details,
	}, func(err error) {
		if err != nil {
			s.log.Error("audit a memory write", "memory_id", op.Memory.ID, "err", err)
		}
	})
}

// Get returns a memory the caller may read: their own, or a shared one of
// a workspace they belong to. Anything else is agent.ErrNotFound.
func (s *Service) Get(_ context.Context, userID, id string) (persist.Memory, error) {
	return s.memory(userID, id, persist.WorkspaceViewer)
}

// memory loads a memory for a caller with at least the need role for
// shared memories (a lower role is forbidden); private memories of
// someone else, and any of a workspace the caller has no role in, are not
// found.
func (s *Service) memory(userID, id, need string) (persist.Memory, error) {
	notFound := fmt.Errorf("memory %q: %w", id, agent.ErrNotFound)
	if !agent.ValidID(agent.PrefixMemory, id) {
		return persist.Memory{}, notFound
	}
	m, err := s.store.Memory(id)
	if errors.Is(err, persist.ErrNotFound) {
		return persist.Memory{}, notFound
	}
	if err != nil {
		return persist.Memory{}, err
	}
	if m.Scope == persist.MemoryScopeUser && m.UserID != userID {
		return persist.Memory{}, notFound
	}
	if m.Scope == persist.MemoryScopeUser {
		need = persist.WorkspaceViewer
	}
	if err := s.access(userID, m.WorkspaceID, need); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return persist.Memory{}, notFound
		}
		return persist.Memory{}, err
	}
	return m, nil
}

// Replace makes a new memory with content that supersedes id (PATCH).
// Content equal to the memory's own (normalised) changes nothing and
// returns it; a memory already superseded is agent.ErrConflict.
func (s *Service) Replace(ctx context.Context, userID, id, content string) (persist.Memory, error) {
	m, err := s.memory(userID, id, persist.WorkspaceEditor)
	if err != nil {
		return persist.Memory{}, err
	}
	if m.Status != persist.MemoryActive {
		return persist.Memory{}, fmt.Errorf("%w: memory %s is superseded by %s; change that one", agent.ErrConflict, m.ID, m.SupersededBy)
	}
	c, err := cleanCandidate(Candidate{Content: content, Kind: m.Kind, Replaces: m.ID})
	if err != nil {
		return persist.Memory{}, err
	}
	t := Target{Scope: m.Scope, WorkspaceID: m.WorkspaceID, Origin: OriginAPI}
	ops, err := s.apply(ctx, userID, m.Owner(), t, []Candidate{c}, false)
	if err != nil {
		return persist.Memory{}, err
	}
	return ops[0].Memory, nil
}

// Delete removes a memory for good.
func (s *Service) Delete(ctx context.Context, userID, id string) error {
	if _, err := s.memory(userID, id, persist.WorkspaceEditor); err != nil {
		return err
	}
	err := s.store.Update(ctx, func(tx *persist.Tx) error { return tx.DeleteMemory(id) })
	if errors.Is(err, persist.ErrNotFound) {
		return fmt.Errorf("memory %q: %w", id, agent.ErrNotFound)
	}
	return err
}

// Query selects the memories of a listing or search.
type Query struct {
	// Scope is user, workspace or empty for both.
	Scope string
	// WorkspaceID is the caller's default workspace if empty.
	WorkspaceID string
}

// owners returns the owner keys a caller may read for q.
func (s *Service) owners(userID string, q Query) ([]string, error) {
	ws, err := s.workspaceFor(userID, q.WorkspaceID, persist.WorkspaceViewer)
	if err != nil {
		return nil, err
	}
	user, shared := persist.MemoryOwner(persist.MemoryScopeUser, ws, userID), persist.MemoryOwner(persist.MemoryScopeWorkspace, ws, "")
	switch q.Scope {
	case "":
		return []string{user, shared}, nil
	case persist.MemoryScopeUser:
		return []string{user}, nil
	case persist.MemoryScopeWorkspace:
		return []string{shared}, nil
	}
	return nil, fmt.Errorf("%w: scope must be user or workspace", agent.ErrInvalid)
}

// ListQuery is a listing.
type ListQuery struct {
	Query
	Kind, Status, Q, Cursor string
	Limit                   int
}

// List lists the memories a caller may read, newest first.
func (s *Service) List(_ context.Context, userID string, q ListQuery) ([]persist.Memory, string, error) {
	owners, err := s.owners(userID, q.Query)
	if err != nil {
		return nil, "", err
	}
	if q.Kind != "" && !persist.ValidMemoryKind(q.Kind) {
		return nil, "", fmt.Errorf("%w: kind must be fact, preference, instruction or event", agent.ErrInvalid)
	}
	if q.Status != "" && q.Status != persist.MemoryActive && q.Status != persist.MemorySuperseded {
		return nil, "", fmt.Errorf("%w: status must be active or superseded", agent.ErrInvalid)
	}
	out, next, err := s.store.ListMemories(persist.MemoryQuery{Owners: owners, Kind: q.Kind, Status: q.Status, Q: q.Q, Limit: q.Limit, Cursor: q.Cursor})
	// A bad cursor stays persist.ErrBadCursor: the API answers it as 400
	// invalid_cursor with a message of its own.
	if errors.Is(err, persist.ErrInvalid) && !errors.Is(err, persist.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: %v", agent.ErrInvalid, err)
	}
	return out, next, err
}

// SearchQuery is a ranked search.
type SearchQuery struct {
	Query
	Text              string
	Limit             int
	IncludeSuperseded bool
}

// Search ranks the memories a caller may read by BM25 against the text.
func (s *Service) Search(_ context.Context, userID string, q SearchQuery) ([]persist.ScoredMemory, error) {
	if strings.TrimSpace(q.Text) == "" {
		return nil, fmt.Errorf("%w: query is required", agent.ErrInvalid)
	}
	if q.Limit == 0 {
		q.Limit = 10
	}
	if q.Limit < 1 || q.Limit > 50 {
		return nil, fmt.Errorf("%w: limit must be from 1 to 50", agent.ErrInvalid)
	}
	owners, err := s.owners(userID, q.Query)
	if err != nil {
		return nil, err
	}
	return s.store.SearchMemories(persist.MemorySearch{Owners: owners, Query: q.Text, Limit: q.Limit, IncludeSuperseded: q.IncludeSuperseded})
}

// Recall returns the active memories most relevant to a turn's prompt: the
// user's own in the workspace and the workspace's shared ones, at most
// RecallLimit.
func (s *Service) Recall(_ context.Context, userID, workspaceID, prompt string) ([]persist.ScoredMemory, error) {
	owners := []string{persist.MemoryOwner(persist.MemoryScopeUser, workspaceID, userID), persist.MemoryOwner(persist.MemoryScopeWorkspace, workspaceID, "")}
	return s.store.SearchMemories(persist.MemorySearch{Owners: owners, Query: prompt, Limit: RecallLimit})
}

// access checks that userID has at least the need role in workspaceID: no
// role is not found, a lower role is forbidden.
func (s *Service) access(userID, workspaceID, need string) error {
	_, err := s.store.AuthorizeWorkspace(userID, workspaceID, need)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		return fmt.Errorf("workspace %q: %w", workspaceID, agent.ErrNotFound)
	case errors.Is(err, persist.ErrForbidden):
		return fmt.Errorf("%w: this needs the %s role in workspace %s", agent.ErrForbidden, need, workspaceID)
	}
	return err
}

// workspaceFor returns the workspace a request names, or the user's
// default one, if the user has at least the need role in it.
func (s *Service) workspaceFor(userID, requested, need string) (string, error) {
	if requested == "" {
		def, err := s.store.DefaultWorkspaceFor(userID)
		if err != nil {
			return "", err
		}
		requested = def
	}
	if !agent.ValidID(agent.PrefixWorkspace, requested) {
		return "", fmt.Errorf("workspace %q: %w", requested, agent.ErrNotFound)
	}
	if err := s.access(userID, requested, need); err != nil {
		return "", err
	}
	return requested, nil
}
