// Package persisttest opens real stores for tests. Import it only from
// _test.go files.
//
// Stores are bbolt files in a fresh t.TempDir(), or, when
// SESHAT_TEST_POSTGRES holds a postgres:// URL, PostgreSQL stores, each in
// a schema of its own (dropped on cleanup) so that tests run in parallel.
// With SESHAT_REQUIRE_POSTGRES=1 a missing or unreachable database fails
// the tests that need one instead of skipping them.
package persisttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist"
)

// Engine names.
const (
	Bolt     = "bolt"
	Postgres = "postgres"
)

// PostgresURL returns the test database's URL, or "" with none configured.
func PostgresURL() string { return os.Getenv("SESHAT_TEST_POSTGRES") }

// RequirePostgres reports whether a missing database must fail tests.
func RequirePostgres() bool { return os.Getenv("SESHAT_REQUIRE_POSTGRES") == "1" }

// Engines returns the engines to run engine-independent tests on: bbolt,
// and PostgreSQL when configured. Without one it logs why PostgreSQL is
// left out, or fails t under SESHAT_REQUIRE_POSTGRES=1.
func Engines(t testing.TB) []string {
	t.Helper()
	if PostgresURL() == "" {
		if RequirePostgres() {
			t.Fatal("SESHAT_REQUIRE_POSTGRES=1 but SESHAT_TEST_POSTGRES is not set")
		}
		t.Log("no PostgreSQL: set SESHAT_TEST_POSTGRES=postgres://… to run these tests on it too")
		return []string{Bolt}
	}
	return []string{Bolt, Postgres}
}

// forced maps test-name prefixes to the engine Open uses under them.
var forced sync.Map

// Force makes Open use engine in t and its subtests, whatever
// SESHAT_TEST_POSTGRES says, until t ends.
func Force(t testing.TB, engine string) {
	prefix := t.Name() + "/"
	forced.Store(prefix, engine)
	t.Cleanup(func() { forced.Delete(prefix) })
}

// engineFor returns the engine a store opened in t uses.
func engineFor(t testing.TB) string {
	name := t.Name() + "/"
	engine := ""
	forced.Range(func(k, v any) bool {
		if strings.HasPrefix(name, k.(string)) {
			engine = v.(string)
			return false
		}
		return true
	})
	if engine != "" {
		return engine
	}
	if PostgresURL() != "" {
		return Postgres
	}
	return Bolt
}

// Open returns a real store: see the package comment for which engine. It
// runs with NoSync, since tests need no durability and fsync dominates
// their run time. On cleanup it checks the store's consistency (the
// engine's and the store's own invariants) and closes it.
func Open(t testing.TB) *persist.Store {
	t.Helper()
	return OpenConfig(t, persist.Config{})
}

// Config returns cfg with Dir, NoSync and the engine settings filled in,
// for tests that close a store and open it again on the same data: each
// call makes a fresh data dir (and schema), each persist.Open of the
// result opens the same one.
func Config(t testing.TB, cfg persist.Config) persist.Config {
	t.Helper()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	if engineFor(t) == Postgres {
		cfg = PostgresConfig(t, cfg)
	}
	return cfg
}

// OpenConfig is Open with cfg's other fields; Dir, NoSync and the engine
// settings are filled in.
func OpenConfig(t testing.TB, cfg persist.Config) *persist.Store {
	t.Helper()
	s, err := persist.Open(Config(t, cfg))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Check(), "store consistency")
		require.NoError(t, s.Close())
	})
	return s
}

// Schema creates an empty schema in the test database, dropped when t
// ends, and returns the database URL with the schema appended after a
// "#" (see splitSchema). It skips t without a database, or fails it
// under SESHAT_REQUIRE_POSTGRES=1.
func Schema(t testing.TB) string {
	t.Helper()
	url := PostgresURL()
	if url == "" {
		if RequirePostgres() {
			t.Fatal("SESHAT_REQUIRE_POSTGRES=1 but SESHAT_TEST_POSTGRES is not set")
		}
		t.Skip("no PostgreSQL: set SESHAT_TEST_POSTGRES=postgres://…")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if RequirePostgres() {
			t.Fatalf("PostgreSQL at SESHAT_TEST_POSTGRES unreachable: %v", err)
		}
		t.Skipf("PostgreSQL at SESHAT_TEST_POSTGRES unreachable: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return url + "#" + schema
}

// splitSchema splits what Schema returns into the URL and the schema.
func splitSchema(s string) (url, schema string) {
	i := strings.LastIndexByte(s, '#')
	return s[:i], s[i+1:]
}

// PostgresConfig returns cfg set to use a fresh schema of the test
// database (see Schema).
func PostgresConfig(t testing.TB, cfg persist.Config) persist.Config {
	t.Helper()
	cfg.URL, cfg.PostgresSchema = splitSchema(Schema(t))
	if cfg.PostgresMaxConns == 0 {
		cfg.PostgresMaxConns = 4
	}
	return cfg
}
