// Package egress is the outbound fence: HTTP clients whose every
// connection, including each redirect's, is checked after name resolution
// against the destinations a tenant must not reach from the server
// (loopback, private, link-local, carrier-grade NAT, multicast,
// unspecified and IPv6 unique-local addresses, IPv4-mapped forms
// included), unless the policy allows private destinations.
//
// The check runs in the dialer's Control hook, on the address actually
// dialled, so a name that resolves to a public address for a first check
// and to a private one for the connection (DNS rebinding) is still
// refused. Clients never use a proxy from the environment, which would
// move the connection out of the fence's sight.
//
// It imports only the standard library, so that every family that calls
// out (MCP servers, web search and fetch, provider settings) can share it.
package egress
