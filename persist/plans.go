package persist

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plans proposed by turns in plan mode. Buckets (schema version 10):
//
//	plans               planID -> Plan (the latest version)
//	plan_versions       planID|u32 BE version -> Plan (every version, oldest first)
//	plans_by_workspace  workspaceID|created (timeKey)|planID -> ""
//	plans_open          sessionID -> planID of the session's plan a new proposal revises
//
// A version's title and content never change once written: an edit or a
// new proposal writes version n+1 and marks the one before it superseded.
// Only a version's status and decision fields change, when a person
// decides it or a turn carries it out.
var (
	bucketPlans            = []byte("plans")
	bucketPlanVersions     = []byte("plan_versions")
	bucketPlansByWorkspace = []byte("plans_by_workspace")
	bucketPlansOpen        = []byte("plans_open")
)

// Plan statuses.
const (
	PlanProposed   = "proposed"
	PlanApproved   = "approved"
	PlanRejected   = "rejected"
	PlanSuperseded = "superseded"
	PlanExecuted   = "executed"
)

// Plan is one version of a plan.
type Plan struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	SessionID   string `json:"session_id"`
	// TurnID is the turn that proposed this version; empty for a version
	// a person wrote.
	TurnID  string `json:"turn_id"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Version int    `json:"version"`
	Status  string `json:"status"`
	// Feedback is what the person who rejected the version said.
	Feedback  string    `json:"feedback"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// PlanCreatedAt is when version 1 was written; the listing order.
	PlanCreatedAt  time.Time `json:"plan_created_at"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecidedBy      string    `json:"decided_by"`
	ExecutedTurnID string    `json:"executed_turn_id"`
}

func planVersionKey(id string, version int) []byte {
	k := prefixKey(id)
	return binary.BigEndian.AppendUint32(k, uint32(version))
}

// Plan returns the latest version of a plan, or ErrNotFound.
func (s *Store) Plan(id string) (Plan, error) { return view(s, (*Tx).Plan, id) }

// Plan is Store.Plan inside tx.
func (tx *Tx) Plan(id string) (Plan, error) {
	return record[Plan](tx, bucketPlans, "plan", id)
}

// PlanVersions returns every version of a plan, oldest first.
func (s *Store) PlanVersions(id string) ([]Plan, error) {
	var out []Plan
	err := s.View(func(tx *Tx) error {
		if _, err := tx.Plan(id); err != nil {
			return err
		}
		p := prefixKey(id)
		c := tx.bucket(bucketPlanVersions).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var pl Plan
			if err := decodeJSON(v, &pl); err != nil {
				return err
			}
			out = append(out, pl)
		}
		return nil
	})
	return out, err
}

func decodeJSON(v []byte, out any) error {
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("persist: decode plan: %w", err)
	}
	return nil
}

// putPlanVersion writes p as its version and as the plan's latest.
func (tx *Tx) putPlanVersion(p Plan) error {
	if err := putJSON(tx.bucket(bucketPlanVersions), planVersionKey(p.ID, p.Version), p); err != nil {
		return err
	}
	return putJSON(tx.bucket(bucketPlans), []byte(p.ID), p)
}

// setVersionStatus rewrites one stored version's status.
func (tx *Tx) setVersionStatus(p Plan) error {
	return putJSON(tx.bucket(bucketPlanVersions), planVersionKey(p.ID, p.Version), p)
}

func checkPlanText(title, content string) error {
	if strings.TrimSpace(content) == "" {
		return fmt.Errorf("persist: empty plan content: %w", ErrInvalid)
	}
	_ = title
	return nil
}

// ProposePlan records a plan a turn proposed. If the session has a plan
// still proposed or rejected, the proposal is its next version (the one
// before is superseded, a rejected one keeps its decision); else it is a
// new plan with id newID. It returns the version written.
func (s *Store) ProposePlan(ctx context.Context, p Plan, newID string) (Plan, error) {
	var out Plan
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.ProposePlan(p, newID)
		return err
	})
	return out, err
}

// ProposePlan is Store.ProposePlan inside tx.
func (tx *Tx) ProposePlan(p Plan, newID string) (Plan, error) {
	for what, id := range map[string]string{"workspace id": p.WorkspaceID, "session id": p.SessionID} {
		if err := checkID(what, id); err != nil {
			return Plan{}, err
		}
	}
	if err := checkPlanText(p.Title, p.Content); err != nil {
		return Plan{}, err
	}
	at := normTime(now())
	p.CreatedAt, p.Status, p.Feedback, p.DecidedAt, p.DecidedBy, p.ExecutedTurnID = at, PlanProposed, "", time.Time{}, "", ""
	open := tx.bucket(bucketPlansOpen)
	if id := open.Get([]byte(p.SessionID)); id != nil {
		prev, err := tx.Plan(string(id))
		if err != nil {
			return Plan{}, err
		}
		if prev.Status == PlanProposed || prev.Status == PlanRejected {
			if prev.Status == PlanProposed {
				prev.Status = PlanSuperseded
				if err := tx.setVersionStatus(prev); err != nil {
					return Plan{}, err
				}
			}
			p.ID, p.Version, p.PlanCreatedAt = prev.ID, prev.Version+1, prev.PlanCreatedAt
			return p, tx.putPlanVersion(p)
		}
	}
	if err := checkID("plan id", newID); err != nil {
		return Plan{}, err
	}
	if tx.bucket(bucketWorkspaces).Get([]byte(p.WorkspaceID)) == nil {
		return Plan{}, fmt.Errorf("persist: workspace %s: %w", p.WorkspaceID, ErrNotFound)
	}
	p.ID, p.Version, p.PlanCreatedAt = newID, 1, at
	if err := tx.bucket(bucketPlansByWorkspace).Put(append(append(prefixKey(p.WorkspaceID), timeKey(at)...), p.ID...), nil); err != nil {
		return Plan{}, err
	}
	if err := open.Put([]byte(p.SessionID), []byte(p.ID)); err != nil {
		return Plan{}, err
	}
	return p, tx.putPlanVersion(p)
}

// UpdatePlan applies fn to the latest version of a plan inside one
// transaction. fn returns the version to write: one with a higher Version
// is appended (and the latest is rewritten as fn left it, its status
// superseded); one with the same Version rewrites that version's status
// and decision. Title and content of a written version never change.
func (s *Store) UpdatePlan(ctx context.Context, id string, fn func(cur Plan) (next Plan, err error)) (Plan, error) {
	var out Plan
	err := s.Update(ctx, func(tx *Tx) error {
		cur, err := tx.Plan(id)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		next.ID, next.WorkspaceID, next.SessionID, next.PlanCreatedAt = cur.ID, cur.WorkspaceID, cur.SessionID, cur.PlanCreatedAt
		switch {
		case next.Version == cur.Version+1:
			if err := checkPlanText(next.Title, next.Content); err != nil {
				return err
			}
			cur.Status = PlanSuperseded
			if err := tx.setVersionStatus(cur); err != nil {
				return err
			}
			next.CreatedAt = normTime(now())
		case next.Version == cur.Version:
			next.Title, next.Content, next.TurnID, next.CreatedAt, next.CreatedBy = cur.Title, cur.Content, cur.TurnID, cur.CreatedAt, cur.CreatedBy
			next.DecidedAt = normTime(next.DecidedAt)
			open := tx.bucket(bucketPlansOpen)
			switch {
			case next.Status == PlanProposed || next.Status == PlanRejected:
				// Still open: the session's next proposal revises it.
				if err := open.Put([]byte(cur.SessionID), []byte(cur.ID)); err != nil {
					return err
				}
			case bytes.Equal(open.Get([]byte(cur.SessionID)), []byte(cur.ID)):
				// Decided for good: a new proposal in the session is a
				// new plan.
				if err := open.Delete([]byte(cur.SessionID)); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("persist: plan %s version %d after %d: %w", id, next.Version, cur.Version, ErrInvalid)
		}
		out = next
		return tx.putPlanVersion(next)
	})
	return out, err
}

// OpenPlan returns the session's plan that is still proposed or rejected
// (the one its next proposal revises), if there is one.
func (s *Store) OpenPlan(sessionID string) (Plan, bool, error) {
	var (
		p  Plan
		ok bool
	)
	err := s.View(func(tx *Tx) error {
		id := tx.bucket(bucketPlansOpen).Get([]byte(sessionID))
		if id == nil {
			return nil
		}
		var err error
		if p, err = tx.Plan(string(id)); err != nil {
			return err
		}
		ok = p.Status == PlanProposed || p.Status == PlanRejected
		return nil
	})
	return p, ok, err
}

// PlanQuery selects plans for a listing.
type PlanQuery struct {
	WorkspaceIDs []string
	SessionID    string
	Status       string
	Limit        int
	// Cursor is the id of the last plan of the page before.
	Cursor string
}

// Plans lists the latest versions of the plans in q's workspaces, newest
// first, and the cursor of the next page ("" at the end).
func (s *Store) Plans(q PlanQuery) ([]Plan, string, error) {
	var all []Plan
	err := s.View(func(tx *Tx) error {
		for _, ws := range q.WorkspaceIDs {
			p := prefixKey(ws)
			c := tx.bucket(bucketPlansByWorkspace).Cursor()
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				if len(k) < len(p)+8 {
					continue
				}
				pl, err := tx.Plan(string(k[len(p)+8:]))
				if err != nil {
					return err
				}
				if (q.SessionID == "" || pl.SessionID == q.SessionID) && (q.Status == "" || pl.Status == q.Status) {
					all = append(all, pl)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b Plan) int {
		if c := b.PlanCreatedAt.Compare(a.PlanCreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if q.Cursor != "" {
		i := slices.IndexFunc(all, func(p Plan) bool { return p.ID == q.Cursor })
		if i < 0 {
			return nil, "", ErrBadCursor
		}
		all = all[i+1:]
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	if len(all) > limit {
		return all[:limit], all[limit-1].ID, nil
	}
	return all, "", nil
}

// deletePlansWhere removes the plans of a workspace for which drop is
// true, with every version and index entry.
func (tx *Tx) deletePlansWhere(wsID string, drop func(Plan) bool) error {
	p := prefixKey(wsID)
	idx := tx.bucket(bucketPlansByWorkspace)
	var keys [][]byte
	var ids []string
	c := idx.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if len(k) < len(p)+8 {
			continue
		}
		id := string(k[len(p)+8:])
		pl, err := tx.Plan(id)
		if err != nil {
			return err
		}
		if drop(pl) {
			keys, ids = append(keys, bytes.Clone(k)), append(ids, id)
		}
	}
	for i, id := range ids {
		pl, err := tx.Plan(id)
		if err != nil {
			return err
		}
		if err := tx.deletePrefixOf(bucketPlanVersions, prefixKey(id)); err != nil {
			return err
		}
		if open := tx.bucket(bucketPlansOpen); bytes.Equal(open.Get([]byte(pl.SessionID)), []byte(id)) {
			if err := open.Delete([]byte(pl.SessionID)); err != nil {
				return err
			}
		}
		if err := tx.bucket(bucketPlans).Delete([]byte(id)); err != nil {
			return err
		}
		if err := idx.Delete(keys[i]); err != nil {
			return err
		}
	}
	return nil
}
