package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

// TestStorePostgresFiles runs two servers at once on one PostgreSQL
// database, each with a data dir of its own: a file uploaded on one is
// downloaded, read by a tool and ingested into a corpus on the other,
// since its bytes are in the database; replacing and deleting it on the
// other takes them away for both.
func TestStorePostgresFiles(t *testing.T) {
	store := postgresStore(t)
	env := map[string]string{"SESHAT_STORE": store, "SESHAT_MASTER_KEY": strings.Repeat("5e", 32),
		"SESHAT_JWT_SECRET": strings.Repeat("j", 40)}
	one := startServer(t, "", env)
	two := startServer(t, "", env)
	tok := one.register(t, "files@example.com", "password123").Token

	notes := one.uploadFile(t, tok, "falcons.md", "text/markdown", []byte(falconText), nil)
	big := make([]byte, 3<<20+17) // several chunks, the last one short
	for i := range big {
		big[i] = byte(i * 31 >> 3)
	}
	bin := one.uploadFile(t, tok, "big.bin", "application/octet-stream", big, nil)

	resp := two.get(t, "/api/v1/files/"+notes.ID+"/content", tok)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.Equal(t, falconText, string(resp.Body))
	resp = two.get(t, "/api/v1/files/"+bin.ID+"/content", tok)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.True(t, bytes.Equal(big, resp.Body), "the large file comes back byte for byte")

	input, err := json.Marshal(map[string]string{"path": "falcons.md"})
	require.NoError(t, err)
	r := two.query(t, tok, apitype.QueryRequest{Prompt: "@tool read_file " + string(input)})
	require.Len(t, r.ToolResults, 1)
	require.False(t, r.ToolResults[0].IsError, "%s", r.ToolResults[0].Content)
	require.Contains(t, r.ToolResults[0].Content, "peregrine falcon")

	corp := created[apitype.Corpus](t, two.call(t, http.MethodPost, "/api/v1/corpora", tok, apitype.CreateCorpusRequest{Name: "Birds"}), 201)
	created[apitype.IngestJob](t, two.call(t, http.MethodPost, "/api/v1/corpora/"+corp.ID+"/files", tok, apitype.AddCorpusFilesRequest{FileIDs: []string{notes.ID}}), 202)
	files, _ := two.waitIngested(t, tok, corp.ID)
	require.Equal(t, "completed", files[notes.ID].Status, "%+v", files[notes.ID])
	hits := created[apitype.SearchCorpusResponse](t, two.call(t, http.MethodPost, "/api/v1/corpora/"+corp.ID+"/search", tok,
		apitype.SearchCorpusRequest{Query: "how fast does the peregrine falcon dive", Ranker: "bm25"}), 200)
	require.NotEmpty(t, hits.Data)
	require.Equal(t, "falcons.md", hits.Data[0].Path)

	st := created[apitype.StorageSettings](t, two.get(t, "/api/v1/settings/storage", tok), 200)
	require.Equal(t, int64(len(falconText)+len(big)), st.Usage.BlobBytes, "the bytes counted from the database")
	require.Zero(t, st.Usage.DBBytes, "no embedded file")

	// Replaced and deleted on the second server: the first sees it.
	two.uploadFile(t, tok, "big.bin", "application/octet-stream", []byte("small now"), nil)
	resp = one.get(t, "/api/v1/files/"+bin.ID+"/content", tok)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.Equal(t, "small now", string(resp.Body))
	require.Equal(t, http.StatusNoContent, two.do(t, request{Method: http.MethodDelete, Path: "/api/v1/files/" + bin.ID, Token: tok}).Status)
	requireAPIError(t, one.get(t, "/api/v1/files/"+bin.ID+"/content", tok), http.StatusNotFound, "not_found")
	st = created[apitype.StorageSettings](t, one.get(t, "/api/v1/settings/storage", tok), 200)
	require.Equal(t, int64(len(falconText)), st.Usage.BlobBytes)

	for _, s := range []*testServer{one, two} {
		_, err := os.Stat(filepath.Join(s.DataDir, "blobs"))
		require.ErrorIs(t, err, os.ErrNotExist, "no blob dir in %s", s.DataDir)
	}
}
