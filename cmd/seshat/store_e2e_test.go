package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// postgresStore creates a database of its own in the test PostgreSQL
// server, dropped when t ends, and returns its URL for SESHAT_STORE. It
// skips t without a server (fails it under SESHAT_REQUIRE_POSTGRES=1).
func postgresStore(t *testing.T) string {
	t.Helper()
	persisttest.Schema(t) // skips, or fails, without a reachable server
	base := persisttest.PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "e2e_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test database %s: %v", db, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + db
	return u.String()
}

// TestStorePostgres runs the server with SESHAT_STORE on PostgreSQL: a
// second server on another data dir and the same database sees the first
// one's accounts and sessions, and uniqueness holds across them.
func TestStorePostgres(t *testing.T) {
	store := postgresStore(t)
	// Servers sharing a store share its keys too.
	env := map[string]string{"SESHAT_STORE": store, "SESHAT_MASTER_KEY": strings.Repeat("5e", 32),
		"SESHAT_JWT_SECRET": strings.Repeat("j", 40)}
	s := startServer(t, "", env)
	a := s.register(t, "pg@example.com", "password123").Token
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: a, Body: map[string]any{"title": "Kept in PostgreSQL"}})
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	var created apitype.Session
	resp.JSON(t, &created)
	require.NoError(t, s.Stop())

	s2 := startServer(t, "", env)
	resp = s2.login(t, "pg@example.com", "password123")
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var auth apitype.AuthResponse
	resp.JSON(t, &auth)
	var got apitype.Session
	resp = s2.get(t, "/api/v1/sessions/"+created.ID, auth.Token)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	resp.JSON(t, &got)
	require.Equal(t, "Kept in PostgreSQL", got.Title)
	requireAPIError(t, s2.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
		Body: apitype.RegisterRequest{Email: "pg@example.com", Password: "password123", Name: "Again"}}), http.StatusConflict, "conflict")
}
