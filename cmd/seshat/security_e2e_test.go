package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

func TestHugeHeadersGet431InTheErrorShape(t *testing.T) {
	s := startServer(t, "", nil)
	resp := s.do(t, request{Method: http.MethodGet, Path: "/health", Header: map[string]string{"X-Big": strings.Repeat("a", 64<<10)}})
	e := requireAPIError(t, resp, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
	require.NotEmpty(t, e.RequestID)
}

// TestSlowLorisIsCutAndOthersAreServed sends a request's headers a byte at
// a time: the read timeout cuts that connection while other clients are
// served normally.
func TestSlowLorisIsCutAndOthersAreServed(t *testing.T) {
	s := startServer(t, "", map[string]string{"SESHAT_READ_TIMEOUT": "1s"})
	tok := s.register(t, "loris@example.com", "password123").Token
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	cut := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		// Trickle a header until the server closes the connection.
		head := "GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 10000)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(head); i++ {
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				cut <- time.Since(start)
				return
			}
			<-tick.C
		}
		cut <- -1
	}()
	// Others are served while the slow client trickles.
	for i := 0; i < 20; i++ {
		require.Equal(t, http.StatusOK, s.get(t, "/api/v1/users/me", tok).Status)
	}
	// The server answers the slow client with an error or just closes; a
	// read sees it either way.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server never closed the slow connection")
	conn.Close()
	select {
	case d := <-cut:
		require.NotEqual(t, time.Duration(-1), d, "the slow client was never cut")
	case <-time.After(20 * time.Second):
		t.Fatal("the slow client was never cut")
	}
}

// TestVanishingClients starts many streams whose clients leave at random
// points: every turn still completes, other clients are served, and the
// open-stream gauge and goroutine count return to their baseline.
func TestVanishingClients(t *testing.T) {
	s := startServer(t, "", nil)
	tok := s.register(t, "vanish@example.com", "password123").Token
	s.query(t, tok, apitype.QueryRequest{Prompt: "warm up"})
	baseline := s.metric(t, "go_goroutines")

	const clients = 40
	rng := rand.New(rand.NewPCG(7, 7))
	sessions := make(chan string, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		leaveAfter := rng.IntN(60)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(apitype.QueryRequest{Prompt: "@tokens 100\n@delay 1ms"})
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/query/stream", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			sessions <- resp.Header.Get("X-Seshat-Session-Id")
			dec := eventstream.NewDecoder(resp.Body, 0)
			for n := 0; n < leaveAfter; n++ {
				if _, err := dec.Next(); err != nil {
					break
				}
			}
			resp.Body.Close() // vanish mid-stream
		}()
	}
	for i := 0; i < 10; i++ {
		r := s.query(t, tok, apitype.QueryRequest{Prompt: fmt.Sprintf("still served %d", i)})
		require.Equal(t, fmt.Sprintf("echo: still served %d", i), r.Content)
	}
	wg.Wait()
	close(sessions)
	for id := range sessions {
		require.Eventually(t, func() bool {
			var sess apitype.Session
			s.get(t, "/api/v1/sessions/"+id, tok).JSON(t, &sess)
			return sess.Status == "idle" && sess.MessageCount == 2
		}, 20*time.Second, 20*time.Millisecond, "the turn of %s completes without its client", id)
	}
	s.Client.CloseIdleConnections()
	require.Eventually(t, func() bool { return s.metric(t, "seshat_streams_open") == 0 }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return s.metric(t, "go_goroutines") <= baseline+5 }, 30*time.Second, 100*time.Millisecond,
		"goroutines return to the baseline of %v", baseline)
}

// TestSecretsNeverLeak runs the account, key, file and agent flows with
// debug logging and checks that no password, API key, token or server
// secret appears in any log line, and that passwords and keys are not in
// the store file in the clear.
func TestSecretsNeverLeak(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"SESHAT_DEBUG": "true"})
	const password = "correct-horse-battery-staple"
	reg := s.register(t, "leak@example.com", password)
	require.Equal(t, 401, s.login(t, "leak@example.com", "wrong-password-guess").Status)
	login := s.login(t, "leak@example.com", password)
	var grant apitype.AuthResponse
	login.JSON(t, &grant)
	key := s.createKey(t, grant.Token, "scripts")
	require.Equal(t, 200, s.get(t, "/api/v1/users/me", key.Key).Status)
	require.Equal(t, 401, s.get(t, "/api/v1/users/me", key.Key+"x").Status)
	s.query(t, key.Key, apitype.QueryRequest{Prompt: "hello"})
	st := s.stream(t, key.Key, apitype.QueryRequest{Prompt: "@tokens 3"})
	st.Rest()
	require.Equal(t, 201, s.upload(t, key.Key, "a.txt", "text/plain", []byte("file body"), nil).Status)
	require.NoError(t, s.Stop())

	var f secretsFile
	b, err := os.ReadFile(filepath.Join(dir, "secrets.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &f))
	secrets := map[string]string{
		"password": password, "wrong password": "wrong-password-guess", "api key": key.Key,
		"api key secret part": key.Key[strings.Index(key.Key, "_")+1:],
		"register token":      reg.Token, "login token": grant.Token,
		"jwt secret": f.JWTSecret, "master key": f.MasterKey,
	}
	logs := s.Log.String()
	require.Contains(t, logs, "level=DEBUG", "debug logging was on")
	for name, v := range secrets {
		require.NotContains(t, logs, v, "the %s appears in the log", name)
	}
	db, err := os.ReadFile(filepath.Join(dir, "seshat.db"))
	require.NoError(t, err)
	for _, name := range []string{"password", "api key", "api key secret part"} {
		require.False(t, bytes.Contains(db, []byte(secrets[name])), "the %s is in the store in the clear", name)
	}
}

func TestDebugListenerIsLoopbackOnly(t *testing.T) {
	_, err := tryStartServer(t, "", map[string]string{"SESHAT_DEBUG_ADDR": "0.0.0.0:0"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "loopback")

	s := startServer(t, "", map[string]string{"SESHAT_DEBUG_ADDR": "127.0.0.1:0"})
	m := regexp.MustCompile(`pprof profiles on (http://[^\s"]+)`).FindStringSubmatch(s.Log.String())
	require.NotNil(t, m, "log: %s", s.Log.String())
	resp, err := s.Client.Get(m[1] + "goroutine?debug=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 404, s.get(t, "/debug/pprof/", "").Status, "the API server never serves profiles")
}
