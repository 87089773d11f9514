package agent

import "encoding/json"

// EventKind is the SSE event name of an Event.
type EventKind uint8

// Event kinds, matching the SSE `event:` lines of the streaming API.
const (
	// KindDelta is the default (unnamed) event: a response chunk.
	KindDelta EventKind = iota + 1
	// KindRuntime is `event: runtime`.
	KindRuntime
	// KindDone is `event: done`: the turn ended; Result is set.
	KindDone
	// KindError is `event: error`: the turn failed; Error is set.
	KindError
)

// SSEName returns the `event:` line value, "" for the default event.
func (k EventKind) SSEName() string {
	switch k {
	case KindRuntime:
		return "runtime"
	case KindDone:
		return "done"
	case KindError:
		return "error"
	}
	return ""
}

// Runtime event types.
const (
	RuntimeSession            = "session"
	RuntimeToolStarted        = "tool_started"
	RuntimeToolProgress       = "tool_progress"
	RuntimeToolFinished       = "tool_finished"
	RuntimePermissionRequest  = "permission_request"
	RuntimePermissionResolved = "permission_resolved"
	RuntimePromptRequest      = "prompt_request"
	RuntimePromptResolved     = "prompt_resolved"
	RuntimeInterrupted        = "interrupted"
	RuntimeResync             = "resync"
	// RuntimeRAGResults names what retrieval found in one corpus before the
	// turn's first model call (CorpusID, Results).
	RuntimeRAGResults = "rag_results"
	// RuntimeMemoryRecalled names the memories put into the turn's context
	// (MemoryIDs).
	RuntimeMemoryRecalled = "memory_recalled"
	// RuntimePlanProposed announces a plan version the turn proposed
	// (PlanID, Version).
	RuntimePlanProposed = "plan_proposed"
	// RuntimeSkillsTruncated says the skills catalogue did not fit its
	// budget: Shown of Total skills are listed.
	RuntimeSkillsTruncated = "skills_truncated"
	// RuntimeIdleTimeout ends a stream that followed a session with no
	// running turn for the idle lifetime; the client re-attaches to go on.
	RuntimeIdleTimeout = "idle_timeout"
)

// Event is one numbered event of a turn. ID increases by one within the
// turn, starting at 1. Data is the event's JSON, encoded once when the
// session appends it to its log, so fan-out and replay never re-encode.
type Event struct {
	ID   uint64
	Kind EventKind
	// Delta is the text of a KindDelta event.
	Delta string
	// Thinking marks a KindDelta event that carries thinking text.
	Thinking bool
	// Runtime is set for KindRuntime.
	Runtime *RuntimeEvent
	// Result is set for KindDone.
	Result *QueryResult
	// Error is set for KindError.
	Error string
	// Data is the event's JSON payload.
	Data []byte
}

// Encode fills e.Data from the typed fields.
func (e *Event) Encode() {
	var v any
	switch e.Kind {
	case KindDelta:
		typ := "text_delta"
		if e.Thinking {
			typ = "thinking_delta"
		}
		v = struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{typ, e.Delta}
	case KindRuntime:
		v = e.Runtime
	case KindDone:
		v = e.Result
	case KindError:
		v = struct {
			Error string `json:"error"`
		}{e.Error}
	}
	e.Data, _ = json.Marshal(v)
}

// RuntimeEvent is the payload of `event: runtime`. Which fields are set
// depends on Type; SessionID is always set.
type RuntimeEvent struct {
	Type      string          `json:"type"`
	SessionID string          `json:"session_id"`
	TurnID    string          `json:"turn_id,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Message   string          `json:"message,omitempty"`
	IsError   *bool           `json:"is_error,omitempty"`
	Output    *string         `json:"output,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
	ToolName  string          `json:"tool_name,omitempty"`
	Decision  string          `json:"decision,omitempty"`
	Question  string          `json:"question,omitempty"`
	CorpusID  string          `json:"corpus_id,omitempty"`
	Results   []SourceRef     `json:"results,omitempty"`
	MemoryIDs []string        `json:"memory_ids,omitempty"`
	PlanID    string          `json:"plan_id,omitempty"`
	Version   int             `json:"version,omitempty"`
	Shown     int             `json:"shown,omitempty"`
	Total     int             `json:"total,omitempty"`
}

// ToolUse is a tool call as the query response reports it.
type ToolUse struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// ToolResult is a tool result as the query response reports it.
type ToolResult struct {
	ToolUseID string `json:"tool_use_id"`
	IsError   bool   `json:"is_error"`
	Content   string `json:"content"`
}

// QueryResult is the query response: the payload of `event: done` and the
// body of a non-streaming query.
type QueryResult struct {
	SessionID   string       `json:"session_id"`
	TurnID      string       `json:"turn_id"`
	Content     string       `json:"content"`
	StopReason  StopReason   `json:"stop_reason"`
	Usage       Usage        `json:"usage"`
	ToolUses    []ToolUse    `json:"tool_uses"`
	ToolResults []ToolResult `json:"tool_results"`
	RAGResults  []Source     `json:"rag_results"`
	// MemoriesUsed are the ids of the memories recalled into the turn.
	MemoriesUsed []string `json:"memories_used"`
	// PlanID names the plan the turn proposed, if it proposed one.
	PlanID string `json:"plan_id,omitempty"`
	// Messages are the messages the turn committed, in order. Not part of
	// the wire shape; compat layers build their answers from them.
	Messages []Message `json:"-"`
}

// Normalize replaces nil slices with empty ones so they encode as [].
func (r *QueryResult) Normalize() {
	if r.ToolUses == nil {
		r.ToolUses = []ToolUse{}
	}
	if r.ToolResults == nil {
		r.ToolResults = []ToolResult{}
	}
	if r.RAGResults == nil {
		r.RAGResults = []Source{}
	}
	if r.MemoriesUsed == nil {
		r.MemoriesUsed = []string{}
	}
}
