package console

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxSize caps the console: it is downloaded on every first visit.
const maxSize = 150 << 10

func TestConsoleIsSmall(t *testing.T) {
	n := Size()
	t.Logf("console: %d bytes in %d files", n, len(byName))
	require.Less(t, n, maxSize)
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		ct   string
	}{
		{"", true, "text/html; charset=utf-8"},
		{"index.html", true, "text/html; charset=utf-8"},
		{"app.css", true, "text/css; charset=utf-8"},
		{"js/app.js", true, "text/javascript; charset=utf-8"},
		{"/js/chat.js", true, "text/javascript; charset=utf-8"},
		{"../console.go", false, ""},
		{"js/../../doc.go", false, ""},
		{"nope.js", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := Lookup(tc.name)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.ct, f.ContentType)
				require.NotEmpty(t, f.Body)
				require.Regexp(t, `^"[0-9a-f]{24}"$`, f.ETag)
			}
		})
	}
}

// TestNoInlineScriptOrHTMLSinks backs the policy with a check of the
// sources: the HTML loads scripts and styles only from files, and no
// script parses strings as HTML or code. (The browser enforces the same
// at run time: Trusted Types make those sinks throw.)
func TestNoInlineScriptOrHTMLSinks(t *testing.T) {
	index, _ := Lookup("index.html")
	html := string(index.Body)
	require.NotRegexp(t, `<script(?:\s+type="module")?>`, html, "inline script")
	require.NotContains(t, html, "<style", "inline style")
	require.NotRegexp(t, `\son[a-z]+=`, html, "inline event handler")
	require.NotContains(t, html, "style=", "inline style attribute")

	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*['"]|createContextualFragment`)
	for name, f := range byName {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		require.Nil(t, sinks.FindIndex(f.Body), "%s uses an HTML or code sink: %s", name, sinks.Find(f.Body))
	}
}

func TestPolicy(t *testing.T) {
	for _, want := range []string{"script-src 'self'", "connect-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		require.Contains(t, ContentSecurityPolicy, want)
	}
	require.NotContains(t, ContentSecurityPolicy, "unsafe-inline")
	require.NotContains(t, ContentSecurityPolicy, "unsafe-eval")
}
