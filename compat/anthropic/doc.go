// Package anthropic is the wire format of the Anthropic Messages API and its
// translation to and from the runtime's own types in actors/agent. Both
// directions use it: the inbound POST /v1/messages layer decodes requests
// with FromMessagesRequest and streams answers with a StreamConverter; the
// outbound provider client builds requests with ToMessagesRequest and reads
// upstream streams with a StreamDecoder.
//
// The contract it follows is ANTHROPIC-COMPAT.md: content given as a string
// or as blocks, system prompts as a string or as text blocks, the stream
// grammar (message_start, indexed content blocks, cumulative message_delta
// usage, exactly one message_stop, or an error event instead of the rest),
// the error envelope and its status mapping, count_tokens and the model
// list.
//
// Blocks the runtime has no field for (image, document and any block type
// this package does not model) are kept as their raw JSON, in
// ContentBlock.Raw on the wire side and in agent.Block.Input on the runtime
// side, so that they reach an Anthropic upstream unchanged. Thinking blocks
// keep their signature byte for byte; a thinking block without a signature
// (one that came from another provider) is dropped on the way out, since
// Anthropic rejects it.
//
// The package is pure: no I/O other than reading the io.Reader handed to
// NewStreamDecoder, no goroutines, no global state. Values are plain data;
// a StreamConverter or StreamDecoder belongs to the goroutine that drives
// its stream and is not safe for concurrent use.
//
// It imports only actors/agent, compat/eventstream and the standard
// library: no fasthttp, no protoactor.
package anthropic
