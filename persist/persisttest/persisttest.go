// Package persisttest opens real stores for tests. Import it only from
// _test.go files.
package persisttest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
)

// Open returns a real store in a fresh t.TempDir(). It runs with NoSync,
// since tests need no durability and fsync dominates their run time. On
// cleanup it checks the store's consistency (bbolt's and the store's own
// invariants) and closes it.
func Open(t testing.TB) *persist.Store {
	t.Helper()
	s, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Check(), "store consistency")
		require.NoError(t, s.Close())
	})
	return s
}
