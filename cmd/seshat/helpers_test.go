package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// requiredMetricSeries are the series GET /metrics must expose. Packages
// that register series of their own add them here.
var requiredMetricSeries = []string{
	"go_goroutines",
	"process_open_fds",
	"seshat_http_requests_total",
	"seshat_http_request_duration_seconds",
	"seshat_sessions_active",
	"seshat_streams_open",
	"seshat_turns_total",
	"seshat_turn_duration_seconds",
	"seshat_turn_first_event_seconds",
	"seshat_subscribers_dropped_total",
}

// testServer is the real server run in process by run(), on a loopback
// port chosen by the kernel, with its own data dir.
type testServer struct {
	t       testing.TB
	DataDir string
	// URL is "http://" + the bound address.
	URL    string
	Client *http.Client
	// Log is everything the server logged.
	Log *logCapture

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// testEnv is the environment every test server gets unless a test
// overrides it: a low bcrypt cost, since -race makes the default take
// about half a second per hash, and no cap on registrations, since tests
// register many accounts from one address.
var testEnv = map[string]string{"SESHAT_BCRYPT_COST": "4", "SESHAT_REGISTER_PER_MINUTE": "0"}

// startServer runs the server on dataDir (a fresh temp dir if empty) with
// testEnv plus env, and waits for its "listening on" line. It is stopped
// at cleanup, or earlier with Stop.
func startServer(t testing.TB, dataDir string, env map[string]string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	srv, err := tryStartServer(t, dataDir, env)
	require.NoError(t, err)
	t.Cleanup(func() {
		srv.checkAgainstSpec(t)
		require.NoError(t, srv.Stop())
	})
	return srv
}

// tryStartServer is startServer returning run's error if the server stops
// before it listens. The caller must Stop a server it gets.
func tryStartServer(t testing.TB, dataDir string, env map[string]string) (*testServer, error) {
	t.Helper()
	merged := map[string]string{}
	for k, v := range testEnv {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	getenv := func(k string) string { return merged[k] }

	ctx, cancel := context.WithCancel(context.Background())
	logs := newLogCapture()
	done := make(chan error, 1)
	args := []string{"-addr", "127.0.0.1:0", "-data-dir", dataDir}
	go func() { done <- run(ctx, args, getenv, io.Discard, logs) }()

	select {
	case addr := <-logs.listening:
		loadSpec("http://" + addr)
		s := &testServer{
			t:       t,
			DataDir: dataDir,
			URL:     "http://" + addr,
			// A transport of its own, so that Stop can close its idle
			// connections and leave no goroutines behind.
			// It records its exchanges for checkAgainstSpec.
			Client: &http.Client{Transport: &recordingTransport{base: &http.Transport{}, host: addr}, Timeout: 30 * time.Second},
			Log:    logs,
			cancel: cancel,
			done:   done,
		}
		return s, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("run returned nil before listening")
		}
		return nil, err
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("server did not log %q within 30s; log:\n%s", "listening on", logs.String())
	}
}

// Stop shuts the server down as SIGTERM would and returns run's error.
func (s *testServer) Stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(30 * time.Second):
			s.stopErr = errors.New("run did not return within 30s of cancellation")
		}
		s.Client.CloseIdleConnections()
	})
	return s.stopErr
}

// logCapture is the server's stderr: it keeps the log and reports the
// address of the "listening on ADDR" line once.
type logCapture struct {
	listening chan string

	mu sync.Mutex
	// Guarded by mu.
	buf   bytes.Buffer
	found bool
}

var listeningRE = regexp.MustCompile(`listening on ([^\s"]+)`)

func newLogCapture() *logCapture { return &logCapture{listening: make(chan string, 1)} }

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		if m := listeningRE.FindSubmatch(l.buf.Bytes()); m != nil {
			l.found = true
			l.listening <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// request is one call for do.
type request struct {
	Method string
	Path   string
	// Token, if set, is sent as "Authorization: Bearer Token".
	Token string
	// Body is sent as is if it is []byte or string, else as JSON.
	Body any
	// Header is added to the request; a Content-Type here wins over the
	// JSON default.
	Header map[string]string
}

// do sends req and reads the whole response.
func (s *testServer) do(t testing.TB, req request) response {
	t.Helper()
	var body io.Reader
	contentType := ""
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		body, contentType = bytes.NewReader(j), "application/json"
	}
	hr, err := http.NewRequest(req.Method, s.URL+req.Path, body)
	require.NoError(t, err)
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := s.Client.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// get is do for a GET with a token.
func (s *testServer) get(t testing.TB, path, token string) response {
	t.Helper()
	return s.do(t, request{Method: http.MethodGet, Path: path, Token: token})
}

// register creates an account and returns the registration response.
func (s *testServer) register(t testing.TB, email, password string) apitype.AuthResponse {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
		Body: apitype.RegisterRequest{Email: email, Password: password, Name: "Test " + email}})
	require.Equal(t, http.StatusCreated, resp.Status, "register %s: %s", email, resp.Body)
	var out apitype.AuthResponse
	resp.JSON(t, &out)
	return out
}

// login returns the response of a login attempt.
func (s *testServer) login(t testing.TB, email, password string) response {
	t.Helper()
	return s.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/login",
		Body: apitype.LoginRequest{Email: email, Password: password}})
}

// createKey creates an API key and returns it with its secret.
func (s *testServer) createKey(t testing.TB, token, name string) apitype.APIKey {
	t.Helper()
	resp := s.do(t, request{Method: http.MethodPost, Path: "/api/v1/users/me/api-keys", Token: token,
		Body: apitype.CreateKeyRequest{Name: name}})
	require.Equal(t, http.StatusCreated, resp.Status, "create key: %s", resp.Body)
	var k apitype.APIKey
	resp.JSON(t, &k)
	return k
}

// upload sends a multipart upload with the part "file" (named filename,
// with partType as its Content-Type if set) and the extra form fields.
func (s *testServer) upload(t testing.TB, token, filename, partType string, content []byte, fields map[string]string) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	if partType != "" {
		h.Set("Content-Type", partType)
	}
	part, err := mw.CreatePart(h)
	require.NoError(t, err)
	_, err = part.Write(content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return s.do(t, request{Method: http.MethodPost, Path: "/api/v1/files", Token: token, Body: buf.Bytes(),
		Header: map[string]string{"Content-Type": mw.FormDataContentType()}})
}

// requireAPIError checks that resp is a native error with status and code
// whose request_id matches the X-Request-ID header, and returns it.
func requireAPIError(t testing.TB, resp response, status int, code string) apitype.Error {
	t.Helper()
	require.Equal(t, status, resp.Status, "body: %s", resp.Body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e apitype.Error
	resp.JSON(t, &e)
	require.Equal(t, code, e.Code, "body: %s", resp.Body)
	require.NotEmpty(t, e.Error)
	require.NotEmpty(t, e.RequestID)
	require.Equal(t, resp.Header.Get("X-Request-ID"), e.RequestID)
	return e
}
