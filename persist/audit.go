package persist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The audit log: an append-only, hash-chained list of entries. Buckets
// (schema version 4):
//
//	audit               seq (u64 BE) -> AuditEntry
//	audit_by_actor      actorID|seq -> ""
//	audit_by_resource   resourceID|seq -> ""
//	audit_by_workspace  workspaceID|seq -> ""
//	audit_by_org        orgID|seq -> ""
//	meta/audit_head     {seq, hash, at} of the last entry
//	meta/audit_anchor   {seq, hash, at} of the last entry pruned by retention
//
// Each entry carries the hash of the one before it (PrevHash) and its own
// Hash: the hex SHA-256 of auditHashDomain followed by the entry's JSON
// encoding with Hash empty. Struct fields encode in a fixed order and
// Details (a string map) with sorted keys, so the encoding is canonical and
// a decoded entry re-encodes to the same bytes. Seq, PrevHash and At are
// assigned inside the write transaction from the head, so the chain
// follows commit order even though entries arrive through the group-commit
// writer from many goroutines; At never goes backwards.
//
// Retention removes the oldest entries and records the last one removed as
// the anchor, so that the chain stays verifiable from there: the first
// remaining entry's PrevHash must be the anchor's hash.
var (
	bucketAudit           = []byte("audit")
	bucketAuditByActor    = []byte("audit_by_actor")
	bucketAuditByResource = []byte("audit_by_resource")
	bucketAuditByWS       = []byte("audit_by_workspace")
	bucketAuditByOrg      = []byte("audit_by_org")

	metaAuditHead   = []byte("audit_head")
	metaAuditAnchor = []byte("audit_anchor")
)

// auditHashDomain starts every hashed encoding, so that an entry's hash
// cannot be mistaken for a hash of anything else.
const auditHashDomain = "seshat-audit-v1\x00"

// Actor types of audit entries.
const (
	ActorUser      = "user"
	ActorAPIKey    = "api_key"
	ActorAnonymous = "anonymous"
	ActorSystem    = "system"
)

// Outcomes of audit entries.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// AuditEntry is one audited event. Details never hold secrets.
type AuditEntry struct {
	ID             string            `json:"id"`
	Seq            uint64            `json:"seq"`
	At             time.Time         `json:"at"`
	ActorID        string            `json:"actor_id"`
	ActorType      string            `json:"actor_type"`
	Action         string            `json:"action"`
	ResourceType   string            `json:"resource_type"`
	ResourceID     string            `json:"resource_id"`
	WorkspaceID    string            `json:"workspace_id"`
	OrganizationID string            `json:"organization_id"`
	RequestID      string            `json:"request_id"`
	IP             string            `json:"ip"`
	Outcome        string            `json:"outcome"`
	Details        map[string]string `json:"details"`
	PrevHash       string            `json:"prev_hash"`
	Hash           string            `json:"hash"`
}

// hash returns the entry's chain hash (Hash itself is ignored).
func (e AuditEntry) hash() (string, error) {
	e.Hash = ""
	data, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	return chainHash(data), nil
}

// chainHash is the chain hash of an entry's encoding with Hash empty.
func chainHash(data []byte) string {
	h := sha256.New()
	h.Write([]byte(auditHashDomain))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// chain sets e.Hash and returns the entry's stored encoding, encoding it
// once: Hash is the last field, so the encoding the hash covers (Hash
// empty) ends with `""}`, and the stored one is the same with the hash
// between the quotes.
func (e *AuditEntry) chain() ([]byte, error) {
	e.validUTF8()
	e.Hash = ""
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	e.Hash = chainHash(data)
	const tail = `""}`
	if !bytes.HasSuffix(data, []byte(tail)) {
		return json.Marshal(e)
	}
	out := make([]byte, 0, len(data)+len(e.Hash))
	out = append(out, data[:len(data)-len(tail)+1]...)
	out = append(out, e.Hash...)
	return append(out, `"}`...), nil
}

// validUTF8 replaces invalid UTF-8 in the entry's text with U+FFFD, as
// encoding/json would when writing it: the entry hashed is then the entry
// read back, and VerifyAudit's re-encoding gives the same bytes.
func (e *AuditEntry) validUTF8() {
	for _, f := range []*string{&e.ID, &e.ActorID, &e.ActorType, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.WorkspaceID, &e.OrganizationID, &e.RequestID, &e.IP, &e.Outcome, &e.PrevHash} {
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
	for k, v := range e.Details {
		if utf8.ValidString(k) && utf8.ValidString(v) {
			continue
		}
		// A copy: the caller's map is not the writer's to change.
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			d[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
		}
		e.Details = d
		break
	}
}

// auditMark is the head or the anchor of the chain.
type auditMark struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

func (tx *Tx) auditMark(name []byte) (auditMark, error) {
	var m auditMark
	_, err := getJSON(tx.bucket(bucketMeta), name, &m)
	return m, err
}

// AppendAudit queues e for the log through the group-commit writer, as a
// lazy write (UpdateLazy), and returns at once: it adds no commit of its
// own. done, if not nil, gets the result on the writer goroutine (see
// UpdateAsync). An empty ID is
// minted; a zero At becomes now. Seq, PrevHash and Hash are assigned in
// the transaction. With Config.AuditRetention set, the same write removes
// up to auditPruneBatch entries older than the retention.
func (s *Store) AppendAudit(e AuditEntry, done func(error)) {
	if e.ID == "" {
		e.ID = newID(idPrefixAudit)
	}
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = normTime(e.At)
	s.UpdateLazy(func(tx *Tx) error {
		if _, err := tx.appendAudit(e); err != nil {
			return err
		}
		if s.cfg.AuditRetention > 0 {
			_, err := tx.pruneAudit(e.At.Add(-s.cfg.AuditRetention), auditPruneBatch)
			return err
		}
		return nil
	}, done)
}

// auditPruneBatch bounds the entries one append removes, so that a write
// stays short; appends outpace expiry, so the backlog shrinks.
const auditPruneBatch = 64

func (tx *Tx) appendAudit(e AuditEntry) (AuditEntry, error) {
	head, err := tx.auditMark(metaAuditHead)
	if err != nil {
		return e, err
	}
	e.Seq = head.Seq + 1
	if e.At.Before(head.At) {
		e.At = head.At
	}
	e.PrevHash = head.Hash
	data, err := e.chain()
	if err != nil {
		return e, fmt.Errorf("persist: encode audit entry: %w", err)
	}
	seq := u64(e.Seq)
	audit := tx.bucket(bucketAudit)
	audit.SetFillPercent(appendFillPercent)
	if err := audit.Put(seq, data); err != nil {
		return e, err
	}
	for _, ix := range auditIndexes(e) {
		b := tx.bucket(ix.bucket)
		if err := b.Put(append(prefixKey(ix.id), seq...), nil); err != nil {
			return e, err
		}
	}
	return e, putJSON(tx.bucket(bucketMeta), metaAuditHead, auditMark{Seq: e.Seq, Hash: e.Hash, At: e.At})
}

type auditIndex struct {
	bucket []byte
	id     string
}

func auditIndexes(e AuditEntry) []auditIndex {
	var out []auditIndex
	for _, ix := range []auditIndex{
		{bucketAuditByActor, e.ActorID},
		{bucketAuditByResource, e.ResourceID},
		{bucketAuditByWS, e.WorkspaceID},
		{bucketAuditByOrg, e.OrganizationID},
	} {
		if ix.id != "" && checkID("audit index id", ix.id) == nil {
			out = append(out, ix)
		}
	}
	return out
}

// PruneAudit removes the entries older than before, oldest first, and
// records the last one removed as the chain's anchor. It returns how many
// it removed.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.pruneAudit(normTime(before), 1000)
			return err
		})
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

func (tx *Tx) pruneAudit(before time.Time, limit int) (int, error) {
	audit := tx.bucket(bucketAudit)
	c := audit.Cursor()
	var last *AuditEntry
	var keys [][]byte
	for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
		var e AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return 0, fmt.Errorf("persist: decode audit entry %d: %w", readU64(k), err)
		}
		if !e.At.Before(before) {
			break
		}
		keys = append(keys, bytes.Clone(k))
		last = &e
	}
	if last == nil {
		return 0, nil
	}
	for _, k := range keys {
		var e AuditEntry
		if _, err := getJSON(audit, k, &e); err != nil {
			return 0, err
		}
		for _, ix := range auditIndexes(e) {
			if err := tx.bucket(ix.bucket).Delete(append(prefixKey(ix.id), k...)); err != nil {
				return 0, err
			}
		}
		if err := audit.Delete(k); err != nil {
			return 0, err
		}
	}
	anchor := auditMark{Seq: last.Seq, Hash: last.Hash, At: last.At}
	return len(keys), putJSON(tx.bucket(bucketMeta), metaAuditAnchor, anchor)
}

// AuditQuery selects audit entries; empty fields do not filter.
type AuditQuery struct {
	ActorID        string
	Action         string
	ResourceType   string
	ResourceID     string
	WorkspaceID    string
	OrganizationID string
	Outcome        string
	// From and To bound At (inclusive); zero is open.
	From, To time.Time
	// Limit caps the page; if zero, 50; at most 500.
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// maxAuditScan bounds the entries one ListAudit call examines. A page may
// therefore hold fewer than Limit entries while NextCursor is set.
const maxAuditScan = 20000

// ListAudit returns entries matching q, newest first, and a cursor for
// the next page ("" at the end). It walks the most selective index the
// query allows (resource, actor, workspace, organization), or the log
// itself.
func (s *Store) ListAudit(q AuditQuery) ([]AuditEntry, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	before := uint64(1<<64 - 1)
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("persist: audit cursor %q: %w", q.Cursor, ErrBadCursor)
		}
		before = n
	}
	out := []AuditEntry{}
	next := ""
	err := s.View(func(tx *Tx) error {
		audit := tx.bucket(bucketAudit)
		var ix bucket
		var prefix []byte
		switch {
		case q.ResourceID != "":
			ix, prefix = tx.bucket(bucketAuditByResource), prefixKey(q.ResourceID)
		case q.ActorID != "":
			ix, prefix = tx.bucket(bucketAuditByActor), prefixKey(q.ActorID)
		case q.WorkspaceID != "":
			ix, prefix = tx.bucket(bucketAuditByWS), prefixKey(q.WorkspaceID)
		case q.OrganizationID != "":
			ix, prefix = tx.bucket(bucketAuditByOrg), prefixKey(q.OrganizationID)
		}
		if ix == nil && !q.To.IsZero() {
			// At grows with seq: start at the last entry not after To.
			if s := tx.lastAuditAtOrBefore(q.To); s+1 < before {
				before = s + 1
			}
		}
		var c cursor
		var k []byte
		if ix != nil {
			c = ix.Cursor()
			k, _ = c.Seek(append(bytes.Clone(prefix), u64(before)...))
		} else {
			c = audit.Cursor()
			k, _ = c.Seek(u64(before))
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		scanned := 0
		for ; k != nil; k, _ = c.Prev() {
			seqKey := k
			if ix != nil {
				if !bytes.HasPrefix(k, prefix) {
					break
				}
				seqKey = k[len(prefix):]
			}
			if scanned >= maxAuditScan {
				next = strconv.FormatUint(readU64(seqKey)+1, 10)
				break
			}
			scanned++
			var e AuditEntry
			ok, err := getJSON(audit, seqKey, &e)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !q.From.IsZero() && e.At.Before(q.From) {
				break
			}
			if !q.matches(e) {
				continue
			}
			if len(out) == limit {
				next = strconv.FormatUint(out[len(out)-1].Seq, 10)
				break
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func (q AuditQuery) matches(e AuditEntry) bool {
	switch {
	case q.ActorID != "" && e.ActorID != q.ActorID,
		q.Action != "" && e.Action != q.Action,
		q.ResourceType != "" && e.ResourceType != q.ResourceType,
		q.ResourceID != "" && e.ResourceID != q.ResourceID,
		q.WorkspaceID != "" && e.WorkspaceID != q.WorkspaceID,
		q.OrganizationID != "" && e.OrganizationID != q.OrganizationID,
		q.Outcome != "" && e.Outcome != q.Outcome,
		!q.To.IsZero() && e.At.After(q.To):
		return false
	}
	return true
}

// lastAuditAtOrBefore returns the seq of the last entry whose At is not
// after t, by binary search over the contiguous seqs (0 if none).
func (tx *Tx) lastAuditAtOrBefore(t time.Time) uint64 {
	audit := tx.bucket(bucketAudit)
	c := audit.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	lo, hi := readU64(first), readU64(last)
	at := func(seq uint64) (time.Time, bool) {
		var e AuditEntry
		ok, err := getJSON(audit, u64(seq), &e)
		return e.At, ok && err == nil
	}
	if a, ok := at(lo); ok && a.After(t) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		a, ok := at(mid)
		if !ok || a.After(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo
}

// AuditVerification is the result of re-walking the chain.
type AuditVerification struct {
	// OK is true when every entry checks out.
	OK bool
	// Entries is how many entries were checked.
	Entries int
	// FirstSeq and LastSeq are the range checked (0 when the log is empty).
	FirstSeq, LastSeq uint64
	// AnchorSeq is the last entry removed by retention (0 if none).
	AnchorSeq uint64
	// Broken names the first entry that does not check out.
	Broken *AuditBreak
}

// AuditBreak is the first entry that fails verification.
type AuditBreak struct {
	Seq    uint64
	ID     string
	Reason string
}

// VerifyAudit re-walks the chain from its anchor: each entry must have the
// next seq, carry the previous entry's hash, and hash to its own Hash; the
// last must be the recorded head. It names the first entry that fails.
func (s *Store) VerifyAudit() (AuditVerification, error) {
	var v AuditVerification
	err := s.View(func(tx *Tx) error {
		anchor, err := tx.auditMark(metaAuditAnchor)
		if err != nil {
			return err
		}
		head, err := tx.auditMark(metaAuditHead)
		if err != nil {
			return err
		}
		v.AnchorSeq = anchor.Seq
		prevHash, want := anchor.Hash, anchor.Seq+1
		fail := func(seq uint64, id, reason string) {
			v.Broken = &AuditBreak{Seq: seq, ID: id, Reason: reason}
		}
		c := tx.bucket(bucketAudit).Cursor()
		for k, data := c.First(); k != nil; k, data = c.Next() {
			seq := readU64(k)
			var e AuditEntry
			if err := json.Unmarshal(data, &e); err != nil {
				fail(seq, "", "the entry is not valid JSON: "+err.Error())
				return nil
			}
			if v.Entries == 0 {
				v.FirstSeq = seq
			}
			v.Entries++
			v.LastSeq = seq
			h, err := e.hash()
			switch {
			case err != nil:
				fail(seq, e.ID, "the entry cannot be encoded: "+err.Error())
			case seq != want:
				fail(seq, e.ID, fmt.Sprintf("expected entry %d here: entries are missing", want))
			case e.Seq != seq:
				fail(seq, e.ID, fmt.Sprintf("the entry says it is number %d", e.Seq))
			case e.PrevHash != prevHash:
				fail(seq, e.ID, "prev_hash does not match the hash of the entry before it")
			case h != e.Hash:
				fail(seq, e.ID, "the entry's content does not match its hash: it was changed")
			}
			if v.Broken != nil {
				return nil
			}
			prevHash, want = e.Hash, seq+1
		}
		if head.Seq != want-1 || head.Hash != prevHash {
			fail(want, "", fmt.Sprintf("the log ends at entry %d but its head names entry %d: entries are missing", want-1, head.Seq))
		}
		return nil
	})
	v.OK = err == nil && v.Broken == nil
	return v, err
}
