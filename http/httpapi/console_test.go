package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/console"
)

func TestConsoleRedirect(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"", "/console/"},
		{"/seshat/", "/seshat/console/"},
		{"/a/b", "/a/b/console/"},
	} {
		s, _ := newTestServer(t, Config{PathPrefix: tc.prefix})
		resp := serveOnce(s, fasthttp.MethodGet, "/")
		require.Equal(t, fasthttp.StatusFound, resp.StatusCode())
		require.Equal(t, tc.want, string(resp.Header.Peek(fasthttp.HeaderLocation)))
	}
	_, err := New(Config{PathPrefix: "seshat"}, Deps{})
	require.Error(t, err)
}

func TestConsoleFiles(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	resp := serveOnce(s, fasthttp.MethodGet, "/console/")
	require.Equal(t, fasthttp.StatusOK, resp.StatusCode())
	require.Equal(t, "text/html; charset=utf-8", string(resp.Header.ContentType()))
	require.Equal(t, console.ContentSecurityPolicy, string(resp.Header.Peek("Content-Security-Policy")))
	require.Equal(t, "nosniff", string(resp.Header.Peek("X-Content-Type-Options")))
	require.Contains(t, string(resp.Body()), `<script type="module" src="js/app.js">`)
	etag := string(resp.Header.Peek(fasthttp.HeaderETag))
	require.NotEmpty(t, etag)

	// A revalidation with the same ETag costs no body.
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/console/")
	ctx.Request.Header.Set(fasthttp.HeaderIfNoneMatch, etag)
	s.srv.Handler(&ctx)
	require.Equal(t, fasthttp.StatusNotModified, ctx.Response.StatusCode())
	require.Empty(t, ctx.Response.Body())

	js := serveOnce(s, fasthttp.MethodGet, "/console/js/chat.js")
	require.Equal(t, fasthttp.StatusOK, js.StatusCode())
	require.Equal(t, "text/javascript; charset=utf-8", string(js.Header.ContentType()))

	for _, bad := range []string{"/console/nope.js", "/console/../go.mod", "/console/js/%2e%2e/%2e%2e/doc.go"} {
		r := serveOnce(s, fasthttp.MethodGet, bad)
		require.Equal(t, fasthttp.StatusNotFound, r.StatusCode(), bad)
		require.Equal(t, contentTypeJSON, string(r.Header.ContentType()), bad)
	}
}
