// Package memory is the long-term memories family: facts, preferences,
// instructions and events kept across sessions, for one user in a
// workspace or shared by the workspace.
//
// # The update rule
//
// Every write (the API's POST and PATCH, the memory_save tool, extraction
// after a turn) goes through one deterministic rule, run inside the store
// transaction that writes, so concurrent writers cannot both add a fact:
//
//   - a candidate whose normalised text (persist.NormalizeMemory: terms
//     without case, punctuation or stop words) equals an active memory's,
//     or that is near-equal to one (Similarity ≥ NearDuplicate: the
//     Jaccard index of their term sets, never when a differing term holds
//     a digit), is a noop;
//   - a candidate that names a memory it replaces (by id, or by content as
//     the mock's "!replaces OLD" does) marks that one superseded and links
//     both (Supersedes, SupersededBy); if the new text already exists as an
//     active memory, the old one is linked to that instead;
//   - anything else is added.
//
// Extraction never overwrites or deletes: only the API's DELETE removes a
// memory.
//
// # Extraction
//
// After a turn, Enqueue hands the turn's messages to the user's worker: a
// goroutine per user with queued work, so a user's extractions run one at
// a time and in order, at most Config.Workers users' at once, never on the
// turn's path. It calls the session's model with the conversation's text
// and the most relevant known memories, forcing the tool
// provider.MemoryExtractTool, whose input lists the candidates. The mock
// answers that call from @remember lines.
//
// # Recall
//
// Recall ranks the active memories of the user (in the turn's workspace)
// and of the workspace by BM25 against the prompt (persist.SearchMemories)
// and returns the top RecallLimit.
package memory
