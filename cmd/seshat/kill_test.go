package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// buildBinary compiles the server once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	bin := filepath.Join(t.TempDir(), "seshat")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	return bin
}

var binListeningRE = regexp.MustCompile(`listening on ([^\s"]+)`)

// startProcess runs the server binary on dataDir, with env (KEY=VALUE)
// added to the environment, and waits until it listens.
func startProcess(t *testing.T, bin, dataDir string, env ...string) (*testServer, *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-data-dir", dataDir)
	cmd.Env = append(append(os.Environ(), "SESHAT_BCRYPT_COST=4", "SESHAT_REGISTER_PER_MINUTE=0"), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := binListeningRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		s := &testServer{t: t, DataDir: dataDir, URL: "http://" + a, Client: &http.Client{Timeout: 30 * time.Second}}
		t.Cleanup(s.Client.CloseIdleConnections)
		return s, cmd
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, nil
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
}

func TestSIGKILLKeepsCommittedTurns(t *testing.T) { sigkillKeepsCommittedTurns(t) }

// TestSIGKILLKeepsCommittedTurnsPostgres is the same on the PostgreSQL
// store: the server process dies, the database does not.
func TestSIGKILLKeepsCommittedTurnsPostgres(t *testing.T) {
	sigkillKeepsCommittedTurns(t, "SESHAT_STORE="+postgresStore(t))
}

// sigkillKeepsCommittedTurns kills the server, started with env, during a
// long turn and checks on restart that the finished turn is there and the
// cut one was closed.
func sigkillKeepsCommittedTurns(t *testing.T, env ...string) {
	bin := buildBinary(t)
	dir := t.TempDir()
	s, cmd := startProcess(t, bin, dir, env...)
	tok := s.register(t, "kill@example.com", "password123").Token
	done := s.query(t, tok, apitype.QueryRequest{Prompt: "durable words"})
	// A long turn is cut by the kill: its user message is committed.
	st := s.stream(t, tok, apitype.QueryRequest{Prompt: "@tokens 100000\n@delay 1ms"})
	cut := decodeRuntime(t, st.MustNext()).SessionID
	st.Until(func(ev eventstream.Event) bool { return ev.Name == "" })
	kill(t, cmd)
	st.Close()

	s, cmd = startProcess(t, bin, dir, env...)
	defer kill(t, cmd)
	var sess apitype.Session
	s.get(t, "/api/v1/sessions/"+done.SessionID, tok).JSON(t, &sess)
	require.Len(t, sess.Messages, 2, "a turn whose done reached the client survives SIGKILL")
	require.Equal(t, "echo: durable words", sess.Messages[1].Content[0].Text)
	r := s.query(t, tok, apitype.QueryRequest{SessionID: done.SessionID, Prompt: "continued"})
	require.Equal(t, "echo: continued", r.Content)

	s.get(t, "/api/v1/sessions/"+cut, tok).JSON(t, &sess)
	require.Equal(t, "idle", sess.Status)
	require.NotEmpty(t, sess.Messages)
	require.Equal(t, "user", sess.Messages[0].Role)
	re := s.openStream(t, http.MethodGet, "/api/v1/sessions/"+cut+"/stream", tok, nil, nil)
	events := re.Rest()
	require.Equal(t, "interrupted", decodeDone(t, events[len(events)-1]).StopReason)
	r = s.query(t, tok, apitype.QueryRequest{SessionID: cut, Prompt: "next"})
	require.Equal(t, "echo: next", r.Content)
}
