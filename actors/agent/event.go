package agent

import (
	"encoding/json"
	"strconv"
)

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
	out, ok := e.AppendData(make([]byte, 0, e.DataSizeHint()))
	if !ok {
		out = nil
	}
	e.Data = out
}

// DataSizeHint is about the length of the event's JSON payload.
func (e *Event) DataSizeHint() int {
	// {"type":"thinking_delta","text":"…"} is 35 bytes and the text.
	n := 40 + len(e.Delta) + len(e.Error)
	if r := e.Result; r != nil {
		n += 256 + len(r.Content) + 128*(len(r.ToolUses)+len(r.ToolResults)+len(r.RAGResults))
	}
	if r := e.Runtime; r != nil {
		n += 128 + len(r.Input) + len(r.Message) + len(r.Question) + 64*len(r.Results)
		if r.Output != nil {
			n += len(*r.Output)
		}
	}
	return n
}

// AppendData appends the event's JSON payload, which Encode puts in
// Data, to dst. It reports false, with dst unchanged, for an event that
// encoding/json cannot encode either (an invalid raw input, a score that
// is not a number); Encode leaves such an event's Data nil.
func (e *Event) AppendData(dst []byte) ([]byte, bool) {
	var (
		out []byte
		err error
	)
	switch e.Kind {
	case KindDelta:
		typ := `{"type":"text_delta","text":`
		if e.Thinking {
			typ = `{"type":"thinking_delta","text":`
		}
		out = append(AppendJSONString(append(dst, typ...), e.Delta), '}')
	case KindRuntime:
		if e.Runtime == nil {
			return append(dst, "null"...), true
		}
		out, err = e.Runtime.AppendJSON(dst)
	case KindDone:
		if e.Result == nil {
			return append(dst, "null"...), true
		}
		out, err = e.Result.AppendJSON(dst)
	case KindError:
		out = append(AppendJSONString(append(dst, `{"error":`...), e.Error), '}')
	default:
		out = append(dst, "null"...)
	}
	if err != nil {
		// encoding/json may accept what the appenders refuse.
		b := e.encodeStd()
		return append(dst, b...), b != nil
	}
	return out, true
}

// encodeStd is Encode through encoding/json, for the values the
// appenders refuse; it gives nil where encoding/json fails.
func (e *Event) encodeStd() []byte {
	var v any
	switch e.Kind {
	case KindRuntime:
		v = e.Runtime
	case KindDone:
		v = e.Result
	}
	b, _ := json.Marshal(v)
	return b
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

// AppendJSON appends e as encoding/json's Marshal writes it; it fails,
// with dst unchanged, where Marshal fails.
func (e *RuntimeEvent) AppendJSON(dst []byte) ([]byte, error) {
	out := append(dst, `{"type":`...)
	out = AppendJSONString(out, e.Type)
	out = appendStringField(out, "session_id", e.SessionID)
	out = appendOmitString(out, "turn_id", e.TurnID)
	out = appendOmitString(out, "tool_use_id", e.ToolUseID)
	out = appendOmitString(out, "name", e.Name)
	var err error
	if len(e.Input) > 0 {
		if out, err = AppendJSONRaw(appendKey(out, "input"), e.Input); err != nil {
			return dst, err
		}
	}
	out = appendOmitString(out, "message", e.Message)
	if e.IsError != nil {
		out = appendBool(appendKey(out, "is_error"), *e.IsError)
	}
	if e.Output != nil {
		out = appendStringField(out, "output", *e.Output)
	}
	out = appendOmitString(out, "request_id", e.RequestID)
	out = appendOmitString(out, "tool_name", e.ToolName)
	out = appendOmitString(out, "decision", e.Decision)
	out = appendOmitString(out, "question", e.Question)
	out = appendOmitString(out, "corpus_id", e.CorpusID)
	if len(e.Results) > 0 {
		out = append(appendKey(out, "results"), '[')
		for i, r := range e.Results {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"chunk_id":`...)
			out = AppendJSONString(out, r.ChunkID)
			out = appendStringField(out, "file_id", r.FileID)
			out = appendStringField(out, "path", r.Path)
			if out, err = AppendJSONFloat(appendKey(out, "score"), r.Score); err != nil {
				return dst, err
			}
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	if len(e.MemoryIDs) > 0 {
		out = AppendJSONStrings(appendKey(out, "memory_ids"), e.MemoryIDs)
	}
	out = appendOmitString(out, "plan_id", e.PlanID)
	out = appendOmitInt(out, "version", e.Version)
	out = appendOmitInt(out, "shown", e.Shown)
	out = appendOmitInt(out, "total", e.Total)
	return append(out, '}'), nil
}

func appendOmitInt(dst []byte, name string, v int) []byte {
	if v == 0 {
		return dst
	}
	return strconv.AppendInt(appendKey(dst, name), int64(v), 10)
}

// AppendJSON appends u as encoding/json's Marshal writes it.
func (u Usage) AppendJSON(dst []byte) []byte {
	dst = strconv.AppendInt(append(dst, `{"input_tokens":`...), u.InputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"output_tokens":`...), u.OutputTokens, 10)
	return append(dst, '}')
}

// AppendJSON appends r as encoding/json's Marshal writes it; it fails,
// with dst unchanged, where Marshal fails.
func (r *QueryResult) AppendJSON(dst []byte) ([]byte, error) {
	out := append(dst, `{"session_id":`...)
	out = AppendJSONString(out, r.SessionID)
	out = appendStringField(out, "turn_id", r.TurnID)
	out = appendStringField(out, "content", r.Content)
	out = appendStringField(out, "stop_reason", string(r.StopReason))
	out = r.Usage.AppendJSON(appendKey(out, "usage"))
	out, err := appendArray(appendKey(out, "tool_uses"), r.ToolUses, (*ToolUse).appendJSON)
	if err != nil {
		return dst, err
	}
	if out, err = appendArray(appendKey(out, "tool_results"), r.ToolResults, (*ToolResult).appendJSON); err != nil {
		return dst, err
	}
	if out, err = appendArray(appendKey(out, "rag_results"), r.RAGResults, (*Source).appendJSON); err != nil {
		return dst, err
	}
	out = AppendJSONStrings(appendKey(out, "memories_used"), r.MemoriesUsed)
	out = appendOmitString(out, "plan_id", r.PlanID)
	return append(out, '}'), nil
}

func (t *ToolUse) appendJSON(out []byte) ([]byte, error) {
	out = append(out, `{"id":`...)
	out = AppendJSONString(out, t.ID)
	out = appendStringField(out, "name", t.Name)
	out, err := AppendJSONRaw(appendKey(out, "input"), t.Input)
	return append(out, '}'), err
}

func (t *ToolResult) appendJSON(out []byte) ([]byte, error) {
	out = append(out, `{"tool_use_id":`...)
	out = AppendJSONString(out, t.ToolUseID)
	out = appendBool(appendKey(out, "is_error"), t.IsError)
	out = appendStringField(out, "content", t.Content)
	return append(out, '}'), nil
}

func (s *Source) appendJSON(out []byte) ([]byte, error) {
	out = append(out, `{"corpus_id":`...)
	out = AppendJSONString(out, s.CorpusID)
	out = appendStringField(out, "chunk_id", s.ChunkID)
	out = appendStringField(out, "file_id", s.FileID)
	out = appendStringField(out, "path", s.Path)
	out, err := AppendJSONFloat(appendKey(out, "score"), s.Score)
	if err != nil {
		return out, err
	}
	out = appendStringField(out, "text", s.Text)
	out = appendStringField(out, "source", s.Origin)
	return append(out, '}'), nil
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
