package persist

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Long-term memories. Buckets (schema version 6):
//
//	memories           memoryID -> Memory
//	memories_by_owner  owner|created (timeKey)|memoryID -> ""
//	memories_by_norm   owner|sha256(normalised text)[:16] -> memoryID of the active memory with it
//	memory_postings    owner|term|memoryID -> posting: active flag (1 byte), term frequency (u16 BE), length (u16 BE)
//	memory_terms       owner|term -> u64 BE: active memories holding term
//	                   owner|"" -> u64 BE active memories, u64 BE their total length in terms
//
// An owner is the set of memories that share one visibility: a user's
// memories in a workspace (MemoryOwner(MemoryScopeUser, ws, user)) or a
// workspace's shared ones. Every index is per owner, so adding a memory
// touches O(terms) keys and costs O(terms × log n) whatever the store
// holds, and no search or duplicate check ever reads another owner's keys.
//
// Superseded memories keep their postings with the active flag cleared, so
// a search that asks for them finds them; term counts and lengths cover
// active memories only, so superseded ones weigh nothing in the ranking.
var (
	bucketMemories        = []byte("memories")
	bucketMemoriesByOwner = []byte("memories_by_owner")
	bucketMemoriesByNorm  = []byte("memories_by_norm")
	bucketMemoryPostings  = []byte("memory_postings")
	bucketMemoryTerms     = []byte("memory_terms")
)

// Memory scopes, statuses and kinds.
const (
	MemoryScopeUser      = "user"
	MemoryScopeWorkspace = "workspace"

	MemoryActive     = "active"
	MemorySuperseded = "superseded"

	MemoryKindFact        = "fact"
	MemoryKindPreference  = "preference"
	MemoryKindInstruction = "instruction"
	MemoryKindEvent       = "event"
)

// ValidMemoryKind reports whether kind is one of the four kinds.
func ValidMemoryKind(kind string) bool {
	switch kind {
	case MemoryKindFact, MemoryKindPreference, MemoryKindInstruction, MemoryKindEvent:
		return true
	}
	return false
}

// MemorySource names the turn a memory was extracted from.
type MemorySource struct {
	SessionID string `json:"session_id"`
	TurnID    string `json:"turn_id"`
}

// Memory is a fact, preference, instruction or event kept across sessions.
// Nothing overwrites one: a change makes a new memory that supersedes it.
type Memory struct {
	ID string `json:"id"`
	// Scope is MemoryScopeUser (private to UserID) or MemoryScopeWorkspace
	// (shared in WorkspaceID; UserID is its author).
	Scope       string `json:"scope"`
	UserID      string `json:"user_id"`
	WorkspaceID string `json:"workspace_id"`
	Content     string `json:"content"`
	Kind        string `json:"kind"`
	// Status is MemoryActive or MemorySuperseded.
	Status string `json:"status"`
	// Supersedes is the memory this one replaced; SupersededBy the one
	// that replaced it.
	Supersedes   string        `json:"supersedes"`
	SupersededBy string        `json:"superseded_by"`
	Source       *MemorySource `json:"source"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// Owner returns the memory's owner key (see MemoryOwner).
func (m Memory) Owner() string { return MemoryOwner(m.Scope, m.WorkspaceID, m.UserID) }

// MemoryOwner names the memories of one visibility: a user's in a
// workspace, or a workspace's shared ones (userID is ignored).
func MemoryOwner(scope, workspaceID, userID string) string {
	if scope == MemoryScopeWorkspace {
		return "w/" + workspaceID
	}
	return "u/" + workspaceID + "/" + userID
}

// memoryStopWords are left out of the index, of normalised text and of
// similarity: they match nearly every memory.
var memoryStopWords = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true, "in": true,
	"on": true, "at": true, "for": true, "is": true, "are": true, "was": true, "were": true, "be": true,
	"it": true, "its": true, "this": true, "that": true, "with": true, "as": true, "by": true, "from": true,
	"has": true, "have": true, "had": true, "do": true, "does": true, "so": true, "but": true, "not": true,
	"what": true, "which": true, "who": true, "whom": true, "my": true, "me": true,
	"about": true, "into": true, "than": true, "then": true, "there": true, "their": true, "they": true,
	"where": true, "when": true, "how": true, "why": true, "will": true, "would": true, "can": true,
	// Nearly every memory is about the user.
	"user": true, "users": true,
}

// MemoryTerms returns the terms of text as the memory index sees them, in
// order with repeats: runs of letters, digits and marks, lower-cased, at
// least 2 runes, stop words left out, and a plural or third-person "s"
// taken off ("lives" and "live" are one term; see stem).
func MemoryTerms(text string) []string {
	var out []string
	tokenize(text, func(t string) {
		if !memoryStopWords[t] {
			out = append(out, stem(t))
		}
	})
	return out
}

// stem folds the commonest English inflection: "-ies" becomes "-y" and a
// final "s" goes (but not "-ss", "-us" or "-is", nor in words of 3 letters
// or fewer). It is deliberately this small: it never merges words that
// differ in more than that ending.
func stem(t string) string {
	n := len(t)
	switch {
	case n > 4 && strings.HasSuffix(t, "ies"):
		return t[:n-3] + "y"
	case n > 3 && t[n-1] == 's' && !strings.HasSuffix(t, "ss") && !strings.HasSuffix(t, "us") && !strings.HasSuffix(t, "is"):
		return t[:n-1]
	}
	return t
}

// NormalizeMemory returns text as duplicates are compared: its terms
// joined by single spaces, so that case, punctuation, white space and stop
// words do not make two statements of one fact differ.
func NormalizeMemory(text string) string { return strings.Join(MemoryTerms(text), " ") }

func normKey(owner, text string) []byte {
	sum := sha256.Sum256([]byte(NormalizeMemory(text)))
	return append(prefixKey(owner), sum[:16]...)
}

// posting values.
func posting(active bool, tf, length int) []byte {
	v := make([]byte, 5)
	if active {
		v[0] = 1
	}
	binary.BigEndian.PutUint16(v[1:], uint16(min(tf, math.MaxUint16)))
	binary.BigEndian.PutUint16(v[3:], uint16(min(length, math.MaxUint16)))
	return v
}

func readPosting(v []byte) (active bool, tf, length int) {
	if len(v) != 5 {
		return false, 0, 0
	}
	return v[0] == 1, int(binary.BigEndian.Uint16(v[1:])), int(binary.BigEndian.Uint16(v[3:]))
}

// termCounts returns each distinct term of text with its frequency, in key
// order, and the text's length in terms.
func termCounts(text string) ([]string, map[string]int, int) {
	terms := MemoryTerms(text)
	tf := make(map[string]int, len(terms))
	for _, t := range terms {
		tf[t]++
	}
	keys := make([]string, 0, len(tf))
	for t := range tf {
		keys = append(keys, t)
	}
	slices.Sort(keys)
	return keys, tf, len(terms)
}

// AddMemory stores a new active memory. ID, WorkspaceID, UserID, Content
// and a valid Scope and Kind are required; zero times become now. It fails
// with ErrConflict if the id exists and ErrNotFound if the workspace does
// not. It does not look for duplicates: callers decide that first, in the
// same transaction (see ActiveMemoryByNorm and SearchMemories).
func (tx *Tx) AddMemory(m Memory) error {
	for what, id := range map[string]string{"memory id": m.ID, "workspace id": m.WorkspaceID, "user id": m.UserID} {
		if err := checkID(what, id); err != nil {
			return err
		}
	}
	if m.Scope != MemoryScopeUser && m.Scope != MemoryScopeWorkspace {
		return fmt.Errorf("persist: memory scope %q: %w", m.Scope, ErrInvalid)
	}
	if !ValidMemoryKind(m.Kind) {
		return fmt.Errorf("persist: memory kind %q: %w", m.Kind, ErrInvalid)
	}
	if strings.TrimSpace(m.Content) == "" {
		return fmt.Errorf("persist: empty memory content: %w", ErrInvalid)
	}
	if tx.bucket(bucketWorkspaces).Get([]byte(m.WorkspaceID)) == nil {
		return fmt.Errorf("persist: workspace %s: %w", m.WorkspaceID, ErrNotFound)
	}
	mems := tx.bucket(bucketMemories)
	if mems.Get([]byte(m.ID)) != nil {
		return fmt.Errorf("persist: memory %s exists: %w", m.ID, ErrConflict)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	m.CreatedAt = normTime(m.CreatedAt)
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	m.UpdatedAt = normTime(m.UpdatedAt)
	m.Status, m.SupersededBy = MemoryActive, ""
	if err := putJSON(mems, []byte(m.ID), m); err != nil {
		return err
	}
	owner := m.Owner()
	if err := tx.bucket(bucketMemoriesByOwner).Put(append(append(prefixKey(owner), timeKey(m.CreatedAt)...), m.ID...), nil); err != nil {
		return err
	}
	if err := tx.bucket(bucketMemoriesByNorm).Put(normKey(owner, m.Content), []byte(m.ID)); err != nil {
		return err
	}
	return tx.indexMemory(m, true, true)
}

// indexMemory writes the memory's postings with the given active flag and,
// if count, adds (active) or removes (!active) it from the owner's term
// counts and length totals.
func (tx *Tx) indexMemory(m Memory, active, count bool) error {
	owner := m.Owner()
	keys, tf, length := termCounts(m.Content)
	posts, terms := tx.bucket(bucketMemoryPostings), tx.bucket(bucketMemoryTerms)
	delta := int64(1)
	if !active {
		delta = -1
	}
	for _, t := range keys {
		if err := posts.Put(key(owner, t, m.ID), posting(active, tf[t], length)); err != nil {
			return err
		}
		if count {
			if err := addU64(terms, key(owner, t), delta); err != nil {
				return err
			}
		}
	}
	if !count {
		return nil
	}
	statsKey := prefixKey(owner)
	n, total := memoryStats(terms.Get(statsKey))
	n += delta
	total += delta * int64(length)
	return terms.Put(statsKey, append(u64(uint64(max(n, 0))), u64(uint64(max(total, 0)))...))
}

type u64Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
}

// addU64 adds delta to a u64 counter, deleting it at zero.
func addU64(b u64Bucket, k []byte, delta int64) error {
	n := int64(readU64(b.Get(k))) + delta
	if n <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, u64(uint64(n)))
}

func memoryStats(v []byte) (n, total int64) {
	if len(v) != 16 {
		return 0, 0
	}
	return int64(readU64(v[:8])), int64(readU64(v[8:]))
}

// Memory returns the memory with that id, or ErrNotFound.
func (s *Store) Memory(id string) (Memory, error) { return view(s, (*Tx).Memory, id) }

// Memory is Store.Memory inside tx.
func (tx *Tx) Memory(id string) (Memory, error) {
	return record[Memory](tx, bucketMemories, "memory", id)
}

// ActiveMemoryByNorm returns the owner's active memory whose normalised
// text (NormalizeMemory) equals text's, if any.
func (tx *Tx) ActiveMemoryByNorm(owner, text string) (Memory, bool, error) {
	id := tx.bucket(bucketMemoriesByNorm).Get(normKey(owner, text))
	if id == nil {
		return Memory{}, false, nil
	}
	m, err := tx.Memory(string(id))
	if err != nil {
		return Memory{}, false, err
	}
	return m, m.Status == MemoryActive, nil
}

// SupersedeMemory marks the active memory oldID superseded by newID (which
// the caller adds in the same transaction, with Supersedes set). It fails
// with ErrNotFound if oldID does not exist and ErrConflict if it is not
// active.
func (tx *Tx) SupersedeMemory(oldID, newID string, at time.Time) (Memory, error) {
	old, err := tx.Memory(oldID)
	if err != nil {
		return Memory{}, err
	}
	if old.Status != MemoryActive {
		return Memory{}, fmt.Errorf("persist: memory %s is already superseded: %w", oldID, ErrConflict)
	}
	if err := checkID("memory id", newID); err != nil {
		return Memory{}, err
	}
	if at.IsZero() {
		at = now()
	}
	old.Status, old.SupersededBy, old.UpdatedAt = MemorySuperseded, newID, normTime(at)
	if err := putJSON(tx.bucket(bucketMemories), []byte(old.ID), old); err != nil {
		return Memory{}, err
	}
	byNorm := tx.bucket(bucketMemoriesByNorm)
	nk := normKey(old.Owner(), old.Content)
	if bytes.Equal(byNorm.Get(nk), []byte(old.ID)) {
		if err := byNorm.Delete(nk); err != nil {
			return Memory{}, err
		}
	}
	return old, tx.indexMemory(old, false, true)
}

// DeleteMemory removes a memory and its index entries for good (the API's
// DELETE; extraction never deletes). A memory it superseded, or that
// superseded it, keeps its link.
func (tx *Tx) DeleteMemory(id string) error {
	m, err := tx.Memory(id)
	if err != nil {
		return err
	}
	owner := m.Owner()
	if m.Status == MemoryActive {
		if err := tx.indexMemory(m, false, true); err != nil {
			return err
		}
		byNorm := tx.bucket(bucketMemoriesByNorm)
		nk := normKey(owner, m.Content)
		if bytes.Equal(byNorm.Get(nk), []byte(m.ID)) {
			if err := byNorm.Delete(nk); err != nil {
				return err
			}
		}
	}
	keys, _, _ := termCounts(m.Content)
	posts := tx.bucket(bucketMemoryPostings)
	for _, t := range keys {
		if err := posts.Delete(key(owner, t, m.ID)); err != nil {
			return err
		}
	}
	if err := tx.bucket(bucketMemoriesByOwner).Delete(append(append(prefixKey(owner), timeKey(m.CreatedAt)...), m.ID...)); err != nil {
		return err
	}
	return tx.bucket(bucketMemories).Delete([]byte(id))
}

// deleteWorkspaceMemories deletes every memory of a workspace, shared and
// private, with the workspace.
func (tx *Tx) deleteWorkspaceMemories(wsID string) (int, error) {
	var ids []string
	c := tx.bucket(bucketMemoriesByOwner).Cursor()
	for _, p := range [][]byte{prefixKey(MemoryOwner(MemoryScopeWorkspace, wsID, "")), []byte("u/" + wsID + "/")} {
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if i := bytes.IndexByte(k, 0); i >= 0 && len(k) > i+9 {
				ids = append(ids, string(k[i+9:]))
			}
		}
	}
	for _, id := range ids {
		if err := tx.DeleteMemory(id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// MemoryQuery selects memories to list.
type MemoryQuery struct {
	// Owners are the owner keys to list (MemoryOwner); required.
	Owners []string
	// Kind and Status, if set, keep only memories of that kind or status.
	Kind   string
	Status string
	// Q, if set, keeps memories holding every term of Q.
	Q string
	// Limit caps the page: 1-200, 50 if zero.
	Limit int
	// Cursor continues a listing from the NextCursor of its last page.
	Cursor string
}

// ListMemories lists memories newest first, with the cursor of the next
// page ("" after the last one).
func (s *Store) ListMemories(q MemoryQuery) ([]Memory, string, error) {
	limit := q.Limit
	if limit == 0 {
		limit = defaultListLimit
	}
	if limit < 1 || limit > maxListLimit {
		return nil, "", fmt.Errorf("persist: limit %d outside 1..%d: %w", limit, maxListLimit, ErrInvalid)
	}
	var upper []byte
	if q.Cursor != "" {
		b, err := hex.DecodeString(q.Cursor)
		if err != nil || len(b) < 9 {
			return nil, "", ErrBadCursor
		}
		upper = b
	}
	want := MemoryTerms(q.Q)
	type hit struct {
		pos []byte
		m   Memory
	}
	var hits []hit
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bucketMemoriesByOwner).Cursor()
		for _, owner := range slices.Compact(slices.Sorted(slices.Values(q.Owners))) {
			prefix := prefixKey(owner)
			start := append(slices.Clip(prefix), upper...)
			if upper == nil {
				start = append(start, bytes.Repeat([]byte{0xff}, 9)...)
			}
			// The last key before start: the newest memory older than the
			// cursor.
			k, _ := c.Seek(start)
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			n := 0
			for ; k != nil && bytes.HasPrefix(k, prefix) && n <= limit; k, _ = c.Prev() {
				m, err := tx.Memory(string(k[len(prefix)+8:]))
				if err != nil {
					return err
				}
				if (q.Kind != "" && m.Kind != q.Kind) || (q.Status != "" && m.Status != q.Status) || !hasTerms(m.Content, want) {
					continue
				}
				hits = append(hits, hit{pos: slices.Clone(k[len(prefix):]), m: m})
				n++
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(hits, func(a, b hit) int { return bytes.Compare(b.pos, a.pos) })
	next := ""
	if len(hits) > limit {
		hits = hits[:limit]
		next = hex.EncodeToString(hits[limit-1].pos)
	}
	out := make([]Memory, len(hits))
	for i, h := range hits {
		out[i] = h.m
	}
	return out, next, nil
}

func hasTerms(text string, want []string) bool {
	if len(want) == 0 {
		return true
	}
	have := MemoryTerms(text)
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// MemorySearch is a ranked search of memories.
type MemorySearch struct {
	// Owners are the owner keys searched (MemoryOwner); required.
	Owners []string
	Query  string
	// Limit caps the results; 10 if zero.
	Limit int
	// IncludeSuperseded also returns superseded memories.
	IncludeSuperseded bool
	// MaxPostings skips query terms held by more memories than this in an
	// owner (they say little and cost the most); 0 is no cap.
	MaxPostings int
}

// ScoredMemory is one search result. Score is BM25 mapped onto 0..1 by
// s/(s+2), so that it is comparable across queries without a corpus-wide
// maximum.
type ScoredMemory struct {
	Memory Memory
	Score  float64
}

// BM25 parameters.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// SearchMemories ranks memories by BM25 over their terms. It reads only the
// query terms' postings of the owners searched.
func (s *Store) SearchMemories(q MemorySearch) ([]ScoredMemory, error) {
	var out []ScoredMemory
	err := s.View(func(tx *Tx) error {
		var err error
		out, err = tx.SearchMemories(q)
		return err
	})
	return out, err
}

// SearchMemories is Store.SearchMemories inside tx.
func (tx *Tx) SearchMemories(q MemorySearch) ([]ScoredMemory, error) {
	owners := slices.Compact(slices.Sorted(slices.Values(q.Owners)))
	// Most owners have no memory at all (every turn recalls): answer them
	// before any work on the query, and before entering the search's
	// large frame, which would grow the caller's stack.
	if !tx.anyMemory(owners, q.IncludeSuperseded) {
		return []ScoredMemory{}, nil
	}
	return tx.searchMemories(q, owners)
}

// searchMemories is SearchMemories of the sorted, distinct owners.
func (tx *Tx) searchMemories(q MemorySearch, owners []string) ([]ScoredMemory, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	terms, posts := tx.bucket(bucketMemoryTerms), tx.bucket(bucketMemoryPostings)
	qterms := MemoryTerms(q.Query)
	slices.Sort(qterms)
	qterms = slices.Compact(qterms)
	if len(qterms) == 0 {
		return []ScoredMemory{}, nil
	}
	// Collection statistics over every owner searched.
	var n, total int64
	df := make(map[string]int64, len(qterms))
	for _, o := range owners {
		on, ot := memoryStats(terms.Get(prefixKey(o)))
		n, total = n+on, total+ot
		for _, t := range qterms {
			df[t] += int64(readU64(terms.Get(key(o, t))))
		}
	}
	avg := 1.0
	if n > 0 && total > 0 {
		avg = float64(total) / float64(n)
	}
	scores := map[string]float64{}
	c := posts.Cursor()
	for _, o := range owners {
		for _, t := range qterms {
			if q.MaxPostings > 0 && int(readU64(terms.Get(key(o, t)))) > q.MaxPostings {
				continue
			}
			idf := math.Log(1 + (float64(n)-float64(df[t])+0.5)/(float64(df[t])+0.5))
			prefix := prefixKey(o, t)
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				active, tf, length := readPosting(v)
				if !active && !q.IncludeSuperseded {
					continue
				}
				f := float64(tf)
				scores[string(k[len(prefix):])] += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(length)/avg))
			}
		}
	}
	type cand struct {
		id    string
		score float64
	}
	cands := make([]cand, 0, len(scores))
	for id, sc := range scores {
		cands = append(cands, cand{id, sc})
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]ScoredMemory, 0, min(limit, len(cands)))
	for _, cd := range cands {
		if len(out) == limit {
			break
		}
		m, err := tx.Memory(cd.id)
		if err != nil {
			return nil, err
		}
		if m.Status != MemoryActive && !q.IncludeSuperseded {
			continue
		}
		out = append(out, ScoredMemory{Memory: m, Score: cd.score / (cd.score + 2)})
	}
	return out, nil
}

// anyMemory reports whether one of owners has a memory a search could
// return: an active one, from the owner's totals (which count only those),
// or with superseded too, any listing entry (superseded memories keep
// their postings).
func (tx *Tx) anyMemory(owners []string, superseded bool) bool {
	if !superseded {
		terms := tx.bucket(bucketMemoryTerms)
		for _, o := range owners {
			if n, _ := memoryStats(terms.Get(prefixKey(o))); n > 0 {
				return true
			}
		}
		return false
	}
	c := tx.bucket(bucketMemoriesByOwner).Cursor()
	for _, o := range owners {
		p := prefixKey(o)
		if k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// AddMemories stores memories in one transaction; for tests and loading.
func (s *Store) AddMemories(ctx context.Context, ms ...Memory) error {
	return s.Update(ctx, func(tx *Tx) error {
		for _, m := range ms {
			if err := tx.AddMemory(m); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkMemories checks the memory indexes against the records: every
// record has its listing entry and postings with its status, every active
// one its normalised-text entry, and the term counts and totals are those
// of the active memories.
func (tx *Tx) checkMemories(p *problems) {
	mems := tx.bucket(bucketMemories)
	byOwner, byNorm := tx.bucket(bucketMemoriesByOwner), tx.bucket(bucketMemoriesByNorm)
	posts, terms := tx.bucket(bucketMemoryPostings), tx.bucket(bucketMemoryTerms)
	df := map[string]uint64{}
	stats := map[string][2]int64{}
	each(mems, func(k, _ []byte) {
		var m Memory
		if _, err := getJSON(mems, k, &m); err != nil || m.ID != string(k) {
			p.add("memory %s: bad record (%v)", k, err)
			return
		}
		owner := m.Owner()
		if !has(byOwner, append(append(prefixKey(owner), timeKey(m.CreatedAt)...), m.ID...)) {
			p.add("memory %s: no listing entry", m.ID)
		}
		active := m.Status == MemoryActive
		if active && byNorm.Get(normKey(owner, m.Content)) == nil {
			p.add("memory %s: active without its normalised-text entry", m.ID)
		}
		keys, tf, length := termCounts(m.Content)
		for _, t := range keys {
			v := posts.Get(key(owner, t, m.ID))
			if a, f, l := readPosting(v); v == nil || a != active || f != min(tf[t], math.MaxUint16) || l != min(length, math.MaxUint16) {
				p.add("memory %s: posting of %q is %x", m.ID, t, v)
			}
			if active {
				df[string(key(owner, t))]++
			}
		}
		if active {
			s := stats[owner]
			stats[owner] = [2]int64{s[0] + 1, s[1] + int64(length)}
		}
	})
	each(byOwner, func(k, _ []byte) {
		if i := bytes.IndexByte(k, 0); i < 0 || len(k) <= i+9 || mems.Get(k[i+9:]) == nil {
			p.add("memory listing entry %q names no memory", k)
		}
	})
	each(byNorm, func(k, v []byte) {
		if mems.Get(v) == nil {
			p.add("memory text entry %x names missing memory %s", k, v)
		}
	})
	each(terms, func(k, v []byte) {
		if bytes.HasSuffix(k, []byte{0}) {
			owner := string(k[:len(k)-1])
			n, total := memoryStats(v)
			if s := stats[owner]; s[0] != n || s[1] != total {
				p.add("memory totals of %s are %d/%d, the records say %d/%d", owner, n, total, s[0], s[1])
			}
			delete(stats, owner)
			return
		}
		if got, want := readU64(v), df[string(k)]; got != want {
			p.add("memory term count %q is %d, the records say %d", k, got, want)
		}
		delete(df, string(k))
	})
	for k, n := range df {
		p.add("memory term %q has no count (want %d)", k, n)
	}
	for o, s := range stats {
		if s[0] > 0 {
			p.add("memory owner %s has no totals (want %d)", o, s[0])
		}
	}
}
