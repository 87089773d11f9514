// Package turn is the turn runner the session actor owns: one call to Run
// drives one turn of a conversation, a loop of model call → tool calls →
// model call, until the model ends its answer, a limit is hit, a
// client-declared tool is called, or ctx is cancelled.
//
// The runner never touches session state and never writes to a connection.
// Everything it produces goes to the Sink the session passes in: text
// deltas and tool events (handed off without blocking), finished messages
// to commit in order, and the two waits a turn can have, permission and
// user prompts, which the session turns into durable requests and events.
//
// Invariants:
//   - Only finished messages are committed: an answer interrupted while
//     streaming is committed with the text received so far only when that
//     text is not empty, and never with half a tool use. An answer whose
//     call fails is not committed at all. Answers with no content are not
//     committed, since providers reject empty messages. A tool use in an
//     answer cut at max_tokens is dropped: it is never run, and left
//     unanswered it would break every later call of the session.
//   - Every tool_use the turn commits is answered by a tool_result in the
//     next committed user message, even when the turn is interrupted
//     ("interrupted") or fails ("not run: the turn failed"), so the
//     history stays valid for any provider. The only exception is a call to
//     a client-declared tool: its result is the client's next request.
//   - Tool input is checked against the tool's schema (tool.ValidateInput)
//     before permission is asked and before the tool runs.
//   - A panic anywhere in Run, including in a tool, ends the turn with
//     StopError and a *PanicError in Result.Err; it never crashes the
//     process.
//
// Concurrency: a Runner is immutable after New and safe for concurrent
// use; each Run is synchronous and starts no goroutine, so everything it
// does ends when it returns. Run calls the Sink from its own goroutine,
// apart from the progress reports and questions of a tool that uses
// goroutines of its own (see Sink). Tools run on Run's goroutine and must
// honour ctx, since an interrupt waits for the tool to return.
//
// The package imports actors/{agent,provider,tool,permission} only; it
// must not import the actor system, persist, fasthttp or anything under
// http/.
package turn
