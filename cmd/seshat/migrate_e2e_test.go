package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// migrateCmd runs `seshat migrate args…` in process and returns its
// stdout, stderr and error.
func migrateCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"migrate"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestMigrateToPostgres fills an embedded store through the server,
// migrates it into PostgreSQL (the files' bytes into the database, the
// secrets into another data dir) and serves the result: accounts, keys and tokens,
// sessions with their history and search, files, a corpus's search (its
// index rebuilt there) and the audit chain are all there. A data dir in
// use, and a target that holds records, are refused.
func TestMigrateToPostgres(t *testing.T) {
	store := postgresStore(t)
	dir := t.TempDir()
	srv := startServer(t, dir, nil)
	alice := srv.register(t, "alice@example.com", "password1")
	a := alice.Token
	bob := srv.register(t, "bob@example.com", "password1")
	key := srv.createKey(t, a, "ci")
	q := srv.query(t, a, apitype.QueryRequest{Prompt: "budget forecast for marmalade"})
	srv.query(t, a, apitype.QueryRequest{Prompt: "and the second turn", SessionID: q.SessionID})
	srv.query(t, bob.Token, apitype.QueryRequest{Prompt: "bob's own session"})
	file := srv.uploadFile(t, a, "falcons.md", "", []byte(falconText), nil)
	corp := created[apitype.Corpus](t, srv.call(t, http.MethodPost, "/api/v1/corpora", a, apitype.CreateCorpusRequest{Name: "Birds"}), 201)
	created[apitype.IngestJob](t, srv.call(t, http.MethodPost, "/api/v1/corpora/"+corp.ID+"/files", a, apitype.AddCorpusFilesRequest{FileIDs: []string{file.ID}}), 202)
	srv.waitIngested(t, a, corp.ID)
	var before apitype.Session
	srv.get(t, "/api/v1/sessions/"+q.SessionID, a).JSON(t, &before)
	require.Len(t, before.Messages, 4)

	_, _, err := migrateCmd(t, "--from", "bolt://"+dir, "--to", store)
	require.ErrorContains(t, err, "is in use by another seshat process")
	require.NoError(t, srv.Stop())
	_, _, err = migrateCmd(t, "--from", dir, "--to", store)
	require.ErrorIs(t, err, errUsage)

	target := filepath.Join(t.TempDir(), "pg-data")
	out, progress, err := migrateCmd(t, "--from", "bolt://"+dir, "--to", store, "--data-dir", target, "--batch", "50")
	require.NoError(t, err, "%s", progress)
	t.Logf("migrate: %s%s", progress, out)
	require.Contains(t, out, "verified: every bucket's key count and bytes match")
	require.Contains(t, progress, "copied records: ")
	require.Contains(t, progress, fmt.Sprintf("copied file blobs: %d of %d", len(falconText), len(falconText)), "in bytes")
	_, err = os.Stat(filepath.Join(target, "seshat.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "the target data dir gets no bolt file")

	_, _, err = migrateCmd(t, "--from", "bolt://"+dir, "--to", store, "--data-dir", target)
	require.ErrorContains(t, err, "already holds records; -replace empties it first")
	_, _, err = migrateCmd(t, "--from", "bolt://"+dir, "--to", store, "--data-dir", target, "--replace")
	require.NoError(t, err)

	pg := startServer(t, target, map[string]string{"SESHAT_STORE": store})
	require.Equal(t, 200, pg.get(t, "/api/v1/users/me", a).Status, "a token from before the move")
	require.Equal(t, 200, pg.get(t, "/api/v1/users/me", key.Key).Status, "an API key from before the move")
	require.Equal(t, 200, pg.login(t, "bob@example.com", "password1").Status)
	var after apitype.Session
	pg.get(t, "/api/v1/sessions/"+q.SessionID, a).JSON(t, &after)
	require.Equal(t, before.Messages, after.Messages)
	var list apitype.List[apitype.Session]
	pg.get(t, "/api/v1/sessions?q="+url.QueryEscape("marmal"), a).JSON(t, &list)
	require.Len(t, list.Data, 1)
	require.Equal(t, q.SessionID, list.Data[0].ID)
	requireAPIError(t, pg.get(t, "/api/v1/sessions/"+q.SessionID, bob.Token), 404, "not_found")
	resp := pg.get(t, "/api/v1/files/"+file.ID+"/content", a)
	require.Equal(t, 200, resp.Status)
	require.Equal(t, falconText, string(resp.Body))
	hits := created[apitype.SearchCorpusResponse](t, pg.call(t, http.MethodPost, "/api/v1/corpora/"+corp.ID+"/search", a,
		apitype.SearchCorpusRequest{Query: "how fast does the peregrine falcon dive", Ranker: "bm25"}), 200)
	require.NotEmpty(t, hits.Data)
	require.Equal(t, "falcons.md", hits.Data[0].Path)
	var v apitype.AuditVerification
	pg.get(t, "/api/v1/audit/verify", a).JSON(t, &v)
	require.True(t, v.OK, "%+v", v)
	require.Positive(t, v.Entries)
	// The history goes on where it was.
	r := pg.query(t, a, apitype.QueryRequest{Prompt: "a third turn", SessionID: q.SessionID})
	require.Equal(t, q.SessionID, r.SessionID)
	require.NoError(t, pg.Stop())

	// The bytes went into the database: a server with a data dir of its
	// own (only the secrets) reads the file, and no data dir holds it.
	nodeDir := t.TempDir()
	secrets, err := os.ReadFile(filepath.Join(target, "secrets.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(nodeDir, "secrets.json"), secrets, 0o600))
	node := startServer(t, nodeDir, map[string]string{"SESHAT_STORE": store})
	resp = node.get(t, "/api/v1/files/"+file.ID+"/content", key.Key)
	require.Equal(t, 200, resp.Status, "%s", resp.Body)
	require.Equal(t, falconText, string(resp.Body))
	for _, d := range []string{target, nodeDir} {
		_, err = os.Stat(filepath.Join(d, "blobs"))
		require.ErrorIs(t, err, os.ErrNotExist, "no blob dir in %s", d)
	}

	// A source whose blobs were in a SESHAT_BLOB_DIR of its own names it
	// with -blob-dir; without it, the copy misses them and fails.
	require.NoError(t, node.Stop())
	moved := filepath.Join(t.TempDir(), "own-blobs")
	require.NoError(t, os.Rename(filepath.Join(dir, "blobs"), moved))
	_, _, err = migrateCmd(t, "--from", "bolt://"+dir, "--to", store, "--data-dir", target, "--replace")
	require.ErrorContains(t, err, file.SHA256)
	_, _, err = migrateCmd(t, "--from", "bolt://"+dir, "--to", store, "--data-dir", target, "--blob-dir", moved, "--replace")
	require.NoError(t, err)
}
