package persist_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// appendAudit appends e and waits for its commit.
func appendAudit(t testing.TB, s *persist.Store, e persist.AuditEntry) {
	t.Helper()
	done := make(chan error, 1)
	s.AppendAudit(e, func(err error) { done <- err })
	require.NoError(t, <-done)
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func TestAuditChainUnderConcurrency(t *testing.T) {
	s := persisttest.Open(t)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				appendAudit(t, s, persist.AuditEntry{ActorID: fmt.Sprintf("usr_%d", w), Action: "POST /x",
					Outcome: persist.OutcomeSuccess, Details: map[string]string{"i": strconv.Itoa(i)}})
			}
		}()
	}
	wg.Wait()
	v, err := s.VerifyAudit()
	require.NoError(t, err)
	require.Equal(t, persist.AuditVerification{OK: true, Entries: 400, FirstSeq: 1, LastSeq: 400}, v)

	// Every entry of one actor, newest first, in pages.
	var got []persist.AuditEntry
	cursor := ""
	for {
		page, next, err := s.ListAudit(persist.AuditQuery{ActorID: "usr_3", Limit: 7, Cursor: cursor})
		require.NoError(t, err)
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, got, 25)
	for i, e := range got {
		require.Equal(t, "usr_3", e.ActorID)
		require.Equal(t, strconv.Itoa(24-i), e.Details["i"], "newest first")
		if i > 0 {
			require.Less(t, e.Seq, got[i-1].Seq)
			require.False(t, e.At.After(got[i-1].At), "time follows the chain")
		}
	}
	_, _, err = s.ListAudit(persist.AuditQuery{Cursor: "x"})
	require.ErrorIs(t, err, persist.ErrInvalid)
}

func TestAuditTamperingIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(b *bolt.Bucket, meta *bolt.Bucket)
		seq    uint64
		reason string
	}{
		{"changed details", func(b, _ *bolt.Bucket) {
			v := bytes.Clone(b.Get(seqKey(3)))
			i := bytes.Index(v, []byte(`"n":"3"`))
			v[i+5] = '9'
			_ = b.Put(seqKey(3), v)
		}, 3, "changed"},
		{"not JSON", func(b, _ *bolt.Bucket) { _ = b.Put(seqKey(2), []byte("{")) }, 2, "not valid JSON"},
		{"deleted in the middle", func(b, _ *bolt.Bucket) { _ = b.Delete(seqKey(4)) }, 5, "missing"},
		{"truncated", func(b, _ *bolt.Bucket) { _ = b.Delete(seqKey(5)) }, 5, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openAt(t, dir)
			for i := range 5 {
				appendAudit(t, s, persist.AuditEntry{ActorID: "usr_a", Action: "POST /x", Details: map[string]string{"n": strconv.Itoa(i + 1)}})
			}
			require.NoError(t, s.Close())
			db, err := bolt.Open(dir+"/seshat.db", 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				tc.edit(tx.Bucket([]byte("audit")), tx.Bucket([]byte("meta")))
				return nil
			}))
			require.NoError(t, db.Close())
			s = openAt(t, dir)
			v, err := s.VerifyAudit()
			require.NoError(t, err)
			require.False(t, v.OK)
			require.NotNil(t, v.Broken)
			require.Equal(t, tc.seq, v.Broken.Seq, "%+v", v.Broken)
			require.Contains(t, v.Broken.Reason, tc.reason)
		})
	}
}

func TestAuditRetentionKeepsTheChainVerifiable(t *testing.T) {
	s := persisttest.Open(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		appendAudit(t, s, persist.AuditEntry{ActorID: "usr_a", ResourceID: "ws_" + strconv.Itoa(i%2), At: base.Add(time.Duration(i) * time.Hour)})
	}
	// Time filters.
	page, _, err := s.ListAudit(persist.AuditQuery{From: base.Add(3 * time.Hour), To: base.Add(5 * time.Hour)})
	require.NoError(t, err)
	require.Len(t, page, 3)
	require.Equal(t, uint64(6), page[0].Seq)
	page, _, err = s.ListAudit(persist.AuditQuery{ResourceID: "ws_1", To: base.Add(4 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, []uint64{4, 2}, []uint64{page[0].Seq, page[1].Seq})

	n, err := s.PruneAudit(t.Context(), base.Add(4*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 4, n)
	v, err := s.VerifyAudit()
	require.NoError(t, err)
	require.Equal(t, persist.AuditVerification{OK: true, Entries: 6, FirstSeq: 5, LastSeq: 10, AnchorSeq: 4}, v)
	page, _, err = s.ListAudit(persist.AuditQuery{ResourceID: "ws_0"})
	require.NoError(t, err)
	require.Len(t, page, 3, "the indexes lost the pruned entries too")

	// With a retention, each append prunes what expired.
	dir := t.TempDir()
	r := openAt(t, dir, func(c *persist.Config) { c.AuditRetention = time.Hour })
	old := time.Now().Add(-2 * time.Hour)
	for range 3 {
		appendAudit(t, r, persist.AuditEntry{ActorID: "usr_a", At: old})
	}
	appendAudit(t, r, persist.AuditEntry{ActorID: "usr_a"})
	v, err = r.VerifyAudit()
	require.NoError(t, err)
	require.Equal(t, persist.AuditVerification{OK: true, Entries: 1, FirstSeq: 4, LastSeq: 4, AnchorSeq: 3}, v)
	require.NoError(t, r.Check())
}

// BenchmarkAppendAudit measures audit appends (with fsync) from 1 and 64
// writers, each waiting for its entry's commit as a request would not: the
// writes/commit figure shows entries riding shared commits.
func BenchmarkAppendAudit(b *testing.B) {
	details := map[string]string{"status": "200", "decision": "allow", "request_id": "perm_abcdefghijklmnopqrstuvwxyz"}
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchWrites(b, writers, persist.Config{}, func(s *persist.Store, k []byte) error {
				done := make(chan error, 1)
				s.AppendAudit(persist.AuditEntry{ActorID: "usr_bench", ActorType: persist.ActorUser, Action: "POST /api/v1/query",
					ResourceID: "sess_bench", WorkspaceID: "ws_bench", Outcome: persist.OutcomeSuccess, Details: details},
					func(err error) { done <- err })
				return <-done
			})
		})
	}
}

// TestAuditEntryStoredAsEncoded: an entry is stored exactly as
// encoding/json encodes it, hash included, whatever its details hold, and
// the chain verifies.
func TestAuditEntryStoredAsEncoded(t *testing.T) {
	s := persisttest.Open(t)
	details := []map[string]string{
		nil,
		{},
		{"status": "200", "tool": `<b>&"quoted"</b>`, "unicode": "日本 é \u2028"},
		{"hash": `""}`, "z": "}"},
	}
	var appended []persist.AuditEntry
	for i, d := range details {
		e := persist.AuditEntry{ActorID: "usr_a", ActorType: persist.ActorUser, Action: "POST /x",
			ResourceID: fmt.Sprintf("sess_%d", i), Outcome: persist.OutcomeSuccess, Details: d, IP: "127.0.0.1"}
		appendAudit(t, s, e)
		appended = append(appended, e)
	}
	n := 0
	require.NoError(t, s.RawView(func(tx persist.RawTx) error {
		return tx.Bucket([]byte("audit")).ForEach(func(_, v []byte) error {
			var stored persist.AuditEntry
			require.NoError(t, json.Unmarshal(v, &stored))
			require.NotEmpty(t, stored.Hash)
			// The entry as appended, with what the store assigned.
			e := appended[n]
			e.ID, e.Seq, e.At, e.PrevHash, e.Hash = stored.ID, stored.Seq, stored.At, stored.PrevHash, stored.Hash
			want, err := json.Marshal(e)
			require.NoError(t, err)
			require.Equal(t, string(want), string(v))
			n++
			return nil
		})
	}))
	require.Equal(t, len(details), n)
	v, err := s.VerifyAudit()
	require.NoError(t, err)
	require.True(t, v.OK)
	require.Equal(t, len(details), v.Entries)
}

// Text that is not valid UTF-8 (a path or a header a client sent) is
// stored as encoding/json writes it, and the chain still verifies.
func TestAuditEntryWithInvalidUTF8Verifies(t *testing.T) {
	s := persisttest.Open(t)
	details := map[string]string{"path": "a\xffb", "bad\xfekey": "v"}
	appendAudit(t, s, persist.AuditEntry{ActorID: "usr_a", ActorType: persist.ActorUser, Action: "POST /x\xc3",
		ResourceID: "sess_1", Outcome: persist.OutcomeSuccess, Details: details, IP: "127.0.0.1"})
	appendAudit(t, s, persist.AuditEntry{ActorID: "usr_a", ActorType: persist.ActorUser, Action: "GET /y",
		Outcome: persist.OutcomeSuccess, IP: "127.0.0.1"})
	require.Equal(t, "a\xffb", details["path"], "the caller's details are left as they were")
	v, err := s.VerifyAudit()
	require.NoError(t, err)
	require.True(t, v.OK, "%+v", v.Broken)
	require.Equal(t, 2, v.Entries)
}
