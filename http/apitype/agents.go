package apitype

import "time"

// AgentTools narrows the tools of a turn that uses a profile.
type AgentTools struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// AgentMemory is a profile's memory setting.
type AgentMemory struct {
	// Extract is "auto" or "off".
	Extract string `json:"extract"`
	// Inject is true when a request omits it, the preferences' default.
	Inject bool `json:"inject"`
}

// UnmarshalJSON reads a memory setting, with inject true when omitted.
func (m *AgentMemory) UnmarshalJSON(b []byte) error {
	type plain AgentMemory
	p := plain{Inject: true}
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*m = AgentMemory(p)
	return nil
}

// AgentRequest is the body of POST /api/v1/agents (slug required) and of
// PATCH /api/v1/agents/{id} (absent fields stay as they are; the change
// is a new version).
type AgentRequest struct {
	Slug           *string      `json:"slug"`
	Name           *string      `json:"name"`
	Description    *string      `json:"description"`
	WorkspaceID    *string      `json:"workspace_id"`
	Model          *string      `json:"model"`
	SystemPrompt   *string      `json:"system_prompt"`
	PermissionMode *string      `json:"permission_mode"`
	MaxTurns       *int         `json:"max_turns"`
	Tools          *AgentTools  `json:"tools"`
	Skills         *[]string    `json:"skills"`
	MCPServers     *[]string    `json:"mcp_servers"`
	CorpusIDs      *[]string    `json:"corpus_ids"`
	Memory         *AgentMemory `json:"memory"`
	WebSearch      *bool        `json:"web_search"`
}

// Agent is one version of an agent profile. An empty WorkspaceID is a
// server-wide profile.
type Agent struct {
	ID             string       `json:"id"`
	Version        int          `json:"version"`
	Slug           string       `json:"slug"`
	Name           string       `json:"name"`
	Description    string       `json:"description"`
	WorkspaceID    string       `json:"workspace_id"`
	Model          string       `json:"model"`
	SystemPrompt   string       `json:"system_prompt"`
	PermissionMode string       `json:"permission_mode"`
	MaxTurns       int          `json:"max_turns"`
	Tools          AgentTools   `json:"tools"`
	Skills         []string     `json:"skills"`
	MCPServers     []string     `json:"mcp_servers"`
	CorpusIDs      []string     `json:"corpus_ids"`
	Memory         *AgentMemory `json:"memory"`
	WebSearch      *bool        `json:"web_search"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}
