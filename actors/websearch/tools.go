package websearch

import (
	"context"
	"encoding/json"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
)

// Tool names.
const (
	NameWebSearch = "web_search"
	NameWebFetch  = "web_fetch"
)

// SearchTool is the web_search tool: no approval needed, read-only.
func (s *Service) SearchTool() tool.Tool { return searchTool{s} }

// FetchTool is the web_fetch tool: it asks in the default mode, as it
// sends a request where the model says, and is read-only.
func (s *Service) FetchTool() tool.Tool { return fetchTool{s} }

type searchTool struct{ s *Service }

func (searchTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        NameWebSearch,
		Description: "Search the web. Returns the top results with title, URL, snippet and publication date.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"What to search for."},"max_results":{"type":"integer","minimum":1,"maximum":20,"description":"How many results (default 5)."}},"required":["query"]}`),
	}
}
func (searchTool) NeedsApproval() bool { return false }
func (searchTool) ReadOnly() bool      { return true }

func (t searchTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Query      string `json:"query"`
		MaxResults int    `json:"max_results"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", &tool.InputError{Problem: err.Error()}
	}
	resp, err := t.s.Search(ctx, Query{Query: in.Query, MaxResults: in.MaxResults})
	if err != nil {
		return "", err
	}
	return FormatResults(resp.Results), nil
}

// FormatResults is how results read to a model: a JSON array of
// {title, url, snippet, published_at}, which the Anthropic surface also
// turns into web_search_tool_result blocks.
func FormatResults(rs []Result) string {
	if rs == nil {
		rs = []Result{}
	}
	b, _ := json.Marshal(rs)
	return string(b)
}

type fetchTool struct{ s *Service }

func (fetchTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name:        NameWebFetch,
		Description: "Fetch a web page and return it as text (HTML is converted to Markdown; at most 1 MiB).",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string","description":"The http or https URL of the page."}},"required":["url"]}`),
	}
}
func (fetchTool) NeedsApproval() bool { return true }
func (fetchTool) ReadOnly() bool      { return true }

func (t fetchTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", &tool.InputError{Problem: err.Error()}
	}
	call.Progress("fetching " + in.URL)
	p, err := t.s.Fetch(ctx, in.URL)
	if err != nil {
		return "", err
	}
	out := "URL: " + p.URL + "\n\n" + p.Text
	if p.Truncated {
		out += "\n\n[truncated]"
	}
	return out, nil
}
