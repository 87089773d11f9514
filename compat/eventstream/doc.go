// Package eventstream is the Server-Sent Events wire codec: an encoder that
// frames events as `id:`/`event:`/`data:` lines and comments, and a decoder
// for reading upstream streams (provider APIs) and for tests and the bench.
//
// It imports only the standard library. Encoder and Decoder are not safe for
// concurrent use; each belongs to the goroutine that owns its stream.
package eventstream
