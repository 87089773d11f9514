// Package provider is the runtime's side of a model call: the Provider
// interface the turn runner streams from, the Registry that resolves a
// "provider:model" id, and the backends, one file each. The mock backend
// (NewMock) implements API.md's offline mock exactly; the Anthropic and
// OpenAI clients belong here as files too (NewAnthropic, NewOpenAI), built
// on compat's wire types and a net/http client so that cancelling ctx
// aborts an in-flight call. Both HTTP backends share retry.go: transient
// failures are retried only before an answer's body is read, and error
// answers surface as *UpstreamError.
//
// Concurrency: a Provider is shared by every session and must be safe for
// concurrent calls; it keeps no per-call state. Registry is safe for
// concurrent use, though it is meant to be filled at start-up and only read
// afterwards.
//
// The package may import actors/agent, compat/…, golang.org/x/oauth2 (token
// refresh for OAuth-issued credentials) and the standard library.
// It must not import the actor system, persist, fasthttp or anything under
// http/.
package provider
