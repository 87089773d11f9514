package scenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seshat-host/seshat/bench/report"
)

// PostgresSuffix ends the name of a scenario's run on the PostgreSQL
// store, beside the same scenario on bbolt: "query (postgres)".
const PostgresSuffix = " (postgres)"

// PostgresScenarios are the scenarios that may run a second time on the
// PostgreSQL store: the ones whose figures depend on the store.
var PostgresScenarios = []string{Query, Streams, Restore}

// onPostgres makes the hosts startHost spawns use a fresh database of
// h.Postgres until the returned func runs, which drops the databases made
// meanwhile.
func (h *Harness) onPostgres() (done func()) {
	h.pgOn = true
	return func() {
		h.pgOn = false
		for _, db := range h.pgDatabases {
			if err := pgExec(context.Background(), h.Postgres, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				h.logf("drop bench database %s: %v", db, err)
			}
		}
		h.pgDatabases = nil
	}
}

// newDatabase creates a database for one host in the server h.Postgres
// names and returns the host's SESHAT_STORE.
func (h *Harness) newDatabase(ctx context.Context, name string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	db := "seshat_bench_" + hex.EncodeToString(b[:])
	if err := pgExec(ctx, h.Postgres, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return "", fmt.Errorf("%s: create a database for the host: %w", name, err)
	}
	h.pgDatabases = append(h.pgDatabases, db)
	u, err := url.Parse(h.Postgres)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	return u.String(), nil
}

// PostgresVersion returns the server version of the database url names.
func PostgresVersion(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(ctx) }()
	var v string
	err = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}

// PostgresDatabaseBytes returns the size of the database url names.
func PostgresDatabaseBytes(ctx context.Context, url string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int64
	err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

func pgExec(ctx context.Context, url, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// runOnPostgres runs scenario name again with every host on a database of
// its own, and names the result with PostgresSuffix.
func (s *Suite) runOnPostgres(name string, run func() report.Result) report.Result {
	done := s.Harness.onPostgres()
	defer done()
	res := run()
	res.Scenario = name + PostgresSuffix
	if res.Params == nil {
		res.Params = map[string]string{}
	}
	res.Params["store"] = "postgres"
	return res
}

// wantPostgres reports whether scenario name runs on PostgreSQL too.
func (s *Suite) wantPostgres(name string) bool {
	return s.Harness.Postgres != "" && s.Harness.Spawned() && slices.Contains(s.Harness.PostgresScenarios, name)
}
