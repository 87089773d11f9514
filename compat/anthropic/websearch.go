package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
)

// Anthropic's web search server tool, served by the host's own search.
const (
	// ToolWebSearch is the type prefix of the web search server tool
	// ("web_search_20250305").
	ToolWebSearch = "web_search_"
	// WebSearchName is the host tool that serves it.
	WebSearchName = "web_search"

	BlockServerToolUse       = "server_tool_use"
	BlockWebSearchToolResult = "web_search_tool_result"
)

// WebSearchTool returns the request's web search server tool, if it
// declared one.
func WebSearchTool(tools []Tool) (Tool, bool) {
	for _, t := range tools {
		if strings.HasPrefix(t.Type, ToolWebSearch) {
			return t, true
		}
	}
	return Tool{}, false
}

// serverID is the server_tool_use id of a runtime tool use id.
func serverID(id string) string {
	return "srvtoolu_" + strings.TrimPrefix(id, "toolu_")
}

// serverToolUse is a web_search call as a server_tool_use block.
func serverToolUse(u agent.Block) agent.Block {
	in := u.Input
	if len(in) == 0 {
		in = json.RawMessage("{}")
	}
	raw, _ := json.Marshal(struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}{BlockServerToolUse, serverID(u.ID), WebSearchName, in})
	return agent.Block{Type: BlockServerToolUse, ID: serverID(u.ID), Name: WebSearchName, Input: raw}
}

// webSearchResult is the result of a web_search call as a
// web_search_tool_result block: the results the host's search returned
// (a JSON array of {title, url, snippet, published_at}), or an error
// with the closest of Anthropic's error codes.
func webSearchResult(u agent.Block, res agent.Block) agent.Block {
	type result struct {
		Type             string `json:"type"`
		URL              string `json:"url"`
		Title            string `json:"title"`
		EncryptedContent string `json:"encrypted_content"`
		PageAge          string `json:"page_age,omitempty"`
	}
	type failure struct {
		Type      string `json:"type"`
		ErrorCode string `json:"error_code"`
	}
	var content any
	var found []struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		Snippet     string `json:"snippet"`
		PublishedAt string `json:"published_at"`
	}
	switch {
	case !res.IsError && json.Unmarshal([]byte(res.Content), &found) == nil:
		list := make([]result, 0, len(found))
		for _, f := range found {
			// The snippet travels where Anthropic puts the page's
			// encrypted text: clients pass it back opaquely.
			list = append(list, result{Type: "web_search_result", URL: f.URL, Title: f.Title, EncryptedContent: f.Snippet, PageAge: f.PublishedAt})
		}
		content = list
	default:
		content = failure{Type: "web_search_tool_result_error", ErrorCode: webSearchErrorCode(res.Content)}
	}
	raw, _ := json.Marshal(struct {
		Type      string `json:"type"`
		ToolUseID string `json:"tool_use_id"`
		Content   any    `json:"content"`
	}{BlockWebSearchToolResult, serverID(u.ID), content})
	return agent.Block{Type: BlockWebSearchToolResult, ToolUseID: serverID(u.ID), Input: raw}
}

// webSearchErrorCode maps a failed search's text to Anthropic's codes.
func webSearchErrorCode(text string) string {
	switch {
	case strings.HasPrefix(text, "max_uses_exceeded"):
		return "max_uses_exceeded"
	case strings.Contains(text, "429") || strings.Contains(strings.ToLower(text), "too many requests"):
		return "too_many_requests"
	case strings.Contains(text, "input"):
		return "invalid_tool_input"
	}
	return "unavailable"
}
