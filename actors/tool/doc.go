// Package tool defines what a tool is to the turn runner, the registry of
// server-side tools, the built-in tools (read_file, write_file, list_files,
// ask_user) and the minimal JSON-schema check applied to tool input.
//
// Input validation is the caller's job: the turn runner calls ValidateInput
// with the tool's schema before it asks for permission or calls Run, so a
// malformed call never reaches a human or a tool. Tools still decode their
// input defensively, because Run is an exported entry point.
//
// Concurrency: a Registry is immutable once built and safe for concurrent
// use. Tools are shared by every session, so a Tool keeps no per-call state;
// everything a call needs arrives in its Call. Run must honour ctx: the
// runner calls it on its own goroutine and an interrupt waits for it.
//
// The package imports only actors/agent and the standard library. File
// access goes through the FileStore interface, implemented elsewhere over
// the real Files store, so this package never imports persist.
package tool
