package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// File is one console file, ready to serve.
type File struct {
	// Body is the file's bytes; callers must not change them.
	Body []byte
	// ContentType is the file's media type, with a charset for text.
	ContentType string
	// ETag is a strong entity tag of Body, quoted.
	ETag string
}

// index is the file served for the console's root.
const index = "index.html"

// byName holds every file by its path under static/, built once at init.
var byName = load()

func load() map[string]File {
	out := map[string]File{}
	root, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		out[name] = File{Body: body, ContentType: contentType(name), ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Lookup returns the file at name, a path below /console/ ("" or a name
// ending in "/" is the index page). It reports false for anything else,
// including names with "..", so callers answer 404.
func Lookup(name string) (File, bool) {
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = index
	}
	if !fs.ValidPath(name) {
		return File{}, false
	}
	f, ok := byName[name]
	return f, ok
}

// Size is the total size in bytes of the console's files.
func Size() int {
	n := 0
	for _, f := range byName {
		n += len(f.Body)
	}
	return n
}

// ContentSecurityPolicy is the policy of every console response: scripts,
// styles and connections only from the console's own origin, no inline
// script or style, no eval, no plugins, no framing, and Trusted Types
// required, which makes assigning a string to innerHTML (or any other
// HTML-parsing sink) throw instead of parsing it.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Header returns the headers every console response carries, besides its
// content type and ETag. Revalidating on every load (no-cache with an
// ETag) keeps an upgraded server's console consistent: a 304 costs one
// round trip and no bytes.
func Header() [][2]string {
	return [][2]string{
		{"Content-Security-Policy", ContentSecurityPolicy},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "no-referrer"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cache-Control", "no-cache"},
	}
}
