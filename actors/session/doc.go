// Package session is the session actor: the one owner of a session's
// history, permission state (mode and remembered decisions), open
// permission and prompt requests, the running turn, and the numbered event
// log of the current or last turn that streams replay from.
//
// Concurrency contract: every field of the actor is touched only inside
// Receive, on the actor's mailbox goroutine. The turn runner runs on a
// goroutine the actor starts and cancels; it talks back only by messages
// (see messages.go) and parks on a reply channel while a permission or a
// prompt is open, always also selecting on its context. Subscribers get a
// bounded channel that only the actor sends on and closes; the actor never
// blocks on one: a full channel drops that subscriber, and it may re-attach
// with Last-Event-ID.
//
// Durability: the actor saves its record and snapshot through the store's
// group-commit writer when a turn starts, at every committed message, when a
// turn ends (the `done` event is emitted only after that save is durable),
// on passivation and on shutdown. A snapshot that still names a running turn
// is a turn cut by a crash; loading it records that turn as interrupted.
//
// Imports actors/agent, actors/turn, persist and protoactor-go; never
// anything under http/.
package session
