package agent

// TurnContext is what the domain families add to a turn: the corpora to
// retrieve from, the agent profile, the memory policy. It is carried
// unchanged from the request through the session to the turn runner and
// its extensions. A session keeps its own; a turn's non-empty fields
// override the session's.
type TurnContext struct {
	// CorpusIDs are the corpora retrieval runs over: the query's
	// corpus_id, else the session's corpus_ids, else the profile's.
	CorpusIDs []string `json:"corpus_ids,omitempty"`
	// AgentID and AgentVersion name the agent profile version in use.
	AgentID      string `json:"agent_id,omitempty"`
	AgentVersion int    `json:"agent_version,omitempty"`
	// Memory is the memory policy; nil means the user's preferences.
	Memory *MemoryPolicy `json:"memory,omitempty"`
	// PlanID names the approved plan the turn carries out; it is the
	// turn's own and never the session's.
	PlanID string `json:"plan_id,omitempty"`
}

// Over returns c with every empty field taken from base: the turn's own
// context over its session's.
func (c TurnContext) Over(base TurnContext) TurnContext {
	if len(c.CorpusIDs) == 0 {
		c.CorpusIDs = base.CorpusIDs
	}
	if c.AgentID == "" {
		c.AgentID, c.AgentVersion = base.AgentID, base.AgentVersion
	}
	if c.Memory == nil {
		c.Memory = base.Memory
	}
	return c
}

// MemoryPolicy says whether memories are extracted after a turn and
// recalled into it.
type MemoryPolicy struct {
	// Extract is "auto" or "off".
	Extract string `json:"extract"`
	Inject  bool   `json:"inject"`
}

// Memory extract policies.
const (
	MemoryExtractAuto = "auto"
	MemoryExtractOff  = "off"
)

// Source is one retrieved chunk as the query response's rag_results lists
// it and as a model request carries it.
type Source struct {
	CorpusID string  `json:"corpus_id"`
	ChunkID  string  `json:"chunk_id"`
	FileID   string  `json:"file_id"`
	Path     string  `json:"path"`
	Score    float64 `json:"score"`
	Text     string  `json:"text"`
	// Origin is SourcePrefetch or SourceTool.
	Origin string `json:"source"`
}

// Where a Source came from.
const (
	// SourcePrefetch is retrieval before the turn's first model call.
	SourcePrefetch = "prefetch"
	// SourceTool is a search tool the model called.
	SourceTool = "tool"
)

// Ref returns the part of s that the rag_results event carries.
func (s Source) Ref() SourceRef {
	return SourceRef{ChunkID: s.ChunkID, FileID: s.FileID, Path: s.Path, Score: s.Score}
}

// SourceRef is one result of the rag_results runtime event.
type SourceRef struct {
	ChunkID string  `json:"chunk_id"`
	FileID  string  `json:"file_id"`
	Path    string  `json:"path"`
	Score   float64 `json:"score"`
}

// Memory is one recalled memory as a model request carries it.
type Memory struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}
