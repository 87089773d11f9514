package apitype

import (
	"encoding/json"
	"time"
)

// Usage counts tokens.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Session is a session as the API shows it. Messages and Pending are set
// only by GET /api/v1/sessions/{id}.
type Session struct {
	ID             string    `json:"id"`
	WorkspaceID    string    `json:"workspace_id"`
	Title          string    `json:"title"`
	Model          string    `json:"model"`
	SystemPrompt   string    `json:"system_prompt,omitempty"`
	PermissionMode string    `json:"permission_mode"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	MessageCount   int       `json:"message_count"`
	Usage          Usage     `json:"usage"`
	// AgentID and AgentVersion name the agent profile version the session
	// started with.
	AgentID      string `json:"agent_id,omitempty"`
	AgentVersion int    `json:"agent_version,omitempty"`
	// CorpusIDs are the corpora the session's turns retrieve from.
	CorpusIDs []string `json:"corpus_ids"`
	// Memory is the session's memory setting; null means the user's
	// preferences apply.
	Memory   *SessionMemory `json:"memory"`
	Messages []Message      `json:"messages,omitempty"`
	Pending  []Pending      `json:"pending,omitempty"`
}

// SessionList is a page of sessions.
type SessionList struct {
	Data       []Session `json:"data"`
	NextCursor string    `json:"next_cursor"`
}

// Block is a content block: text {text}, tool_use {id, name, input},
// tool_result {tool_use_id, content, is_error}, thinking {thinking}.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   *string         `json:"content,omitempty"`
	IsError   *bool           `json:"is_error,omitempty"`
}

// Message is one message of a session.
type Message struct {
	Role      string    `json:"role"`
	Content   []Block   `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Pending is an open permission or prompt request.
type Pending struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	ToolName  string          `json:"tool_name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Question  string          `json:"question,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// CreateSessionRequest is the body of POST /api/v1/sessions.
type CreateSessionRequest struct {
	Title          string `json:"title"`
	WorkspaceID    string `json:"workspace_id"`
	Model          string `json:"model"`
	SystemPrompt   string `json:"system_prompt"`
	PermissionMode string `json:"permission_mode"`
	AgentSlug      string `json:"agent_slug"`
	// CorpusIDs turn on retrieval from these corpora for every turn.
	CorpusIDs []string `json:"corpus_ids"`
	// Memory overrides the user's memory preferences for this session.
	Memory *SessionMemory `json:"memory"`
}

// SessionMemory is a session's memory setting.
type SessionMemory struct {
	// Extract is "auto" (after each turn) or "off".
	Extract string `json:"extract"`
	// Inject recalls memories into each turn. Omitted in a request, it is
	// true, the preferences' default.
	Inject bool `json:"inject"`
}

// UnmarshalJSON reads a memory setting, with inject true when omitted.
func (m *SessionMemory) UnmarshalJSON(b []byte) error {
	type plain SessionMemory
	p := plain{Inject: true}
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*m = SessionMemory(p)
	return nil
}

// UpdateSessionRequest is the body of PATCH /api/v1/sessions/{id}; absent
// fields stay as they are.
type UpdateSessionRequest struct {
	Title          *string `json:"title"`
	Model          *string `json:"model"`
	SystemPrompt   *string `json:"system_prompt"`
	PermissionMode *string `json:"permission_mode"`
}

// QueryRequest is the body of POST /api/v1/query and /api/v1/query/stream.
type QueryRequest struct {
	Prompt            string `json:"prompt"`
	SessionID         string `json:"session_id"`
	WorkspaceID       string `json:"workspace_id"`
	Model             string `json:"model"`
	ProviderSettingID string `json:"provider_setting_id"`
	CorpusID          string `json:"corpus_id"`
	AgentSlug         string `json:"agent_slug"`
	PermissionMode    string `json:"permission_mode"`
	MaxTurns          int    `json:"max_turns"`
	SystemPrompt      string `json:"system_prompt"`
}

// ToolUse is a tool call in a query response.
type ToolUse struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// ToolResult is a tool result in a query response.
type ToolResult struct {
	ToolUseID string `json:"tool_use_id"`
	IsError   bool   `json:"is_error"`
	Content   string `json:"content"`
}

// QueryResponse is the answer of POST /api/v1/query and the data of the
// stream's `done` event.
type QueryResponse struct {
	SessionID   string       `json:"session_id"`
	TurnID      string       `json:"turn_id"`
	Content     string       `json:"content"`
	StopReason  string       `json:"stop_reason"`
	Usage       Usage        `json:"usage"`
	ToolUses    []ToolUse    `json:"tool_uses"`
	ToolResults []ToolResult `json:"tool_results"`
	RAGResults  []RAGResult  `json:"rag_results"`
	// MemoriesUsed are the ids of the memories recalled into the turn.
	MemoriesUsed []string `json:"memories_used"`
	// PlanID names the plan the turn proposed (plan mode).
	PlanID string `json:"plan_id,omitempty"`
}

// RAGResult is one retrieved chunk a turn used.
type RAGResult struct {
	CorpusID string  `json:"corpus_id"`
	ChunkID  string  `json:"chunk_id"`
	FileID   string  `json:"file_id"`
	Path     string  `json:"path"`
	Score    float64 `json:"score"`
	Text     string  `json:"text"`
	// Source is "prefetch" (before the first model call) or "tool".
	Source string `json:"source"`
}

// RAGRef is one result of the rag_results runtime event.
type RAGRef struct {
	ChunkID string  `json:"chunk_id"`
	FileID  string  `json:"file_id"`
	Path    string  `json:"path"`
	Score   float64 `json:"score"`
}

// RuntimeEvent is the data of an `event: runtime` stream event.
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
	Results   []RAGRef        `json:"results,omitempty"`
	MemoryIDs []string        `json:"memory_ids,omitempty"`
	PlanID    string          `json:"plan_id,omitempty"`
	Version   int             `json:"version,omitempty"`
	Shown     int             `json:"shown,omitempty"`
	Total     int             `json:"total,omitempty"`
}

// Delta is the data of a default stream event.
type Delta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// StreamError is the data of an `event: error` stream event.
type StreamError struct {
	Error string `json:"error"`
}

// PermissionDecision is the body of POST .../permissions/{request_id}.
type PermissionDecision struct {
	Decision string `json:"decision"`
	Remember bool   `json:"remember"`
	Reason   string `json:"reason"`
}

// PermissionDecided answers a permission decision.
type PermissionDecided struct {
	RequestID string `json:"request_id"`
	Decision  string `json:"decision"`
}

// PromptAnswer is the body of POST .../prompts/{request_id}.
type PromptAnswer struct {
	Answer string `json:"answer"`
}

// PromptAnswered answers a prompt answer.
type PromptAnswered struct {
	RequestID string `json:"request_id"`
	Answered  bool   `json:"answered"`
}

// Interrupted answers POST .../interrupt.
type Interrupted struct {
	Interrupted bool `json:"interrupted"`
}
