// Package openai is the wire format of the OpenAI Chat Completions API, as
// spoken by OpenAI and by the servers that copy it (Ollama, vLLM, llama.cpp,
// LM Studio, gateways), and its translation to and from the runtime's own
// types in actors/agent.
//
// It holds the request, response and streamed chunk types, converters in
// both directions (ToChatRequest and FromChatResponse for the outbound
// provider client, FromChatRequest and ToChatResponse for an inbound
// endpoint), a StreamDecoder for `data:` SSE streams ending in [DONE], and
// an Accumulator that folds chunks into deltas for the runtime and a
// complete response: tool calls split across chunks are joined by index
// and announced once the choice finishes, and finish reasons map to the
// runtime's stop reasons (stop → end_turn, tool_calls → tool_use, length →
// max_tokens, content_filter → refusal).
//
// Mapping rules worth knowing: the system prompt is the first message (role
// "system"); tool_result blocks become role "tool" messages, placed before
// the rest of their user message so that they directly follow the
// assistant's tool_calls; tool_use blocks become tool_calls with their
// input as the arguments string; thinking blocks are not sent (other
// servers reject or misread them), while streamed reasoning
// ("reasoning_content" or "reasoning") becomes thinking. Images in the
// runtime are kept as Anthropic image blocks (see compat/anthropic); they
// are sent as image_url parts and read back into that shape.
//
// The package is pure: no I/O besides reading the io.Reader handed to
// NewStreamDecoder, no goroutines, no global state. An Accumulator or a
// StreamDecoder belongs to the goroutine driving its stream.
//
// It imports only actors/agent, compat/eventstream and the standard
// library.
package openai
