// Package websearch is the web search and fetch family: the server's
// search provider (SearXNG, Brave or Tavily, each spoken in its own wire
// format), results normalised to title, URL, snippet and publication
// date, domain allow and block lists, a short result cache, a limiter per
// provider that turns throttling into an immediate error instead of a
// stalled turn, and web_fetch, which reads a page as Markdown through the
// outbound fence with caps on redirects, size and time.
//
// The settings live in persist (the API key sealed); a Service reads them
// on every search, so a change applies at once. The provider's URL is set
// by a server admin and is not fenced; fetched pages are, since any
// user's turn picks them.
//
// The web_search and web_fetch tools (Tools) wrap the same Service. A
// Service is safe for concurrent use and starts no goroutines.
package websearch
