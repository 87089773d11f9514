// Package agent holds the runtime's own types: typed ids, conversation
// messages and content blocks, model requests and responses, the events a
// turn emits, usage, stop reasons and the sentinel errors every layer maps.
//
// It is a leaf: it imports only the standard library, so compat, http and
// bench can all depend on it without pulling in the server. Values here are
// plain data and safe to share once built; nothing in this package keeps
// mutable state.
package agent
