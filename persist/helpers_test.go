package persist_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

var seq atomic.Int64

// uniq returns a name unique within the test binary.
func uniq(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, seq.Add(1))
}

// openAt opens a store in dir and closes it on cleanup, after a check.
// Tests that reopen a dir or look at its files use it instead of
// persisttest.Open.
func openAt(t testing.TB, dir string, mod ...func(*persist.Config)) *persist.Store {
	t.Helper()
	cfg := persist.Config{Dir: dir, NoSync: true}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Close is idempotent: tests that closed already get nil here.
		require.NoError(t, s.Close())
	})
	return s
}

// newUser creates a user with its personal workspace.
func newUser(t testing.TB, s *persist.Store) persist.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), persist.User{Email: uniq("user") + "@example.com", Name: "U"},
		persist.Workspace{Name: "Personal"})
	require.NoError(t, err)
	return u
}

// newSession creates a session in ws created at the given time.
func newSession(t testing.TB, s *persist.Store, ws string, created time.Time, title string) persist.Session {
	t.Helper()
	sess := persist.Session{ID: uniq("sess"), WorkspaceID: ws, Title: title, CreatedAt: created}
	require.NoError(t, s.CreateSession(t.Context(), sess))
	got, err := s.Session(sess.ID)
	require.NoError(t, err)
	return got
}

// save runs SaveSession and waits for its result.
func save(t testing.TB, s *persist.Store, sv persist.SessionSave) error {
	t.Helper()
	ch := make(chan error, 1)
	s.SaveSession(sv, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("SaveSession did not report")
		return nil
	}
}

// openEngine opens a store with persisttest.OpenConfig, on the engine the
// test runs on (see TestConformance), with mod applied to its config.
func openEngine(t testing.TB, mod ...func(*persist.Config)) *persist.Store {
	t.Helper()
	var cfg persist.Config
	for _, m := range mod {
		m(&cfg)
	}
	return persisttest.OpenConfig(t, cfg)
}

// reopen opens a store on cfg (from persisttest.Config, so on the engine
// the test runs on) and closes it on cleanup; tests call it again with the
// same cfg to reopen the same data.
func reopen(t testing.TB, cfg persist.Config) *persist.Store {
	t.Helper()
	s, err := persist.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
