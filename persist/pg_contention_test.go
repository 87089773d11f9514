package persist_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestPostgresFailedTransactionKeepsItsBuckets: once a statement of a
// transaction failed, the database refuses the rest of it, so a bucket
// lookup cannot tell whether the bucket exists. It returns the bucket
// rather than nil (which callers take for a bucket that migrations never
// created), and the transaction fails with the database's error. The
// store is new, so that no lookup is answered from what it learnt before.
func TestPostgresFailedTransactionKeepsItsBuckets(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	a, err := persist.Open(cfg)
	require.NoError(t, err)
	require.NoError(t, a.RawUpdate(func(tx persist.RawTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("failed_test"))
		if err != nil {
			return err
		}
		_, err = b.CreateBucketIfNotExists([]byte("in"))
		return err
	}))
	require.NoError(t, a.Close())

	b, err := persist.Open(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	huge := make([]byte, 8000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range huge {
		huge[i] = byte(rng.Uint32()) // incompressible: too large for the key's index
	}
	var top, nested, missing bool
	err = b.RawUpdate(func(tx persist.RawTx) error {
		mb := tx.Bucket([]byte("meta"))
		if err := mb.Put(huge, []byte("x")); err != nil {
			return err
		}
		// The read sends the refused write first: the transaction fails.
		_ = mb.Get([]byte("schema_version"))
		fb := tx.Bucket([]byte("failed_test"))
		top = fb != nil
		if fb != nil {
			nested = fb.Bucket([]byte("in")) != nil
			missing = fb.Bucket([]byte("no_such")) != nil
		}
		return nil
	})
	require.Error(t, err, "the transaction fails with the refused write")
	require.True(t, top, "a top-level bucket is found after the failure")
	require.True(t, nested, "a nested bucket is found after the failure")
	require.True(t, missing, "nothing is known after the failure: no bucket is reported missing")
	require.NoError(t, b.RawView(func(tx persist.RawTx) error {
		require.NotNil(t, tx.Bucket([]byte("failed_test")).Bucket([]byte("in")))
		require.Nil(t, tx.Bucket([]byte("failed_test")).Bucket([]byte("no_such")), "a good transaction still finds a missing bucket missing")
		return nil
	}))
}

// TestPostgresWritersOfTwoStoresDoNotFail runs two stores on one schema,
// as two hosts of a cluster: many goroutines on each append audit entries
// (every append reads and writes the chain's head) and save sessions of
// their own at once. Every write succeeds, and the chain verifies.
func TestPostgresWritersOfTwoStoresDoNotFail(t *testing.T) {
	cfg := persisttest.PostgresConfig(t, persist.Config{Dir: t.TempDir(), NoSync: true})
	a, err := persist.Open(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	cfg2 := cfg
	cfg2.Dir = t.TempDir()
	b, err := persist.Open(cfg2)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()

	const workers, rounds = 6, 15
	u := newUser(t, a)
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*rounds*2)
	for si, s := range []*persist.Store{a, b} {
		for w := range workers {
			sess := newSession(t, s, u.DefaultWorkspaceID, time.Now(), fmt.Sprintf("s%d-%d", si, w))
			wg.Go(func() {
				for i := range rounds {
					done := make(chan error, 2)
					s.AppendAudit(persist.AuditEntry{ActorID: u.ID, Action: "POST /x", Outcome: persist.OutcomeSuccess,
						Details: map[string]string{"i": strconv.Itoa(i)}}, func(err error) { done <- err })
					s.SaveSession(persist.SessionSave{Session: sess, IndexText: fmt.Sprintf("round%d words w%d s%d", i, w, si),
						Snapshot: persist.Snapshot{Version: uint16(i + 1), Data: []byte("x")}}, func(err error) { done <- err })
					errs <- <-done
					errs <- <-done
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v, err := b.VerifyAudit()
	require.NoError(t, err)
	require.True(t, v.OK, "%+v", v)
	require.GreaterOrEqual(t, v.Entries, 2*workers*rounds)
}
