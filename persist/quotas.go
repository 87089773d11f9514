package persist

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Quotas: limits per user, workspace or organization, the durable part of
// their token usage, and stored-byte counters. Buckets (schema version 4):
//
//	quota_limits  scope|id -> QuotaLimits (absent: no limits)
//	quota_usage   scope|id -> QuotaUsage  (tokens of the current UTC day and month)
//	stored_bytes  scope|id -> u64 BE      (bytes of the files in a workspace, of an
//	                                       organization's workspaces, uploaded by a user)
//
// Token usage is added in deltas (AddQuotaUsage) through the group-commit
// writer, so that recording a model call costs no commit of its own and
// concurrent recorders never overwrite each other. Stored bytes are counted
// in the transaction that writes or deletes a file, and their limits are
// checked there, so concurrent uploads cannot overshoot them.
var (
	bucketQuotaLimits = []byte("quota_limits")
	bucketQuotaUsage  = []byte("quota_usage")
	bucketStoredBytes = []byte("stored_bytes")
)

// Quota scopes.
const (
	QuotaUser         = "user"
	QuotaWorkspace    = "workspace"
	QuotaOrganization = "organization"
)

// ValidQuotaScope reports whether scope is user, workspace or
// organization.
func ValidQuotaScope(scope string) bool {
	return scope == QuotaUser || scope == QuotaWorkspace || scope == QuotaOrganization
}

// Names of the limits, as QuotaError.Limit and the API name them.
const (
	LimitRequestsPerMinute = "requests_per_minute"
	LimitTokensPerDay      = "tokens_per_day"
	LimitTokensPerMonth    = "tokens_per_month"
	LimitConcurrentTurns   = "concurrent_turns"
	LimitStoredBytes       = "stored_bytes"
)

// QuotaLimits are the limits of one scope; zero means unlimited.
type QuotaLimits struct {
	RequestsPerMinute int64     `json:"requests_per_minute"`
	TokensPerDay      int64     `json:"tokens_per_day"`
	TokensPerMonth    int64     `json:"tokens_per_month"`
	ConcurrentTurns   int64     `json:"concurrent_turns"`
	StoredBytes       int64     `json:"stored_bytes"`
	UpdatedAt         time.Time `json:"updated_at"`
	UpdatedBy         string    `json:"updated_by"`
}

// Unlimited reports whether no limit is set.
func (l QuotaLimits) Unlimited() bool {
	return l.RequestsPerMinute == 0 && l.TokensPerDay == 0 && l.TokensPerMonth == 0 &&
		l.ConcurrentTurns == 0 && l.StoredBytes == 0
}

// QuotaUsage is the stored token usage of a scope: tokens of the UTC day
// Day ("2006-01-02") and of the UTC month Month ("2006-01").
type QuotaUsage struct {
	Day         string `json:"day"`
	DayTokens   int64  `json:"day_tokens"`
	Month       string `json:"month"`
	MonthTokens int64  `json:"month_tokens"`
}

// Formats of QuotaUsage's windows.
const (
	DayFormat   = "2006-01-02"
	MonthFormat = "2006-01"
)

// At returns u as seen at t: a window that is not t's holds no tokens.
func (u QuotaUsage) At(t time.Time) QuotaUsage {
	t = t.UTC()
	if d := t.Format(DayFormat); u.Day != d {
		u.Day, u.DayTokens = d, 0
	}
	if m := t.Format(MonthFormat); u.Month != m {
		u.Month, u.MonthTokens = m, 0
	}
	return u
}

// QuotaError says which limit of which scope a request would exceed.
type QuotaError struct {
	Scope string
	ID    string
	// Limit is one of the Limit… names.
	Limit string
	// Max is the limit; Used what the scope has used of it.
	Max, Used int64
	// RetryAfter is how long until the limit may admit the request again;
	// zero when only a deletion can (stored bytes).
	RetryAfter time.Duration
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota exceeded: %s of %s %s is %d (used %d)", e.Limit, e.Scope, e.ID, e.Max, e.Used)
}

// Is makes errors.Is(err, ErrQuotaExceeded) hold.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

// ScopedLimits are the limits of one scope.
type ScopedLimits struct {
	Scope, ID string
	Limits    QuotaLimits
}

// SetQuotaLimits stores the limits of a scope; all-zero limits remove
// them. The scope's subject must exist (ErrNotFound).
func (s *Store) SetQuotaLimits(ctx context.Context, scope, id string, l QuotaLimits) (QuotaLimits, error) {
	if !ValidQuotaScope(scope) {
		return QuotaLimits{}, fmt.Errorf("persist: quota scope %q: %w", scope, ErrInvalid)
	}
	if l.RequestsPerMinute < 0 || l.TokensPerDay < 0 || l.TokensPerMonth < 0 || l.ConcurrentTurns < 0 || l.StoredBytes < 0 {
		return QuotaLimits{}, fmt.Errorf("persist: negative quota limit: %w", ErrInvalid)
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = now()
	}
	l.UpdatedAt = normTime(l.UpdatedAt)
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.quotaSubjectExists(scope, id); err != nil {
			return err
		}
		b := tx.bucket(bucketQuotaLimits)
		if l.Unlimited() {
			return b.Delete(key(scope, id))
		}
		return putJSON(b, key(scope, id), l)
	})
	return l, err
}

func (tx *Tx) quotaSubjectExists(scope, id string) error {
	if err := checkID(scope+" id", id); err != nil {
		return fmt.Errorf("persist: %s %s: %w", scope, id, ErrNotFound)
	}
	var err error
	switch scope {
	case QuotaUser:
		_, err = tx.user(id)
	case QuotaWorkspace:
		_, err = tx.workspace(id)
	case QuotaOrganization:
		_, err = tx.organization(id)
	}
	return err
}

// QuotaLimits returns the limits of a scope (zero: none).
func (s *Store) QuotaLimits(scope, id string) (QuotaLimits, error) {
	var l QuotaLimits
	err := s.View(func(tx *Tx) error {
		_, err := getJSON(tx.bucket(bucketQuotaLimits), key(scope, id), &l)
		return err
	})
	return l, err
}

// AllQuotaLimits returns every scope that has limits.
func (s *Store) AllQuotaLimits() ([]ScopedLimits, error) {
	var out []ScopedLimits
	err := s.View(func(tx *Tx) error {
		b := tx.bucket(bucketQuotaLimits)
		return b.ForEach(func(k, v []byte) error {
			scope, id, _ := strings.Cut(string(k), "\x00")
			var l QuotaLimits
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("persist: decode quota limits of %s %s: %w", scope, id, err)
			}
			out = append(out, ScopedLimits{Scope: scope, ID: id, Limits: l})
			return nil
		})
	})
	return out, err
}

// QuotaUsage returns the stored token usage of a scope, as seen at at.
func (s *Store) QuotaUsage(scope, id string, at time.Time) (QuotaUsage, error) {
	var u QuotaUsage
	err := s.View(func(tx *Tx) error {
		_, err := getJSON(tx.bucket(bucketQuotaUsage), key(scope, id), &u)
		return err
	})
	return u.At(at), err
}

// UsageDelta is tokens to add to a scope's usage in the day and month of
// At.
type UsageDelta struct {
	Scope, ID string
	At        time.Time
	Tokens    int64
}

// AddQuotaUsage queues the deltas as one lazy group-committed write
// (UpdateLazy) and returns at once; done, if not nil, gets the result on
// the writer goroutine (see UpdateAsync). A delta of a day or month older than the
// stored one counts toward the stored month only if it is the same month.
func (s *Store) AddQuotaUsage(deltas []UsageDelta, done func(error)) {
	s.UpdateLazy(func(tx *Tx) error {
		b := tx.bucket(bucketQuotaUsage)
		for _, d := range deltas {
			if d.Tokens == 0 {
				continue
			}
			k := key(d.Scope, d.ID)
			var u QuotaUsage
			if _, err := getJSON(b, k, &u); err != nil {
				return err
			}
			day, month := d.At.UTC().Format(DayFormat), d.At.UTC().Format(MonthFormat)
			switch {
			case u.Day == day:
				u.DayTokens += d.Tokens
			case u.Day < day:
				u.Day, u.DayTokens = day, d.Tokens
			}
			switch {
			case u.Month == month:
				u.MonthTokens += d.Tokens
			case u.Month < month:
				u.Month, u.MonthTokens = month, d.Tokens
			}
			if err := putJSON(b, k, u); err != nil {
				return err
			}
		}
		return nil
	}, done)
}

// StoredBytes returns the bytes a scope stores: the files of a workspace,
// of an organization's workspaces, or uploaded by a user.
func (s *Store) StoredBytes(scope, id string) (int64, error) {
	var n int64
	err := s.View(func(tx *Tx) error {
		n = int64(readU64(tx.bucket(bucketStoredBytes).Get(key(scope, id))))
		return nil
	})
	return n, err
}

// countStored adds delta bytes to the stored-bytes counters of workspace
// wsID, of its organization and of userID (if not empty). A positive delta
// that takes one of them past its stored_bytes limit (for a user without
// one, StorageSetting.DefaultUserStoredBytes) fails with a *QuotaError and
// changes nothing.
func (tx *Tx) countStored(wsID, userID string, delta int64) error {
	if delta == 0 {
		return nil
	}
	type scoped struct{ scope, id string }
	scopes := []scoped{{QuotaWorkspace, wsID}}
	if ws, err := tx.workspace(wsID); err == nil && ws.OrganizationID != "" {
		scopes = append(scopes, scoped{QuotaOrganization, ws.OrganizationID})
	}
	if userID != "" {
		scopes = append(scopes, scoped{QuotaUser, userID})
	}
	b := tx.bucket(bucketStoredBytes)
	limits := tx.bucket(bucketQuotaLimits)
	if delta > 0 {
		for _, sc := range scopes {
			var l QuotaLimits
			if _, err := getJSON(limits, key(sc.scope, sc.id), &l); err != nil {
				return err
			}
			if sc.scope == QuotaUser && l.StoredBytes == 0 {
				// A user with no stored_bytes limit of their own has the
				// storage setting's default_user_stored_bytes, if any.
				var st StorageSetting
				if _, err := getJSON(tx.bucket(bucketKnowledgeSettings), settingStorage, &st); err != nil {
					return err
				}
				l.StoredBytes = st.DefaultUserStoredBytes
			}
			cur := int64(readU64(b.Get(key(sc.scope, sc.id))))
			if l.StoredBytes > 0 && cur+delta > l.StoredBytes {
				return &QuotaError{Scope: sc.scope, ID: sc.id, Limit: LimitStoredBytes, Max: l.StoredBytes, Used: cur}
			}
		}
	}
	for _, sc := range scopes {
		k := key(sc.scope, sc.id)
		n := max(0, int64(readU64(b.Get(k)))+delta)
		if n == 0 {
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		if err := b.Put(k, u64(uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

// deleteQuotaRecords removes the limits, usage and counters of a scope.
func (tx *Tx) deleteQuotaRecords(scope, id string) error {
	for _, name := range [][]byte{bucketQuotaLimits, bucketQuotaUsage, bucketStoredBytes} {
		if err := tx.bucket(name).Delete(key(scope, id)); err != nil {
			return err
		}
	}
	return nil
}
