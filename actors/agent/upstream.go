package agent

import (
	"errors"
	"fmt"
	"time"
)

// PrefixMCP is the id prefix of MCP servers.
const PrefixMCP = "mcp"

// ErrWebSearchDisabled: web search is asked for while no provider is
// configured.
var ErrWebSearchDisabled = errors.New("web search is disabled")

// ErrSecretRequired: a change of a credential's destination (a provider,
// a base URL, an MCP server's URL) without the credential again, which
// would send a stored secret somewhere it was not stored for.
var ErrSecretRequired = errors.New("secret required")

// UpstreamError is the failure of an outside service the server called on
// a user's behalf: an MCP server, a web search provider or a fetched page.
// Its message is safe for any caller: the service's own error body is
// never echoed, only its status and a short description.
type UpstreamError struct {
	// Service names the outside service ("searxng", "mcp server docs").
	Service string
	// Status is the service's HTTP status, 0 if it gave none.
	Status int
	// Msg says what went wrong, for the client.
	Msg string
	// RetryAfter, if positive, is how long the service asked to wait
	// (a 429, or the host's own limiter for it).
	RetryAfter time.Duration
}

// Error returns the service, its status and the message.
func (e *UpstreamError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Service, e.Status, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Service, e.Msg)
}

// Throttled reports whether the service (or the host's limiter for it)
// refused for now.
func (e *UpstreamError) Throttled() bool { return e.Status == 429 || e.RetryAfter > 0 }
