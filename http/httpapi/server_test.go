package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/router"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

func TestPanicRecovery(t *testing.T) {
	verifyNoLeaks(t)
	s, logs := newTestServer(t, Config{})

	// A panic in a routed handler reaches the router's PanicHandler; one
	// outside the router reaches withRecover. Both end in the mapper.
	r := router.New()
	r.PanicHandler = s.routerPanic
	r.GET("/routed", s.adapt(route{method: fasthttp.MethodGet, path: "/routed", access: public,
		handle: func(*fasthttp.RequestCtx) error { panic("routed boom") }}))
	outer := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/outer" {
			panic(fmt.Errorf("outer boom"))
		}
		r.Handler(ctx)
	}
	client := serveInMemory(t, s.withRequestID(s.withMetrics(s.withRecover(outer))))

	for _, path := range []string{"/routed", "/outer"} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://test"+path, nil)
			require.NoError(t, err)
			req.Header.Set(headerRequestID, "panic-"+path[1:])
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)

			require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			var e apitype.Error
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, apitype.Error{Error: "internal error", Code: CodeInternal, RequestID: "panic-" + path[1:]}, e)
			require.NotContains(t, string(body), "boom", "no internals in the body")
		})
	}
	log := logs.String()
	require.Contains(t, log, "routed boom")
	require.Contains(t, log, "outer boom")
	require.Contains(t, log, "stack=", "the stack is logged")
	require.Contains(t, log, "request_id=panic-routed")
	require.Contains(t, log, "level=ERROR")
}

func TestServeAndShutdown(t *testing.T) {
	verifyNoLeaks(t)
	s, _ := newTestServer(t, Config{})
	ln := fasthttputil.NewInmemoryListener()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	client := inMemoryClient(ln)
	resp, err := client.Get("http://test/health")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	client.CloseIdleConnections()

	require.NoError(t, s.BaseContext().Err())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	require.ErrorIs(t, s.BaseContext().Err(), context.Canceled, "streams see shutdown")
	require.NoError(t, <-served)
	require.NoError(t, s.Shutdown(ctx), "idempotent")
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"explicit", &Error{Status: 418, Code: "teapot", Msg: "short and stout", Err: errors.New("cause")}, 418, "teapot", "short and stout"},
		{"wrapped explicit", fmt.Errorf("ctx: %w", &Error{Status: 409, Code: CodeConflict, Msg: "m"}), 409, CodeConflict, "m"},
		{"agent not found", fmt.Errorf("session sess_x: %w", agent.ErrNotFound), 404, CodeNotFound, "not found"},
		{"persist not found", fmt.Errorf("persist: file: %w", persist.ErrNotFound), 404, CodeNotFound, "not found"},
		{"invalid keeps its message", fmt.Errorf("%w: title too long", agent.ErrInvalid), 400, CodeInvalidRequest, "invalid request: title too long"},
		{"persist invalid", fmt.Errorf("bad cursor: %w", persist.ErrInvalid), 400, CodeInvalidRequest, "bad cursor: invalid"},
		{"busy", agent.ErrBusy, 409, CodeSessionBusy, "the session is already running a turn"},
		{"agent conflict", fmt.Errorf("%w: already decided", agent.ErrConflict), 409, CodeConflict, "conflict: already decided"},
		{"persist conflict hides its text", fmt.Errorf("persist: id usr_1 taken: %w", persist.ErrConflict), 409, CodeConflict, "conflict"},
		{"too many turns", agent.ErrTooManyTurns, 429, CodeTooManyTurns, "too many running turns"},
		{"too many streams", agent.ErrTooManyStreams, 429, CodeTooManyStreams, "too many open streams"},
		{"overloaded", agent.ErrOverloaded, 503, CodeOverloaded, "the server is overloaded; retry later"},
		{"closed", agent.ErrClosed, 503, CodeShuttingDown, "the server is shutting down"},
		{"file too large", fmt.Errorf("put: %w", persist.ErrTooLarge), 413, CodeBodyTooLarge, "file too large"},
		{"unauthenticated", fmt.Errorf("%w: token expired", auth.ErrUnauthenticated), 401, CodeUnauthorized, "missing or invalid credentials"},
		{"invalid login", auth.ErrInvalidLogin, 401, CodeUnauthorized, "invalid email or password"},
		{"rate limited", &auth.RateLimitError{RetryAfter: 1500 * time.Millisecond, What: "failed login attempts"}, 429, CodeRateLimited, "too many failed login attempts; retry later"},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), statusClientClosed, "", ""},
		{"anything else", errors.New("disk on fire at /var/lib/x"), 500, CodeInternal, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg, retry := classify(tc.err)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.msg, msg)
			if tc.code == CodeRateLimited {
				require.Equal(t, 2, retry, "Retry-After rounds up")
			} else {
				require.Zero(t, retry)
			}
		})
	}
}

func TestSaneRequestID(t *testing.T) {
	for in, want := range map[string]string{
		"abc-123_X.y":           "abc-123_X.y",
		strings.Repeat("a", 64): strings.Repeat("a", 64),
		strings.Repeat("a", 65): "",
		"":                      "",
		"a b":                   "",
		"a\nb":                  "",
		"ä":                     "",
		"<script>":              "",
	} {
		require.Equal(t, want, saneRequestID([]byte(in)), "%q", in)
	}
}

func TestLocalOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"http://localhost":           true,
		"http://localhost:5173":      true,
		"https://localhost:8443":     true,
		"http://127.0.0.1:3000":      true,
		"http://[::1]:8080":          true,
		"http://[::1]":               true,
		"http://localhost.evil.com":  false,
		"http://evil.com":            false,
		"http://localhost:0":         false,
		"http://localhost:65536":     false,
		"http://localhost:+80":       false,
		"http://localhost:80/path":   false,
		"http://localhost:":          false,
		"ftp://localhost":            false,
		"null":                       false,
		"http://127.0.0.1.nip.io":    false,
		"http://user@localhost:3000": false,
		"HTTP://LOCALHOST:3000":      false,
		"http://localhost:3000@evil": false,
		"http://127.0.0.1:3000#frag": false,
	} {
		require.Equal(t, want, localOrigin([]byte(origin)), origin)
	}
}

func TestDecodeJSONLenient(t *testing.T) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetBodyString(`{"name":"a","extra":{"anything":[1]}}`)
	var v struct {
		Name string `json:"name"`
	}
	require.NoError(t, decodeJSONLenient(&ctx, &v), "the Anthropic surface ignores fields it does not model")
	require.Equal(t, "a", v.Name)
	ctx.Request.SetBodyString(`{"name":"a","extra":` + strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1) + `}`)
	var he *Error
	require.ErrorAs(t, decodeJSONLenient(&ctx, &v), &he, "the depth limit holds on every surface")
	require.Equal(t, CodeInvalidJSON, he.Code)
}

func TestDecodeJSON(t *testing.T) {
	type inner struct {
		Mode string `json:"mode"`
	}
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Inner *inner `json:"inner"`
	}
	deep := `{"name":"a","inner":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `}`
	bracketsInStrings := `{"name":"a","count":1,"inner":{"mode":"` + strings.Repeat("[{", 1000) + `"}}`
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"ok", "application/json", `{"name":"a","count":1}`, 0, ""},
		{"params and case", "Application/JSON; charset=utf-8", `{"name":"a"}`, 0, ""},
		{"no content type", "", `{"name":"a"}`, 0, ""},
		{"curl -d default", "application/x-www-form-urlencoded", `{"name":"a"}`, 0, ""},
		{"multipart", "multipart/form-data; boundary=x", `{"name":"a"}`, 415, CodeUnsupportedMediaType},
		{"unknown field", "application/json", `{"name":"a","extra":[1,2]}`, 400, CodeInvalidField},
		{"unknown nested field", "application/json", `{"name":"a","inner":{"mode":"x","mdoe":"y"}}`, 400, CodeInvalidField},
		{"too deep", "application/json", deep, 400, CodeInvalidJSON},
		{"brackets in strings do not nest", "application/json", bracketsInStrings, 0, ""},
		{"second value", "application/json", `{"name":"a"}{"name":"b"}`, 400, CodeInvalidJSON},
		{"wrong type", "text/plain", `{"name":"a"}`, 415, CodeUnsupportedMediaType},
		{"empty", "application/json", "  ", 400, CodeInvalidJSON},
		{"broken", "application/json", `{"name":`, 400, CodeInvalidJSON},
		{"trailing garbage", "application/json", `{"name":"a"} x`, 400, CodeInvalidJSON},
		{"field type", "application/json", `{"count":"many"}`, 400, CodeInvalidRequest},
		{"not an object", "application/json", `[1]`, 400, CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			if tc.contentType != "" {
				ctx.Request.Header.SetContentType(tc.contentType)
			}
			ctx.Request.SetBodyString(tc.body)
			var v body
			err := decodeJSON(&ctx, &v)
			if tc.status == 0 {
				require.NoError(t, err)
				require.Equal(t, "a", v.Name)
				return
			}
			var he *Error
			require.ErrorAs(t, err, &he)
			require.Equal(t, tc.status, he.Status)
			require.Equal(t, tc.code, he.Code)
			switch tc.name {
			case "field type":
				require.Equal(t, "field count must be a number", he.Msg)
			case "unknown field":
				require.Contains(t, he.Msg, `"extra"`)
			case "unknown nested field":
				require.Contains(t, he.Msg, `"mdoe"`)
			}
		})
	}
}
