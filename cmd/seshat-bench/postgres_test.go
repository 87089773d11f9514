package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/persist/persisttest"
)

// benchDatabases counts the databases the bench made and left behind.
func benchDatabases(t *testing.T, base string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'seshat_bench_%'`).Scan(&n))
	return n
}

// TestBenchOnPostgres runs the store-bound scenarios, tiny, on bbolt and
// then on PostgreSQL in the same run: each PostgreSQL host on a database
// of its own, dropped after its scenario.
func TestBenchOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	persisttest.Schema(t) // skips, or fails, without a reachable server
	base := persisttest.PostgresURL()
	before := benchDatabases(t, base)
	bin := buildServer(t)
	rep, table := runBench(t, "-spawn", "-server", bin, "-scenarios", "query,streams,restore", "-postgres", base)
	checkClean(t, rep)
	var names []string
	for _, res := range rep.Results {
		names = append(names, res.Scenario)
	}
	require.Equal(t, []string{"baseline", "query", "query (postgres)", "streams", "streams (postgres)", "restore", "restore (postgres)"}, names)
	for _, name := range []string{"query", "streams", "restore"} {
		res, ok := rep.Find(name + " (postgres)")
		require.True(t, ok)
		require.Equal(t, "postgres", res.Params["store"])
	}
	restore, _ := rep.Find("restore (postgres)")
	stored, ok := restore.Step("store 50")
	require.True(t, ok)
	db, ok := stored.Val("database")
	require.True(t, ok)
	require.Positive(t, db, "the database's size is reported")
	require.Contains(t, rep.Setup["postgres"], "PostgreSQL ")
	require.Contains(t, table, "== restore (postgres): ok")
	require.Equal(t, before, benchDatabases(t, base), "the bench drops the databases it made")

	_, err := parseFlags([]string{"-url", "http://127.0.0.1:1", "-postgres", base}, &strings.Builder{})
	require.ErrorContains(t, err, "-postgres needs -spawn")
	_, err = parseFlags([]string{"-spawn", "-postgres", base, "-postgres-scenarios", "memory"}, &strings.Builder{})
	require.ErrorContains(t, err, `"memory" is not one of query,streams,restore`)
}
