package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

func TestRegisterLoginAndRoles(t *testing.T) {
	srv := startServer(t, "", nil)

	admin := srv.register(t, "Admin@Example.com", "correct horse")
	require.Equal(t, "admin", admin.User.Role, "the first user is an admin")
	require.Equal(t, "admin@example.com", admin.User.Email, "emails are stored lower-case")
	require.True(t, strings.HasPrefix(admin.User.ID, "usr_"))
	require.True(t, strings.HasPrefix(admin.User.DefaultWorkspaceID, "ws_"))
	require.NotEmpty(t, admin.Token)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), admin.ExpiresAt, time.Minute)

	member := srv.register(t, "member@example.com", "password1")
	require.Equal(t, "member", member.User.Role, "later users are members")
	require.NotEqual(t, admin.User.DefaultWorkspaceID, member.User.DefaultWorkspaceID)

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"duplicate email", apitype.RegisterRequest{Email: "member@example.com", Password: "password2"}, 409, "conflict"},
		{"duplicate email other case", apitype.RegisterRequest{Email: "MEMBER@example.com", Password: "password2"}, 409, "conflict"},
		{"short password", apitype.RegisterRequest{Email: "short@example.com", Password: "1234567"}, 400, "invalid_request"},
		{"bad email", apitype.RegisterRequest{Email: "not-an-email", Password: "password1"}, 400, "invalid_request"},
		{"display-name email", apitype.RegisterRequest{Email: "Bob <bob@example.com>", Password: "password1"}, 400, "invalid_request"},
		{"wrong field type", `{"email": 5, "password": "password1"}`, 400, "invalid_request"},
		{"broken JSON", `{"email": "x@example.com", "password": `, 400, "invalid_json"},
		{"empty body", "", 400, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: tc.body,
				Header: map[string]string{"Content-Type": "application/json"}})
			requireAPIError(t, resp, tc.status, tc.code)
		})
	}

	t.Run("short password message", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
			Body: apitype.RegisterRequest{Email: "short@example.com", Password: "short"}})
		e := requireAPIError(t, resp, 400, "invalid_request")
		require.Contains(t, e.Error, "at least 8 characters")
	})

	t.Run("wrong content type", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/register",
			Body: `email=a@example.com`, Header: map[string]string{"Content-Type": "text/plain"}})
		requireAPIError(t, resp, 415, "unsupported_media_type")
	})

	t.Run("unknown fields are refused and charset is accepted", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"member@example.com","password":"password1","remember_me":true}`,
			Header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
		e := requireAPIError(t, resp, 400, "invalid_field")
		require.Contains(t, e.Error, "remember_me")
		resp = srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/login",
			Body:   `{"email":"member@example.com","password":"password1"}`,
			Header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
		require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	})

	t.Run("login", func(t *testing.T) {
		resp := srv.login(t, "MEMBER@example.com", "password1")
		require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
		var out apitype.AuthResponse
		resp.JSON(t, &out)
		require.Equal(t, member.User.ID, out.User.ID)
		me := srv.get(t, "/api/v1/users/me", out.Token)
		require.Equal(t, 200, me.Status)
	})

	t.Run("wrong password and unknown email look the same", func(t *testing.T) {
		wrong := requireAPIError(t, srv.login(t, "member@example.com", "password2"), 401, "unauthorized")
		unknown := requireAPIError(t, srv.login(t, "nobody@example.com", "password1"), 401, "unauthorized")
		require.Equal(t, "invalid email or password", wrong.Error)
		require.Equal(t, wrong.Error, unknown.Error)
		require.Equal(t, wrong.Code, unknown.Code)
	})
}

func TestLoginRateLimit(t *testing.T) {
	srv := startServer(t, "", nil)
	srv.register(t, "victim@example.com", "password1")

	for range 5 {
		requireAPIError(t, srv.login(t, "victim@example.com", "wrong-password"), 401, "unauthorized")
	}
	// Blocked now, even with the right password.
	resp := srv.login(t, "victim@example.com", "password1")
	requireAPIError(t, resp, 429, "rate_limited")
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After: %q", resp.Header.Get("Retry-After"))
	require.Greater(t, retry, 0)
	require.LessOrEqual(t, retry, 15*60)

	// Another account from the same address is not blocked by the email
	// limit (the per-IP limit is higher).
	srv.register(t, "other@example.com", "password1")
	require.Equal(t, 200, srv.login(t, "other@example.com", "password1").Status)
}

func TestBearerCredentials(t *testing.T) {
	srv := startServer(t, "", nil)
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")

	t.Run("JWT", func(t *testing.T) {
		resp := srv.get(t, "/api/v1/users/me", alice.Token)
		require.Equal(t, 200, resp.Status)
		var me apitype.User
		resp.JSON(t, &me)
		require.Equal(t, alice.User, me)
	})

	key := srv.createKey(t, alice.Token, "ci")
	t.Run("API key", func(t *testing.T) {
		require.True(t, strings.HasPrefix(key.Key, "sk-"), key.Key)
		require.True(t, strings.HasPrefix(key.Key, key.Prefix), "the prefix shown is the start of the key")
		require.True(t, strings.HasPrefix(key.ID, "key_"))
		require.Nil(t, key.LastUsedAt)

		resp := srv.get(t, "/api/v1/users/me", key.Key)
		require.Equal(t, 200, resp.Status)
		var me apitype.User
		resp.JSON(t, &me)
		require.Equal(t, alice.User.ID, me.ID)

		list := srv.get(t, "/api/v1/users/me/api-keys", alice.Token)
		require.Equal(t, 200, list.Status)
		var keys apitype.List[apitype.APIKey]
		list.JSON(t, &keys)
		require.Len(t, keys.Data, 1)
		require.Equal(t, key.ID, keys.Data[0].ID)
		require.Empty(t, keys.Data[0].Key, "the secret is shown only at creation")
		require.NotNil(t, keys.Data[0].LastUsedAt, "use is recorded")
		require.NotContains(t, string(list.Body), key.Key)

		// Bob sees none of Alice's keys and cannot revoke them.
		list = srv.get(t, "/api/v1/users/me/api-keys", bob.Token)
		require.JSONEq(t, `{"data":[]}`, string(list.Body))
		requireAPIError(t, srv.do(t, request{Method: http.MethodDelete,
			Path: "/api/v1/users/me/api-keys/" + key.ID, Token: bob.Token}), 404, "not_found")
	})

	t.Run("key name required", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/users/me/api-keys", Token: alice.Token,
			Body: apitype.CreateKeyRequest{}})
		requireAPIError(t, resp, 400, "invalid_request")
	})

	secret := jwtSecret(t, srv.DataDir)
	now := time.Now()
	valid := jwt.RegisteredClaims{
		Issuer: "seshat", Audience: jwt.ClaimStrings{"seshat-api"}, Subject: alice.User.ID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}
	sign := func(m jwt.SigningMethod, claims jwt.Claims, key any) string {
		tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
		require.NoError(t, err)
		return tok
	}
	t.Run("a token minted with the stored secret works", func(t *testing.T) {
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", sign(jwt.SigningMethodHS256, valid, secret)).Status)
	})

	expired := valid
	expired.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
	noExp := valid
	noExp.ExpiresAt = nil
	wrongAud := valid
	wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
	ghost := valid
	ghost.Subject = "usr_doesnotexist"
	future := valid
	future.IssuedAt = jwt.NewNumericDate(now.Add(10 * time.Minute))
	notYet := valid
	notYet.NotBefore = jwt.NewNumericDate(now.Add(10 * time.Minute))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	altered := []byte(alice.Token)
	last := len(altered) - 5
	if altered[last] == 'A' {
		altered[last] = 'B'
	} else {
		altered[last] = 'A'
	}
	noneTok := sign(jwt.SigningMethodNone, valid, jwt.UnsafeAllowNoneSignatureType)
	sk := []byte(key.Key)
	sk[len(sk)-1] ^= 1

	for _, tc := range []struct {
		name   string
		header string
	}{
		{"no credential", ""},
		{"not bearer", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:password1"))},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"altered signature", "Bearer " + string(altered)},
		{"alg none", "Bearer " + noneTok},
		{"HS512 with the same secret", "Bearer " + sign(jwt.SigningMethodHS512, valid, secret)},
		{"HS256 with another secret", "Bearer " + sign(jwt.SigningMethodHS256, valid, bytes.Repeat([]byte("x"), 32))},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, expired, secret)},
		{"missing exp", "Bearer " + sign(jwt.SigningMethodHS256, noExp, secret)},
		{"issued in the future", "Bearer " + sign(jwt.SigningMethodHS256, future, secret)},
		{"not valid yet", "Bearer " + sign(jwt.SigningMethodHS256, notYet, secret)},
		{"RS256 instead of HS256", "Bearer " + sign(jwt.SigningMethodRS256, valid, rsaKey)},
		{"wrong audience", "Bearer " + sign(jwt.SigningMethodHS256, wrongAud, secret)},
		{"unknown user", "Bearer " + sign(jwt.SigningMethodHS256, ghost, secret)},
		{"API key with a wrong secret", "Bearer " + string(sk)},
		{"malformed API key", "Bearer sk-short"},
	} {
		t.Run("401 "+tc.name, func(t *testing.T) {
			req := request{Method: http.MethodGet, Path: "/api/v1/users/me"}
			if tc.header != "" {
				req.Header = map[string]string{"Authorization": tc.header}
			}
			resp := srv.do(t, req)
			e := requireAPIError(t, resp, 401, "unauthorized")
			require.Equal(t, "missing or invalid credentials", e.Error)
			require.Equal(t, `Bearer realm="seshat"`, resp.Header.Get("WWW-Authenticate"))
		})
	}

	t.Run("revocation takes effect at once", func(t *testing.T) {
		k := srv.createKey(t, alice.Token, "short-lived")
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", k.Key).Status)
		resp := srv.do(t, request{Method: http.MethodDelete, Path: "/api/v1/users/me/api-keys/" + k.ID, Token: alice.Token})
		require.Equal(t, 204, resp.Status, "body: %s", resp.Body)
		requireAPIError(t, srv.get(t, "/api/v1/users/me", k.Key), 401, "unauthorized")
		requireAPIError(t, srv.do(t, request{Method: http.MethodDelete,
			Path: "/api/v1/users/me/api-keys/" + k.ID, Token: alice.Token}), 404, "not_found")
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", key.Key).Status, "other keys keep working")
	})
}

// jwtSecret reads the generated JWT secret from the data dir.
func jwtSecret(t testing.TB, dataDir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "secrets.json"))
	require.NoError(t, err)
	var f secretsFile
	require.NoError(t, json.Unmarshal(b, &f))
	secret, err := base64.StdEncoding.DecodeString(f.JWTSecret)
	require.NoError(t, err)
	require.Len(t, secret, 32)
	return secret
}

func TestRequestID(t *testing.T) {
	srv := startServer(t, "", nil)
	for _, tc := range []struct {
		name, sent string
		echoed     bool
	}{
		{"sane id is echoed", "client-123.abc_XYZ", true},
		{"64 characters are echoed", strings.Repeat("a", 64), true},
		{"absent", "", false},
		{"too long", strings.Repeat("a", 65), false},
		{"bad characters", "abc def<script>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request{Method: http.MethodGet, Path: "/no/such/path"}
			if tc.sent != "" {
				req.Header = map[string]string{"X-Request-ID": tc.sent}
			}
			resp := srv.do(t, req)
			e := requireAPIError(t, resp, 404, "not_found")
			if tc.echoed {
				require.Equal(t, tc.sent, e.RequestID)
			} else {
				require.True(t, strings.HasPrefix(e.RequestID, "req_"), e.RequestID)
			}
		})
	}
	t.Run("success responses carry it too", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodGet, Path: "/health", Header: map[string]string{"X-Request-ID": "hc-1"}})
		require.Equal(t, 200, resp.Status)
		require.Equal(t, "hc-1", resp.Header.Get("X-Request-ID"))
		require.JSONEq(t, `{"status":"ok"}`, string(resp.Body))
	})
}

func TestBodyLimits(t *testing.T) {
	srv := startServer(t, "", map[string]string{"SESHAT_MAX_UPLOAD_BYTES": strconv.Itoa(1 << 20)})
	user := srv.register(t, "limits@example.com", "password1")

	t.Run("5 MiB JSON body", func(t *testing.T) {
		big := `{"email":"a@example.com","password":"` + strings.Repeat("a", 5<<20) + `"}`
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: big,
			Header: map[string]string{"Content-Type": "application/json", "X-Request-ID": "too-big-1"}})
		e := requireAPIError(t, resp, 413, "body_too_large")
		require.Equal(t, "too-big-1", e.RequestID)
	})
	t.Run("upload over the upload cap", func(t *testing.T) {
		resp := srv.upload(t, user.Token, "big.bin", "", bytes.Repeat([]byte{1}, 2<<20), nil)
		requireAPIError(t, resp, 413, "body_too_large")
	})
	t.Run("upload just over the file cap within the body slack", func(t *testing.T) {
		resp := srv.upload(t, user.Token, "big.bin", "", bytes.Repeat([]byte{1}, 1<<20+1), nil)
		requireAPIError(t, resp, 413, "body_too_large")
	})
	t.Run("upload at the cap", func(t *testing.T) {
		resp := srv.upload(t, user.Token, "max.bin", "", bytes.Repeat([]byte{1}, 1<<20), nil)
		require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
	})
	t.Run("server still serves after refusals", func(t *testing.T) {
		require.Equal(t, 200, srv.get(t, "/api/v1/users/me", user.Token).Status)
	})
}

func TestFiles(t *testing.T) {
	srv := startServer(t, "", nil)
	alice := srv.register(t, "alice@example.com", "password1")
	bob := srv.register(t, "bob@example.com", "password1")

	content := []byte("hello, files\n")
	resp := srv.upload(t, alice.Token, "notes.txt", "", content, map[string]string{"path": "docs/notes.txt"})
	require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
	var f apitype.File
	resp.JSON(t, &f)
	require.True(t, strings.HasPrefix(f.ID, "file_"))
	require.Equal(t, alice.User.DefaultWorkspaceID, f.WorkspaceID)
	require.Equal(t, "docs/notes.txt", f.Path)
	require.Equal(t, int64(len(content)), f.Size)
	require.Equal(t, "text/plain; charset=utf-8", f.ContentType, "sniffed when the part declares none")
	sum := sha256.Sum256(content)
	require.Equal(t, hex.EncodeToString(sum[:]), f.SHA256)

	t.Run("declared content type and default path", func(t *testing.T) {
		resp := srv.upload(t, alice.Token, "data.json", "application/json", []byte(`{"a":1}`),
			map[string]string{"workspace_id": alice.User.DefaultWorkspaceID})
		require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
		var g apitype.File
		resp.JSON(t, &g)
		require.Equal(t, "data.json", g.Path)
		require.Equal(t, "application/json", g.ContentType)
	})

	t.Run("list", func(t *testing.T) {
		resp := srv.get(t, "/api/v1/files", alice.Token)
		require.Equal(t, 200, resp.Status)
		var list apitype.List[apitype.File]
		resp.JSON(t, &list)
		require.Len(t, list.Data, 2)
		paths := []string{list.Data[0].Path, list.Data[1].Path}
		require.ElementsMatch(t, []string{"data.json", "docs/notes.txt"}, paths)

		resp = srv.get(t, "/api/v1/files?workspace_id="+alice.User.DefaultWorkspaceID, alice.Token)
		require.Equal(t, 200, resp.Status)
		resp = srv.get(t, "/api/v1/files", bob.Token)
		require.JSONEq(t, `{"data":[]}`, string(resp.Body))
	})

	t.Run("get and download", func(t *testing.T) {
		resp := srv.get(t, "/api/v1/files/"+f.ID, alice.Token)
		require.Equal(t, 200, resp.Status)
		var g apitype.File
		resp.JSON(t, &g)
		require.Equal(t, f, g)

		resp = srv.get(t, "/api/v1/files/"+f.ID+"/content", alice.Token)
		require.Equal(t, 200, resp.Status)
		require.Equal(t, content, resp.Body)
		require.Equal(t, f.ContentType, resp.Header.Get("Content-Type"))
		require.Equal(t, `attachment; filename=notes.txt`, resp.Header.Get("Content-Disposition"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	})

	t.Run("same path replaces and keeps the id", func(t *testing.T) {
		resp := srv.upload(t, alice.Token, "x", "text/markdown", []byte("# v2"), map[string]string{"path": "docs/notes.txt"})
		require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
		var g apitype.File
		resp.JSON(t, &g)
		require.Equal(t, f.ID, g.ID)
		require.Equal(t, int64(4), g.Size)
		resp = srv.get(t, "/api/v1/files/"+f.ID+"/content", alice.Token)
		require.Equal(t, "# v2", string(resp.Body))
		require.Equal(t, "text/markdown", resp.Header.Get("Content-Type"))
	})

	for _, p := range []string{"../escape.txt", "a/../../b", "/etc/passwd", "a\\b"} {
		t.Run("path rejected "+p, func(t *testing.T) {
			resp := srv.upload(t, alice.Token, "f.txt", "", []byte("x"), map[string]string{"path": p})
			requireAPIError(t, resp, 400, "invalid_request")
		})
	}
	t.Run("no file part", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodPost, Path: "/api/v1/files", Token: alice.Token,
			Body: apitype.CreateKeyRequest{Name: "x"}})
		requireAPIError(t, resp, 415, "unsupported_media_type")
	})

	t.Run("another user's workspace and files are not found", func(t *testing.T) {
		resp := srv.upload(t, bob.Token, "f.txt", "", []byte("x"), map[string]string{"workspace_id": alice.User.DefaultWorkspaceID})
		requireAPIError(t, resp, 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/files?workspace_id="+alice.User.DefaultWorkspaceID, bob.Token), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/files/"+f.ID, bob.Token), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/files/"+f.ID+"/content", bob.Token), 404, "not_found")
		requireAPIError(t, srv.do(t, request{Method: http.MethodDelete, Path: "/api/v1/files/" + f.ID, Token: bob.Token}), 404, "not_found")
		require.Equal(t, 200, srv.get(t, "/api/v1/files/"+f.ID, alice.Token).Status, "still there for its owner")
		requireAPIError(t, srv.get(t, "/api/v1/files/file_nope", alice.Token), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/files/..%2Fx", alice.Token), 404, "not_found")
	})

	t.Run("delete", func(t *testing.T) {
		resp := srv.do(t, request{Method: http.MethodDelete, Path: "/api/v1/files/" + f.ID, Token: alice.Token})
		require.Equal(t, 204, resp.Status, "body: %s", resp.Body)
		require.Empty(t, resp.Body)
		requireAPIError(t, srv.get(t, "/api/v1/files/"+f.ID, alice.Token), 404, "not_found")
		requireAPIError(t, srv.get(t, "/api/v1/files/"+f.ID+"/content", alice.Token), 404, "not_found")
	})

	t.Run("unauthenticated", func(t *testing.T) {
		requireAPIError(t, srv.get(t, "/api/v1/files", ""), 401, "unauthorized")
	})
}

func TestRouterErrors(t *testing.T) {
	srv := startServer(t, "", nil)
	requireAPIError(t, srv.get(t, "/api/v1/nope", ""), 404, "not_found")
	// No redirects: a trailing slash or another case is simply not found.
	requireAPIError(t, srv.get(t, "/health/", ""), 404, "not_found")
	requireAPIError(t, srv.get(t, "/HEALTH", ""), 404, "not_found")
	resp := srv.do(t, request{Method: http.MethodPut, Path: "/health"})
	requireAPIError(t, resp, 405, "method_not_allowed")
	require.Contains(t, resp.Header.Get("Allow"), "GET")
}

func TestMetrics(t *testing.T) {
	srv := startServer(t, "", nil)
	user := srv.register(t, "metrics@example.com", "password1")
	require.Equal(t, 200, srv.get(t, "/api/v1/users/me", user.Token).Status)
	requireAPIError(t, srv.get(t, "/api/v1/files/file_abc", user.Token), 404, "not_found")

	resp := srv.get(t, "/metrics", "")
	require.Equal(t, 200, resp.Status)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	text := string(resp.Body)
	for _, name := range requiredMetricSeries {
		require.Contains(t, text, "\n"+name, "series %s", name)
	}
	require.Contains(t, text, `seshat_http_requests_total{code="200",method="GET",route="/api/v1/users/me"} 1`)
	require.Contains(t, text, `route="/api/v1/files/{id}"`, "routes are labelled by pattern")
	require.NotContains(t, text, "file_abc", "raw paths never become labels")

	requireAPIError(t, srv.get(t, "/api/v1/metrics", ""), 401, "unauthorized")
	resp = srv.get(t, "/api/v1/metrics", user.Token)
	require.Equal(t, 200, resp.Status)
	var m apitype.Metrics
	resp.JSON(t, &m)
	require.Greater(t, m.Metrics["seshat_http_requests_total"], 3.0)
	require.Greater(t, m.Metrics["go_goroutines"], 0.0)
	require.Contains(t, m.Metrics, "seshat_http_request_duration_seconds_count")
}

func TestCORS(t *testing.T) {
	preflight := func(srv *testServer, origin string) response {
		return srv.do(t, request{Method: http.MethodOptions, Path: "/api/v1/users/me", Header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "authorization",
		}})
	}
	t.Run("debug allows localhost origins", func(t *testing.T) {
		srv := startServer(t, "", map[string]string{"SESHAT_DEBUG": "true"})
		for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:3000", "https://[::1]:8443", "http://localhost"} {
			resp := preflight(srv, origin)
			require.Equal(t, 204, resp.Status, origin)
			require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
		}
		for _, origin := range []string{"http://evil.example", "http://localhost.evil.example", "http://localhost:99999", "null"} {
			resp := preflight(srv, origin)
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), origin)
		}
		resp := srv.do(t, request{Method: http.MethodGet, Path: "/health", Header: map[string]string{"Origin": "http://localhost:5173"}})
		require.Equal(t, "http://localhost:5173", resp.Header.Get("Access-Control-Allow-Origin"))
		require.NotEqual(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("off without debug", func(t *testing.T) {
		srv := startServer(t, "", nil)
		resp := preflight(srv, "http://localhost:5173")
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	})
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir, nil)
	user := first.register(t, "durable@example.com", "password1")
	key := first.createKey(t, user.Token, "durable")
	resp := first.upload(t, user.Token, "keep.txt", "", []byte("kept"), nil)
	require.Equal(t, 201, resp.Status, "body: %s", resp.Body)
	var f apitype.File
	resp.JSON(t, &f)
	require.NoError(t, first.Stop())
	require.Contains(t, first.Log.String(), "stopped")

	second := startServer(t, dir, nil)
	require.NotContains(t, second.Log.String(), "generated secret", "secrets are reused")
	require.Equal(t, 200, second.get(t, "/api/v1/users/me", user.Token).Status, "JWT from before the restart")
	require.Equal(t, 200, second.get(t, "/api/v1/users/me", key.Key).Status, "API key from before the restart")
	resp = second.get(t, "/api/v1/files/"+f.ID+"/content", key.Key)
	require.Equal(t, 200, resp.Status)
	require.Equal(t, "kept", string(resp.Body))
	require.Equal(t, 200, second.login(t, "durable@example.com", "password1").Status)
	require.Equal(t, "member", second.register(t, "later@example.com", "password1").User.Role, "the admin is still the first user")
}

func TestSecondServerOnSameDataDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir, nil)
	start := time.Now()
	second, err := tryStartServer(t, dir, nil)
	if second != nil {
		require.NoError(t, second.Stop())
	}
	require.Error(t, err)
	require.Contains(t, err.Error(), "in use by another seshat process")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, 200, first.get(t, "/health", "").Status, "the first server is unaffected")
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"short JWT secret", map[string]string{"SESHAT_JWT_SECRET": "too-short"}, nil, "SESHAT_JWT_SECRET must be at least 32 bytes"},
		{"bad duration", map[string]string{"SESHAT_SSE_KEEPALIVE": "soon"}, nil, "SESHAT_SSE_KEEPALIVE"},
		{"bad bool", map[string]string{"SESHAT_DEBUG": "maybe"}, nil, "SESHAT_DEBUG"},
		{"unknown flag", nil, []string{"-nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			var stderr bytes.Buffer
			args := append([]string{"-data-dir", t.TempDir()}, tc.args...)
			err := run(t.Context(), args, getenv, &stderr, &stderr)
			require.ErrorIs(t, err, errUsage)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
