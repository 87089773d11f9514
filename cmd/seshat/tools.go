package main

import (
	"context"
	"errors"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/mcpconn"
	"github.com/seshat-host/seshat/actors/websearch"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/persist"
)

// toolFamily adapts the MCP connection manager and the web search service
// to httpapi.ToolFamily: translation only.
type toolFamily struct {
	mcp *mcpconn.Manager
	web *websearch.Service
}

func caller(userID string, admin bool) mcpconn.Caller {
	return mcpconn.Caller{UserID: userID, Admin: admin}
}

func inputOf(r apitype.MCPServerRequest) mcpconn.Input {
	in := mcpconn.Input{Name: r.Name, Transport: r.Transport, Command: r.Command, Args: r.Args, Env: r.Env, URL: r.URL,
		Headers: r.Headers, WorkspaceID: r.WorkspaceID, Enabled: r.Enabled, RequireApproval: r.RequireApproval}
	if r.ToolFilter != nil {
		in.ToolFilter = &persist.MCPToolFilter{Allow: r.ToolFilter.Allow, Deny: r.ToolFilter.Deny}
	}
	return in
}

func (f toolFamily) serverOf(s persist.MCPServer) apitype.MCPServer {
	st := f.mcp.Status(s.ID)
	status := st.State
	switch {
	case !s.Enabled:
		status = "disabled"
	case status == "":
		status = "connecting"
	}
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return apitype.MCPServer{
		ID: s.ID, Name: s.Name, Transport: s.Transport, Command: s.Command, Args: nonNil(s.Args), URL: s.URL,
		EnvSet: nonNil(s.EnvSet), HeadersSet: nonNil(s.HeadersSet), Scope: s.Scope, WorkspaceID: s.WorkspaceID,
		Enabled: s.Enabled, ToolFilter: apitype.MCPToolFilter{Allow: s.ToolFilter.Allow, Deny: s.ToolFilter.Deny},
		RequireApproval: s.RequireApproval, Status: status, LastError: st.LastError, ProtocolVersion: st.ProtocolVersion,
		ToolsCount: st.ToolsCount, CreatedAt: s.CreatedAt.Format(time.RFC3339Nano), UpdatedAt: s.UpdatedAt.Format(time.RFC3339Nano),
	}
}

func (f toolFamily) CreateMCPServer(ctx context.Context, userID string, admin bool, req apitype.MCPServerRequest) (apitype.MCPServer, error) {
	s, err := f.mcp.Create(ctx, caller(userID, admin), inputOf(req))
	if err != nil {
		return apitype.MCPServer{}, err
	}
	return f.serverOf(s), nil
}

func (f toolFamily) ListMCPServers(ctx context.Context, userID string, admin bool, ws string) ([]apitype.MCPServer, error) {
	list, err := f.mcp.List(ctx, caller(userID, admin), ws)
	if err != nil {
		return nil, err
	}
	out := make([]apitype.MCPServer, len(list))
	for i, s := range list {
		out[i] = f.serverOf(s)
	}
	return out, nil
}

func (f toolFamily) GetMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPServer, error) {
	s, err := f.mcp.Get(ctx, caller(userID, admin), id)
	if err != nil {
		return apitype.MCPServer{}, err
	}
	return f.serverOf(s), nil
}

func (f toolFamily) UpdateMCPServer(ctx context.Context, userID string, admin bool, id string, req apitype.MCPServerRequest) (apitype.MCPServer, error) {
	s, err := f.mcp.Update(ctx, caller(userID, admin), id, inputOf(req))
	if err != nil {
		return apitype.MCPServer{}, err
	}
	return f.serverOf(s), nil
}

func (f toolFamily) DeleteMCPServer(ctx context.Context, userID string, admin bool, id string) error {
	return f.mcp.Delete(ctx, caller(userID, admin), id)
}

func (f toolFamily) MCPServerTools(ctx context.Context, userID string, admin bool, id string) ([]apitype.MCPTool, error) {
	list, err := f.mcp.ServerTools(ctx, caller(userID, admin), id)
	if err != nil {
		return nil, err
	}
	out := make([]apitype.MCPTool, len(list))
	for i, t := range list {
		out[i] = apitype.MCPTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, ReadOnly: t.ReadOnly}
	}
	return out, nil
}

func (f toolFamily) TestMCPServer(ctx context.Context, userID string, admin bool, id string) (apitype.MCPTestResult, error) {
	res, err := f.mcp.TestServer(ctx, caller(userID, admin), id)
	var ue *agent.UpstreamError
	if errors.As(err, &ue) {
		return apitype.MCPTestResult{OK: false, Error: ue.Msg}, nil
	}
	if err != nil {
		return apitype.MCPTestResult{}, err
	}
	return apitype.MCPTestResult{OK: true, ProtocolVersion: res.ProtocolVersion, ToolsCount: res.ToolsCount, LatencyMS: res.Latency.Milliseconds()}, nil
}

func settingsOf(s persist.WebSearchSettings) apitype.WebSearchSettings {
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	if s.Provider == "" {
		s.Provider = websearch.ProviderDisabled
	}
	if s.MaxResults == 0 {
		s.MaxResults = websearch.DefaultMaxResults
	}
	if s.Timeout == "" {
		s.Timeout = websearch.DefaultTimeout.String()
	}
	if s.SafeSearch == "" {
		s.SafeSearch = "moderate"
	}
	return apitype.WebSearchSettings{Provider: s.Provider, BaseURL: s.BaseURL, APIKeySet: s.APIKeySet, MaxResults: s.MaxResults,
		SafeSearch: s.SafeSearch, AllowedDomains: nonNil(s.AllowedDomains), BlockedDomains: nonNil(s.BlockedDomains), Timeout: s.Timeout}
}

func (f toolFamily) WebSearchSettings(context.Context) (apitype.WebSearchSettings, error) {
	s, _, err := f.web.Settings()
	return settingsOf(s), err
}

func (f toolFamily) PutWebSearchSettings(ctx context.Context, r apitype.WebSearchSettingsRequest) (apitype.WebSearchSettings, error) {
	if r.Provider == "" {
		return apitype.WebSearchSettings{}, errors.Join(agent.ErrInvalid, errors.New("provider is required"))
	}
	s, err := f.web.Put(ctx, websearch.Update{Provider: r.Provider, BaseURL: r.BaseURL, APIKey: r.APIKey, MaxResults: r.MaxResults,
		SafeSearch: r.SafeSearch, AllowedDomains: r.AllowedDomains, BlockedDomains: r.BlockedDomains, Timeout: r.Timeout})
	return settingsOf(s), err
}

func (f toolFamily) TestWebSearch(ctx context.Context) (apitype.WebSearchTestResult, error) {
	lat, err := f.web.Test(ctx)
	var ue *agent.UpstreamError
	if errors.As(err, &ue) {
		return apitype.WebSearchTestResult{OK: false, LatencyMS: lat.Milliseconds(), Error: ue.Msg}, nil
	}
	if err != nil {
		return apitype.WebSearchTestResult{}, err
	}
	return apitype.WebSearchTestResult{OK: true, LatencyMS: lat.Milliseconds()}, nil
}

func (f toolFamily) WebSearch(ctx context.Context, _ string, r apitype.WebSearchRequest) (apitype.WebSearchResponse, error) {
	resp, err := f.web.Search(ctx, websearch.Query{Query: r.Query, MaxResults: r.MaxResults, AllowedDomains: r.AllowedDomains, BlockedDomains: r.BlockedDomains})
	if err != nil {
		return apitype.WebSearchResponse{}, err
	}
	out := apitype.WebSearchResponse{Query: resp.Query, Provider: resp.Provider, Results: make([]apitype.WebSearchResult, len(resp.Results)), TookMS: resp.Took.Milliseconds()}
	for i, x := range resp.Results {
		out.Results[i] = apitype.WebSearchResult{Title: x.Title, URL: x.URL, Snippet: x.Snippet, PublishedAt: x.PublishedAt}
	}
	return out, nil
}
