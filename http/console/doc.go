// Package console is the web console: static HTML, CSS and JavaScript
// modules embedded in the binary, so that the host serves a working UI
// with no build step, no network and no third-party code.
//
// The package only holds the files and says how to serve them: Lookup
// returns a file's bytes, content type and ETag, and Header lists the
// headers every console response carries (a strict Content-Security-Policy
// among them). The HTTP server routes /console/ to it; this package does
// not know the server, the router or the API.
//
// The console computes the API's base URL from its own location (the path
// before /console/), so it works unchanged behind a reverse proxy that
// serves the host under a path prefix.
//
// Invariants: no page runs inline script or eval (the policy forbids them,
// and require-trusted-types-for makes every HTML-parsing sink throw), and
// the scripts put model and user text into the page only as text
// (textContent, Text nodes), never as HTML.
//
// Concurrency: the files are read-only after init; Lookup is safe for
// concurrent use. It imports only the standard library.
package console
