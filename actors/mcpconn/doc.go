// Package mcpconn connects the host to outside Model Context Protocol
// servers through the official Go SDK (github.com/modelcontextprotocol/go-sdk),
// over stdio, streamable HTTP or the older SSE transport.
//
// There is one connection per (server, workspace), owned by a connection
// actor under a supervisor actor that restarts it after a panic. The
// actor connects, lists the server's tools (cached, listed again on
// notifications/tools/list_changed), reconnects with back-off when the
// server's process exits, the connection drops or the server says its
// session is gone (the SDK's ErrSessionMissing: a dead session id is never
// reused), stops itself after an idle period, and closes its session when
// it stops: on delete, on disable, on a change of the server, and at
// shutdown. A stdio server runs in its own process group with only the
// environment it was configured with (plus PATH, HOME and the locale).
// One goroutine per process waits for it: when it exits the rest of its
// group is killed and it is reaped. Ending a connection closes the
// server's stdin, then after TerminateDuration sends its group SIGTERM,
// after another SIGKILL, and returns once the process has been reaped
// (reporting one that even SIGKILL did not end within 5s), so that
// stopping a connection and Shutdown leave no process and no zombie.
// Shutdown also ends the processes of a connection that did not stop in
// time, and logs it.
//
// Tool calls never run in an actor's mailbox: the actor lends the live
// session to the caller, who calls it under the turn's context (an
// interrupt cancels the MCP request), a timeout, and a cap on the size of
// the result. Progress notifications reach the caller's callback. HTTP
// servers are reached through the outbound fence unless a server admin set
// their URL.
//
// Tools returns tool.Tool values named mcp__SERVER__TOOL, whose approval
// follows the server's require_approval ("writes" trusts the tool's
// read-only hint).
package mcpconn
