package persist

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search terms: runs of letters, digits and combining marks, lower-cased.
// Shorter terms are dropped (they match too much to be worth indexing),
// longer ones are cut (at a rune boundary) to bound key size.
const (
	minTermRunes = 2
	maxTermBytes = 64
)

// Session listing limits.
const (
	defaultListLimit = 50
	maxListLimit     = 200
)

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// tokenize calls emit with each term of text, in order, repeats included.
// ASCII is classified by byte; other runes by isWordRune.
func tokenize(text string, emit func(string)) {
	i := 0
	for i < len(text) {
		// Skip to the start of a word.
		for i < len(text) {
			if c := text[i]; c < utf8.RuneSelf {
				if isASCIIWord(c) {
					break
				}
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[i:])
			if isWordRune(r) {
				break
			}
			i += n
		}
		start, runes := i, 0
		for i < len(text) {
			if c := text[i]; c < utf8.RuneSelf {
				if !isASCIIWord(c) {
					break
				}
				i++
				runes++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				break
			}
			i += n
			runes++
		}
		if runes < minTermRunes {
			continue
		}
		term := strings.ToLower(text[start:i]) // no copy if already lower-case ASCII
		if len(term) > maxTermBytes {
			cut := maxTermBytes
			for cut > 0 && !utf8.RuneStart(term[cut]) {
				cut--
			}
			term = term[:cut]
		}
		emit(term)
	}
}

// isASCIIWord reports whether an ASCII byte is a letter or a digit, as
// isWordRune says of it.
func isASCIIWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// termSet appends the distinct terms of texts to buf[:0], sorted (so that
// inserts walk the postings in key order), and returns it. A sorted slice
// costs less than a set for the few dozen terms of a message.
func termSet(buf []string, texts ...string) []string {
	if buf == nil {
		buf = make([]string, 0, 64)
	}
	buf = buf[:0]
	for _, t := range texts {
		tokenize(t, func(term string) { buf = append(buf, term) })
	}
	slices.Sort(buf)
	return slices.Compact(buf)
}

// queryTerms splits a query into the words that must match exactly and the
// last word, which matches as a prefix. A repeated exact word counts once;
// "io io" still asks for the exact word io.
func queryTerms(q string) (exact []string, prefix string) {
	var all []string
	tokenize(q, func(term string) { all = append(all, term) })
	if len(all) == 0 {
		return nil, ""
	}
	prefix = all[len(all)-1]
	for _, term := range all[:len(all)-1] {
		if !slices.Contains(exact, term) {
			exact = append(exact, term)
		}
	}
	return exact, prefix
}

// position is a session's place in its workspace's listing order: the
// created-at (8 bytes, ascending) followed by the session id. It is the
// suffix of the session's time-index key and the whole of its posting keys.
func position(sess Session) []byte {
	return append(timeKey(sess.CreatedAt), sess.ID...)
}

// docTerms decodes a reverse record: sorted terms joined by NUL.
func docTerms(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	return strings.Split(string(v), "\x00")
}

// docHasPrefix reports whether a reverse record holds a term starting with
// prefix, without decoding it.
func docHasPrefix(v []byte, prefix []byte) bool {
	for len(v) > 0 {
		var term []byte
		term, v, _ = bytes.Cut(v, []byte{0})
		if bytes.HasPrefix(term, prefix) {
			return true
		}
		if bytes.Compare(term, prefix) > 0 {
			return false // sorted: no later term can start with prefix
		}
	}
	return false
}

// postingPrefix is the prefix of the posting keys of term in workspace ws:
// ws, NUL, term, NUL. A posting key is that prefix followed by the
// session's position, so one workspace's postings of one term are
// contiguous and in listing order. Terms never contain NUL (they are
// letters, digits and marks), so prefix+1 in place of the last NUL is just
// past the term's range and before any longer term.
func postingPrefix(ws, term string) []byte {
	k := make([]byte, 0, len(ws)+len(term)+2+8+40)
	return appendPostingPrefix(k, ws, term)
}

func appendPostingPrefix(k []byte, ws, term string) []byte {
	k = append(k, ws...)
	k = append(k, 0)
	k = append(k, term...)
	return append(k, 0)
}

// index adds the terms of texts to sess's postings. Terms the reverse
// record already lists are skipped, so a save only pays for new words.
func (tx *Tx) index(sess Session, texts ...string) error {
	terms := termSet(tx.terms, texts...)
	tx.terms = terms[:0] // reused by the transaction's next save
	if len(terms) == 0 {
		return nil
	}
	docs := tx.bucket(bucketIdxDocs)
	// Merged before any write: the stored value is read in place.
	rev, added := mergeTerms(docs.Get([]byte(sess.ID)), terms)
	if len(added) == 0 {
		return nil
	}
	posts := tx.bucket(bucketIdxPostings)
	// Each term's postings are appended in position order.
	posts.SetFillPercent(appendFillPercent)
	pos := position(sess)
	var k []byte
	for _, term := range added {
		k = append(appendPostingPrefix(k[:0], sess.WorkspaceID, term), pos...)
		if err := posts.Put(k, nil); err != nil {
			return err
		}
	}
	return docs.Put([]byte(sess.ID), rev)
}

// mergeTerms merges sorted, distinct terms into a reverse record (sorted
// terms joined by NUL) in one pass, without decoding it. It returns the
// new record and the terms it did not hold yet (a prefix of terms' backing
// array, in order); with none, the record is nil.
func mergeTerms(old []byte, terms []string) (rev []byte, added []string) {
	rest := old
	size := len(old)
	added = terms[:0]
	for _, term := range terms {
		for len(rest) > 0 {
			cur, _, _ := bytes.Cut(rest, []byte{0})
			if string(cur) > term {
				break
			}
			rest = rest[min(len(cur)+1, len(rest)):]
			if string(cur) == term {
				term = ""
				break
			}
		}
		if term != "" {
			added = append(added, term)
			size += len(term) + 1
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	if len(old) == 0 {
		size-- // no separator before the first term
	}
	rev = make([]byte, 0, size)
	rest = old
	for _, term := range added {
		for len(rest) > 0 {
			cur, _, _ := bytes.Cut(rest, []byte{0})
			if string(cur) > term {
				break
			}
			rev = appendTerm(rev, cur)
			rest = rest[min(len(cur)+1, len(rest)):]
		}
		if len(rev) > 0 {
			rev = append(rev, 0)
		}
		rev = append(rev, term...)
	}
	for len(rest) > 0 {
		cur, _, _ := bytes.Cut(rest, []byte{0})
		rev = appendTerm(rev, cur)
		rest = rest[min(len(cur)+1, len(rest)):]
	}
	return rev, added
}

// appendTerm appends term to a reverse record.
func appendTerm(rev, term []byte) []byte {
	if len(rev) > 0 {
		rev = append(rev, 0)
	}
	return append(rev, term...)
}

// unindex removes every posting of sess and its reverse record.
func (tx *Tx) unindex(sess Session) error {
	docs := tx.bucket(bucketIdxDocs)
	terms := docTerms(docs.Get([]byte(sess.ID)))
	if len(terms) == 0 {
		return nil
	}
	posts := tx.bucket(bucketIdxPostings)
	pos := position(sess)
	var k []byte
	for _, term := range terms {
		k = append(appendPostingPrefix(k[:0], sess.WorkspaceID, term), pos...)
		if err := posts.Delete(k); err != nil {
			return err
		}
	}
	return docs.Delete([]byte(sess.ID))
}

// ListSessions returns a page of the sessions of q.WorkspaceIDs, newest
// CreatedAt first, and the cursor of the next page ("" on the last page).
// With q.Q it keeps sessions whose indexed text holds every word of q.Q,
// the last word as a prefix; a q.Q with no word of two or more letters or
// digits filters nothing. The caller checks that the workspaces are the
// principal's. A page costs O(limit) cursor steps per workspace without
// q.Q; with it, the cost follows the number of sessions the rarest word
// matches before the page fills.
func (s *Store) ListSessions(q SessionQuery) (items []Session, nextCursor string, err error) {
	limit := q.Limit
	switch {
	case limit < 0:
		return nil, "", fmt.Errorf("persist: negative limit: %w", ErrInvalid)
	case limit == 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		limit = maxListLimit
	}
	if len(q.WorkspaceIDs) == 0 {
		return nil, "", fmt.Errorf("persist: listing sessions needs a workspace: %w", ErrInvalid)
	}
	workspaces := slices.Compact(slices.Sorted(slices.Values(q.WorkspaceIDs)))
	for _, ws := range workspaces {
		if err := checkID("workspace id", ws); err != nil {
			return nil, "", err
		}
	}
	var upper []byte
	if q.Cursor != "" {
		upper, err = base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(upper) <= 8 {
			return nil, "", fmt.Errorf("persist: session listing: %w", ErrBadCursor)
		}
	}
	exact, prefix := queryTerms(q.Q)

	items = []Session{}
	err = s.View(func(tx *Tx) error {
		// Each workspace yields its newest limit+1 matches; their merge
		// decides the page and whether another follows.
		var found [][]byte
		for _, ws := range workspaces {
			m, err := tx.matches(ws, exact, prefix, upper, limit+1)
			if err != nil {
				return err
			}
			found = append(found, m...)
		}
		slices.SortFunc(found, func(a, b []byte) int { return bytes.Compare(b, a) })
		if len(found) > limit {
			found = found[:limit]
			nextCursor = base64.RawURLEncoding.EncodeToString(found[limit-1])
		}
		for _, suffix := range found {
			sess, err := tx.session(string(suffix[8:]))
			if err != nil {
				return err
			}
			items = append(items, sess)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return items, nextCursor, nil
}

// matches returns up to n positions of workspace ws below upper (nil: from
// the newest), newest first. The returned slices are copies.
func (tx *Tx) matches(ws string, exact []string, prefix string, upper []byte, n int) ([][]byte, error) {
	var next func(upper []byte) []byte
	var keep func(pos []byte) bool
	posts := tx.bucket(bucketIdxPostings)
	switch {
	case prefix == "":
		// No query: walk the time index.
		next = newRangeIter(tx.bucket(bucketIdxTime), prefixKey(ws)).below
	case len(exact) == 0:
		// One word, as a prefix: the union of the postings of every term
		// it starts.
		u := &unionIter{}
		for _, term := range prefixTerms(posts, ws, prefix) {
			u.subs = append(u.subs, newRangeIter(posts, term))
		}
		if len(u.subs) == 0 {
			return nil, nil
		}
		next = u.below
	default:
		// Several words: leapfrog over the exact words' postings. The
		// prefix joins the leapfrog as a sorted list when it matches few
		// sessions here; when it matches many, checking it against each
		// match's reverse record is cheaper, since most matches pass.
		its := make([]postingIter, 0, len(exact)+1)
		c := posts.Cursor()
		for _, term := range exact {
			p := postingPrefix(ws, term)
			if k, _ := c.Seek(p); k == nil || !bytes.HasPrefix(k, p) {
				return nil, nil // a word no session here has
			}
			its = append(its, newRangeIter(posts, p))
		}
		if few, ok := prefixPostings(posts, ws, prefix, upper, maxPrefixPostings); ok {
			if len(few) == 0 {
				return nil, nil
			}
			its = append(its, &sliceIter{pos: few})
		} else {
			docs := tx.bucket(bucketIdxDocs)
			p := []byte(prefix)
			keep = func(pos []byte) bool { return docHasPrefix(docs.Get(pos[8:]), p) }
		}
		next = func(upper []byte) []byte { return intersect(its, upper) }
	}
	var out [][]byte
	for len(out) < n {
		k := next(upper)
		if k == nil {
			break
		}
		k = bytes.Clone(k)
		if keep == nil || keep(k) {
			out = append(out, k)
		}
		upper = k
	}
	return out, nil
}

// prefixTerms returns the posting prefixes (postingPrefix) of the terms of
// workspace ws that start with prefix, in term order: one seek per term.
func prefixTerms(posts bucket, ws, prefix string) [][]byte {
	start := append(append([]byte(ws), 0), prefix...)
	var out [][]byte
	c := posts.Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); {
		end := bytes.IndexByte(k[len(ws)+1:], 0)
		if end < 0 {
			return out // not a posting key; none are written so
		}
		p := bytes.Clone(k[:len(ws)+1+end+1])
		out = append(out, p)
		// Just past this term's postings.
		skip := bytes.Clone(p)
		skip[len(skip)-1] = 1
		k, _ = c.Seek(skip)
	}
	return out
}

// maxPrefixPostings is the most positions a query's prefix may match in a
// workspace for them to be collected into a list. A variable so that tests
// can force the other strategy.
var maxPrefixPostings = 2048

// prefixPostings collects the positions below upper of every term of
// workspace ws that starts with prefix, sorted newest first. It gives up
// (false) past max positions.
func prefixPostings(posts bucket, ws, prefix string, upper []byte, max int) ([][]byte, bool) {
	var pos [][]byte
	for _, term := range prefixTerms(posts, ws, prefix) {
		it := newRangeIter(posts, term)
		for k := it.below(upper); k != nil; k = it.below(k) {
			if len(pos) == max {
				return nil, false
			}
			pos = append(pos, k)
		}
	}
	slices.SortFunc(pos, func(a, b []byte) int { return bytes.Compare(b, a) })
	return slices.CompactFunc(pos, bytes.Equal), true
}

// postingIter walks positions (created-at, session id) from the newest.
type postingIter interface {
	// below returns the largest position strictly less than upper (nil
	// upper: no bound), or nil if there is none. Callers never raise
	// upper between calls.
	below(upper []byte) []byte
}

// atMost returns the largest position of it less than or equal to t.
func atMost(it postingIter, t []byte) []byte {
	// t+NUL is the smallest key greater than t.
	succ := make([]byte, len(t)+1)
	copy(succ, t)
	return it.below(succ)
}

// rangeIter walks the keys of one bucket that start with prefix (nil: all
// keys), from the largest down. Positions are key suffixes after prefix;
// they alias the transaction's memory.
type rangeIter struct {
	c      cursor
	prefix []byte
	cur    []byte // position of the last answer; nil if none or exhausted
	seek   []byte // scratch for seek keys
}

func newRangeIter(b bucket, prefix []byte) *rangeIter {
	return &rangeIter{c: b.Cursor(), prefix: prefix}
}

func (it *rangeIter) below(upper []byte) []byte {
	var k []byte
	if it.cur != nil && upper != nil && bytes.Equal(it.cur, upper) {
		// The common step of a walk: the previous key.
		k, _ = it.c.Prev()
	} else {
		it.seek = append(it.seek[:0], it.prefix...)
		switch {
		case upper != nil:
			it.seek = append(it.seek, upper...)
		case len(it.prefix) > 0:
			// Just past the range: the prefix's NUL separator raised to 1.
			it.seek[len(it.seek)-1] = 1
		}
		if len(it.seek) == 0 {
			k, _ = it.c.Last()
		} else if k, _ = it.c.Seek(it.seek); k == nil {
			k, _ = it.c.Last()
		} else {
			k, _ = it.c.Prev()
		}
	}
	if k == nil || !bytes.HasPrefix(k, it.prefix) {
		it.cur = nil
		return nil
	}
	it.cur = k[len(it.prefix):]
	return it.cur
}

// sliceIter walks positions held in a slice sorted newest first.
type sliceIter struct {
	pos [][]byte
}

func (it *sliceIter) below(upper []byte) []byte {
	i := 0
	if upper != nil {
		// The first position below upper; the slice is descending.
		i, _ = slices.BinarySearchFunc(it.pos, upper, func(p, u []byte) int { return bytes.Compare(u, p) })
		if i < len(it.pos) && bytes.Equal(it.pos[i], upper) {
			i++
		}
	}
	if i >= len(it.pos) {
		return nil
	}
	return it.pos[i]
}

// intersect returns the largest position below upper present in every
// iterator, by leapfrogging: each iterator in turn jumps to the largest
// position not above the current candidate, until all agree.
func intersect(its []postingIter, upper []byte) []byte {
	cand := its[0].below(upper)
	if cand == nil {
		return nil
	}
	cand = bytes.Clone(cand)
	agree := 1
	for i := 1 % len(its); agree < len(its); i = (i + 1) % len(its) {
		k := atMost(its[i], cand)
		if k == nil {
			return nil
		}
		if bytes.Equal(k, cand) {
			agree++
		} else {
			cand = bytes.Clone(k)
			agree = 1
		}
	}
	return cand
}

// unionIter walks the union of several iterators, largest first, each
// position once. Since upper never rises, an iterator whose position is
// already below upper is still at its answer and need not move.
type unionIter struct {
	subs    []*rangeIter
	started bool
}

func (u *unionIter) below(upper []byte) []byte {
	var best []byte
	for _, it := range u.subs {
		pos := it.cur
		if !u.started || (pos != nil && (upper == nil || bytes.Compare(pos, upper) >= 0)) {
			pos = it.below(upper)
		}
		if pos != nil && (best == nil || bytes.Compare(pos, best) > 0) {
			best = pos
		}
	}
	u.started = true
	return best
}
