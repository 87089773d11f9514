package anthropic

import (
	"encoding/json"
	"strings"
	"time"
)

// CountTokensRequest is the body of POST /v1/messages/count_tokens: a
// Messages body without max_tokens, stream, stop sequences, metadata or
// sampling parameters.
type CountTokensRequest struct {
	Model      string         `json:"model"`
	System     Content        `json:"system,omitempty"`
	Messages   []MessageParam `json:"messages"`
	Tools      []Tool         `json:"tools,omitempty"`
	ToolChoice *ToolChoice    `json:"tool_choice,omitempty"`
	Thinking   *Thinking      `json:"thinking,omitempty"`
}

// MessagesRequest returns r as a Messages request, for EstimateTokens and
// FromMessagesRequest.
func (r CountTokensRequest) MessagesRequest() MessagesRequest {
	return MessagesRequest{
		Model: r.Model, System: r.System, Messages: r.Messages,
		Tools: r.Tools, ToolChoice: r.ToolChoice, Thinking: r.Thinking,
	}
}

// CountTokensResponse is the answer of count_tokens.
type CountTokensResponse struct {
	InputTokens int64 `json:"input_tokens"`
}

// Model describes one model of GET /v1/models.
type Model struct {
	// Type is always "model"; it is written as such when empty.
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	// MaxInputTokens and MaxTokens are left out when unknown (zero).
	MaxInputTokens int64 `json:"max_input_tokens,omitempty"`
	MaxTokens      int64 `json:"max_tokens,omitempty"`
}

// MarshalJSON writes the model with Type "model" and CreatedAt in UTC,
// and with the fields an OpenAI client reads: object "model", created (the
// Unix time of CreatedAt) and owned_by (the provider part of the id, or
// "seshat").
func (m Model) MarshalJSON() ([]byte, error) {
	type plain Model
	w := struct {
		plain
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}{plain: plain(m), Object: "model", Created: m.CreatedAt.Unix(), OwnedBy: "seshat"}
	if w.Type == "" {
		w.Type = "model"
	}
	w.CreatedAt = w.CreatedAt.UTC()
	if owner, _, ok := strings.Cut(m.ID, ":"); ok && owner != "" {
		w.OwnedBy = owner
	}
	return json.Marshal(w)
}

// ModelList is one page of GET /v1/models. HasMore is always written, as
// the SDK auto-pagers loop without it.
type ModelList struct {
	Data    []Model
	HasMore bool
	// FirstID and LastID are the ids of the page's first and last models,
	// written as null when the page is empty.
	FirstID string
	LastID  string
}

// NewModelList returns the page holding models (newest first), with
// FirstID and LastID filled in.
func NewModelList(models []Model, hasMore bool) ModelList {
	l := ModelList{Data: models, HasMore: hasMore}
	if len(models) > 0 {
		l.FirstID, l.LastID = models[0].ID, models[len(models)-1].ID
	}
	return l
}

type modelListWire struct {
	// Object is "list", for OpenAI clients.
	Object  string  `json:"object,omitempty"`
	Data    []Model `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

// MarshalJSON writes the page with data as [] when empty.
func (l ModelList) MarshalJSON() ([]byte, error) {
	w := modelListWire{Object: "list", Data: l.Data, HasMore: l.HasMore, FirstID: nullable(l.FirstID), LastID: nullable(l.LastID)}
	if w.Data == nil {
		w.Data = []Model{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a page; null ids become "".
func (l *ModelList) UnmarshalJSON(data []byte) error {
	var w modelListWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*l = ModelList{Data: w.Data, HasMore: w.HasMore, FirstID: deref(w.FirstID), LastID: deref(w.LastID)}
	return nil
}
