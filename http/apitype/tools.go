package apitype

import "encoding/json"

// MCPToolFilter narrows the tools of an MCP server the model sees.
type MCPToolFilter struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// MCPServerRequest is the body of POST /api/v1/mcp/servers and, with every
// field optional, of PATCH /api/v1/mcp/servers/{id}.
type MCPServerRequest struct {
	Name            *string            `json:"name,omitempty"`
	Transport       *string            `json:"transport,omitempty"`
	Command         *string            `json:"command,omitempty"`
	Args            *[]string          `json:"args,omitempty"`
	Env             *map[string]string `json:"env,omitempty"`
	URL             *string            `json:"url,omitempty"`
	Headers         *map[string]string `json:"headers,omitempty"`
	WorkspaceID     *string            `json:"workspace_id,omitempty"`
	Enabled         *bool              `json:"enabled,omitempty"`
	ToolFilter      *MCPToolFilter     `json:"tool_filter,omitempty"`
	RequireApproval *string            `json:"require_approval,omitempty"`
}

// MCPServer is an MCP server; env and headers are write-only.
type MCPServer struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Transport       string        `json:"transport"`
	Command         string        `json:"command"`
	Args            []string      `json:"args"`
	URL             string        `json:"url"`
	EnvSet          []string      `json:"env_set"`
	HeadersSet      []string      `json:"headers_set"`
	Scope           string        `json:"scope"`
	WorkspaceID     string        `json:"workspace_id"`
	Enabled         bool          `json:"enabled"`
	ToolFilter      MCPToolFilter `json:"tool_filter"`
	RequireApproval string        `json:"require_approval"`
	Status          string        `json:"status"`
	LastError       string        `json:"last_error"`
	ProtocolVersion string        `json:"protocol_version"`
	ToolsCount      int           `json:"tools_count"`
	CreatedAt       string        `json:"created_at"`
	UpdatedAt       string        `json:"updated_at"`
}

// MCPServerList is GET /api/v1/mcp/servers.
type MCPServerList struct {
	Data []MCPServer `json:"data"`
}

// MCPTool is one tool of an MCP server.
type MCPTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	ReadOnly    bool            `json:"read_only"`
}

// MCPToolList is GET /api/v1/mcp/servers/{id}/tools.
type MCPToolList struct {
	Data []MCPTool `json:"data"`
}

// MCPTestResult is POST /api/v1/mcp/servers/{id}/test.
type MCPTestResult struct {
	OK              bool   `json:"ok"`
	ProtocolVersion string `json:"protocol_version"`
	ToolsCount      int    `json:"tools_count"`
	LatencyMS       int64  `json:"latency_ms"`
	Error           string `json:"error"`
}

// WebSearchSettings is GET/PUT /api/v1/web/search/settings.
type WebSearchSettings struct {
	Provider       string   `json:"provider"`
	BaseURL        string   `json:"base_url"`
	APIKeySet      bool     `json:"api_key_set"`
	MaxResults     int      `json:"max_results"`
	SafeSearch     string   `json:"safesearch"`
	AllowedDomains []string `json:"allowed_domains"`
	BlockedDomains []string `json:"blocked_domains"`
	Timeout        string   `json:"timeout"`
}

// WebSearchSettingsRequest is the body of PUT /api/v1/web/search/settings.
type WebSearchSettingsRequest struct {
	Provider       string    `json:"provider"`
	BaseURL        *string   `json:"base_url,omitempty"`
	APIKey         *string   `json:"api_key,omitempty"`
	MaxResults     *int      `json:"max_results,omitempty"`
	SafeSearch     *string   `json:"safesearch,omitempty"`
	AllowedDomains *[]string `json:"allowed_domains,omitempty"`
	BlockedDomains *[]string `json:"blocked_domains,omitempty"`
	Timeout        *string   `json:"timeout,omitempty"`
}

// WebSearchTestResult is POST /api/v1/web/search/settings/test.
type WebSearchTestResult struct {
	OK        bool   `json:"ok"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error"`
}

// WebSearchRequest is the body of POST /api/v1/web/search.
type WebSearchRequest struct {
	Query          string   `json:"query"`
	MaxResults     int      `json:"max_results,omitempty"`
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	BlockedDomains []string `json:"blocked_domains,omitempty"`
}

// WebSearchResult is one normalised result.
type WebSearchResult struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	Snippet     string `json:"snippet"`
	PublishedAt string `json:"published_at"`
}

// WebSearchResponse is POST /api/v1/web/search.
type WebSearchResponse struct {
	Query    string            `json:"query"`
	Provider string            `json:"provider"`
	Results  []WebSearchResult `json:"results"`
	TookMS   int64             `json:"took_ms"`
}
