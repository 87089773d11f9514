// Package chatcompat shapes a Seshat turn as one OpenAI chat completion:
// it checks what an inbound POST /v1/chat/completions asks for (a single
// choice, a response format the host can pass on), builds the completion
// that reports a finished turn, the chunks of a streamed one and the
// OpenAI error envelope whose type follows from the HTTP status.
//
// The wire types and the message mapping are compat/openai's; which
// blocks of a turn the client sees (its text and reasoning, the calls of
// the tools it declared, never the server's own tool calls) and which
// messages a turn takes from a request are compat/anthropic's rules, the
// same for both compatible APIs.
//
// The package is pure: no I/O, no goroutines, no global state. A Stream
// belongs to the goroutine that drives it.
package chatcompat
