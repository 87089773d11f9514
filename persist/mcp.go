package persist

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// MCP servers and the web search settings. Buckets (see migrate.go):
//
//	mcp_servers               serverID -> mcpServerRecord (env and headers sealed)
//	mcp_servers_by_workspace  workspaceID|serverID -> ""  ("" for global servers)
//	web_search                "settings" -> webSearchRecord (API key sealed)
//
// A server's env and headers are sealed together with AES-256-GCM under
// the master key, with "mcp|" and the server's id as associated data, as
// provider credentials are.
var (
	bucketMCPServers            = []byte("mcp_servers")
	bucketMCPServersByWorkspace = []byte("mcp_servers_by_workspace")
	bucketWebSearch             = []byte("web_search")

	webSearchKey = []byte("settings")
)

// Scopes of an MCP server.
const (
	MCPScopeGlobal    = "global"
	MCPScopeWorkspace = "workspace"
)

// MCPToolFilter narrows the tools of a server the model sees.
type MCPToolFilter struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// MCPServer is an MCP server's configuration without its env and header
// values. EnvSet and HeadersSet name the sealed keys; the store maintains
// them on every write.
type MCPServer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Transport is "stdio", "streamable_http" or "sse".
	Transport string   `json:"transport"`
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
	URL       string   `json:"url,omitempty"`
	// Scope is MCPScopeGlobal (no WorkspaceID) or MCPScopeWorkspace.
	Scope           string        `json:"scope"`
	WorkspaceID     string        `json:"workspace_id,omitempty"`
	Enabled         bool          `json:"enabled"`
	ToolFilter      MCPToolFilter `json:"tool_filter"`
	RequireApproval string        `json:"require_approval"`
	// CreatedBy is the user who made the server; Trusted records that its
	// destination was set by a server admin, so it is not fenced.
	CreatedBy string `json:"created_by"`
	Trusted   bool   `json:"trusted,omitempty"`

	EnvSet     []string  `json:"env_set,omitempty"`
	HeadersSet []string  `json:"headers_set,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// MCPSecrets are a server's env variables and HTTP headers in the clear.
type MCPSecrets struct {
	Env     map[string]string `json:"env,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

type mcpServerRecord struct {
	MCPServer
	Sealed []byte `json:"sealed,omitempty"`
}

func mcpAD(id string) []byte { return []byte("mcp|" + id) }

func (s *Store) sealMCP(rec *mcpServerRecord, sec MCPSecrets) error {
	rec.EnvSet = slices.Sorted(maps.Keys(sec.Env))
	rec.HeadersSet = slices.Sorted(maps.Keys(sec.Headers))
	rec.Sealed = nil
	if len(sec.Env) == 0 && len(sec.Headers) == 0 {
		return nil
	}
	if s.aead == nil {
		return fmt.Errorf("persist: MCP server %s has secrets: %w", rec.ID, ErrNoMasterKey)
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	rec.Sealed, err = seal(s.aead, plain, mcpAD(rec.ID))
	return err
}

func (s *Store) openMCP(rec mcpServerRecord) (MCPSecrets, error) {
	var sec MCPSecrets
	if rec.Sealed == nil {
		return sec, nil
	}
	if s.aead == nil {
		return sec, fmt.Errorf("persist: secrets of MCP server %s: %w", rec.ID, ErrNoMasterKey)
	}
	plain, err := open(s.aead, rec.Sealed, mcpAD(rec.ID))
	if err != nil {
		return sec, fmt.Errorf("persist: secrets of MCP server %s do not open: %w", rec.ID, err)
	}
	err = json.Unmarshal(plain, &sec)
	return sec, err
}

func checkMCPServer(m MCPServer) error {
	if err := checkID("MCP server id", m.ID); err != nil {
		return err
	}
	switch m.Scope {
	case MCPScopeGlobal:
		if m.WorkspaceID != "" {
			return fmt.Errorf("persist: global MCP server with a workspace: %w", ErrInvalid)
		}
	case MCPScopeWorkspace:
		if err := checkID("workspace id", m.WorkspaceID); err != nil {
			return err
		}
	default:
		return fmt.Errorf("persist: MCP server scope %q: %w", m.Scope, ErrInvalid)
	}
	if m.Name == "" {
		return fmt.Errorf("persist: MCP server without a name: %w", ErrInvalid)
	}
	return nil
}

func (tx *Tx) mcpServer(id string) (mcpServerRecord, error) {
	var rec mcpServerRecord
	ok, err := getJSON(tx.bucket(bucketMCPServers), []byte(id), &rec)
	if err != nil {
		return rec, err
	}
	if !ok {
		return rec, fmt.Errorf("persist: MCP server %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

// mcpNameTaken reports whether another server that a turn could see
// together with m has m's name: names are tool prefixes, so a global name
// is unique across the server and a workspace name within the workspace
// and the global ones.
func (tx *Tx) mcpNameTaken(m MCPServer) (bool, error) {
	taken := false
	err := tx.bucket(bucketMCPServers).ForEach(func(k, v []byte) error {
		if taken || string(k) == m.ID {
			return nil
		}
		var o MCPServer
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		if o.Name == m.Name && (m.Scope == MCPScopeGlobal || o.Scope == MCPScopeGlobal || o.WorkspaceID == m.WorkspaceID) {
			taken = true
		}
		return nil
	})
	return taken, err
}

// CreateMCPServer stores a new server with its secrets sealed. It returns
// ErrConflict if the id exists or the name is taken where a turn would see
// both, ErrNotFound for an unknown workspace and ErrNoMasterKey if sec
// holds a value and the store has no key.
func (s *Store) CreateMCPServer(ctx context.Context, m MCPServer, sec MCPSecrets) (MCPServer, error) {
	if err := checkMCPServer(m); err != nil {
		return MCPServer{}, err
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	m.CreatedAt = normTime(m.CreatedAt)
	m.UpdatedAt = m.CreatedAt
	rec := mcpServerRecord{MCPServer: m}
	if err := s.sealMCP(&rec, sec); err != nil {
		return MCPServer{}, err
	}
	err := s.Update(ctx, func(tx *Tx) error {
		servers := tx.bucket(bucketMCPServers)
		if servers.Get([]byte(m.ID)) != nil {
			return fmt.Errorf("persist: MCP server %s exists: %w", m.ID, ErrConflict)
		}
		if m.Scope == MCPScopeWorkspace && tx.bucket(bucketWorkspaces).Get([]byte(m.WorkspaceID)) == nil {
			return fmt.Errorf("persist: workspace %s: %w", m.WorkspaceID, ErrNotFound)
		}
		if taken, err := tx.mcpNameTaken(m); err != nil {
			return err
		} else if taken {
			return fmt.Errorf("persist: an MCP server named %q exists: %w", m.Name, ErrConflict)
		}
		if err := putJSON(servers, []byte(m.ID), rec); err != nil {
			return err
		}
		return tx.bucket(bucketMCPServersByWorkspace).Put(key(m.WorkspaceID, m.ID), nil)
	})
	if err != nil {
		return MCPServer{}, err
	}
	return rec.MCPServer, nil
}

// MCPServer returns a server without its secrets, or ErrNotFound.
func (s *Store) MCPServer(id string) (MCPServer, error) {
	var m MCPServer
	err := s.View(func(tx *Tx) error {
		rec, err := tx.mcpServer(id)
		m = rec.MCPServer
		return err
	})
	return m, err
}

// MCPServerSecrets opens a server's env and headers.
func (s *Store) MCPServerSecrets(id string) (MCPSecrets, error) {
	var rec mcpServerRecord
	err := s.View(func(tx *Tx) error {
		var err error
		rec, err = tx.mcpServer(id)
		return err
	})
	if err != nil {
		return MCPSecrets{}, err
	}
	return s.openMCP(rec)
}

// MCPServers returns the servers of workspaceIDs and the global ones
// (global last), each group oldest first. With all set it returns every
// server of the store.
func (s *Store) MCPServers(workspaceIDs []string, all bool) ([]MCPServer, error) {
	var out []MCPServer
	err := s.View(func(tx *Tx) error {
		if all {
			return tx.bucket(bucketMCPServers).ForEach(func(_, v []byte) error {
				var m MCPServer
				if err := json.Unmarshal(v, &m); err != nil {
					return err
				}
				out = append(out, m)
				return nil
			})
		}
		idx := tx.bucket(bucketMCPServersByWorkspace)
		scan := func(ws string) error {
			var group []MCPServer
			prefix := prefixKey(ws)
			c := idx.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				rec, err := tx.mcpServer(string(k[len(prefix):]))
				if err != nil {
					return err
				}
				group = append(group, rec.MCPServer)
			}
			slices.SortFunc(group, func(a, b MCPServer) int {
				return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
			})
			out = append(out, group...)
			return nil
		}
		for _, ws := range workspaceIDs {
			if ws != "" {
				if err := scan(ws); err != nil {
					return err
				}
			}
		}
		return scan("")
	})
	if all {
		slices.SortFunc(out, func(a, b MCPServer) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
	}
	return out, err
}

// UpdateMCPServer changes a server in one write: fn gets the stored
// server and its opened secrets and changes them in place. The store keeps
// ID, Scope, WorkspaceID and CreatedAt, reseals the secrets and sets
// UpdatedAt. fn may run more than once and must only change its arguments.
func (s *Store) UpdateMCPServer(ctx context.Context, id string, fn func(*MCPServer, *MCPSecrets) error) (MCPServer, error) {
	var out MCPServer
	err := s.Update(ctx, func(tx *Tx) error {
		rec, err := tx.mcpServer(id)
		if err != nil {
			return err
		}
		sec, err := s.openMCP(rec)
		if err != nil {
			return err
		}
		m := rec.MCPServer
		if err := fn(&m, &sec); err != nil {
			return err
		}
		m.ID, m.Scope, m.WorkspaceID, m.CreatedAt = rec.ID, rec.Scope, rec.WorkspaceID, rec.CreatedAt
		m.UpdatedAt = now()
		if m.Name == "" {
			return fmt.Errorf("persist: MCP server without a name: %w", ErrInvalid)
		}
		if taken, err := tx.mcpNameTaken(m); err != nil {
			return err
		} else if taken {
			return fmt.Errorf("persist: an MCP server named %q exists: %w", m.Name, ErrConflict)
		}
		next := mcpServerRecord{MCPServer: m}
		if err := s.sealMCP(&next, sec); err != nil {
			return err
		}
		out = next.MCPServer
		return putJSON(tx.bucket(bucketMCPServers), []byte(id), next)
	})
	return out, err
}

// DeleteMCPServer removes a server, or returns ErrNotFound.
func (s *Store) DeleteMCPServer(ctx context.Context, id string) error {
	return s.Update(ctx, func(tx *Tx) error {
		rec, err := tx.mcpServer(id)
		if err != nil {
			return err
		}
		if err := tx.bucket(bucketMCPServers).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.bucket(bucketMCPServersByWorkspace).Delete(key(rec.WorkspaceID, id))
	})
}

// deleteWorkspaceMCPServers removes the servers of a workspace.
func (tx *Tx) deleteWorkspaceMCPServers(ws string) error {
	var ids []string
	prefix := prefixKey(ws)
	c := tx.bucket(bucketMCPServersByWorkspace).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	for _, id := range ids {
		if err := tx.bucket(bucketMCPServers).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.bucket(bucketMCPServersByWorkspace).Delete(key(ws, id)); err != nil {
			return err
		}
	}
	return nil
}

// WebSearchSettings is the server's web search configuration without its
// API key. The zero value is a disabled search.
type WebSearchSettings struct {
	// Provider is "disabled", "searxng", "brave" or "tavily".
	Provider       string   `json:"provider"`
	BaseURL        string   `json:"base_url,omitempty"`
	MaxResults     int      `json:"max_results,omitempty"`
	SafeSearch     string   `json:"safesearch,omitempty"`
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	BlockedDomains []string `json:"blocked_domains,omitempty"`
	// Timeout is in Go duration syntax ("10s"); empty for the default.
	Timeout   string    `json:"timeout,omitempty"`
	APIKeySet bool      `json:"api_key_set,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

type webSearchRecord struct {
	WebSearchSettings
	Sealed []byte `json:"sealed,omitempty"`
}

var webSearchAD = []byte("web_search|settings")

// WebSearch returns the web search settings and the API key in the clear.
// Never configured: the zero settings.
func (s *Store) WebSearch() (WebSearchSettings, Secret, error) {
	var rec webSearchRecord
	err := s.View(func(tx *Tx) error {
		_, err := getJSON(tx.bucket(bucketWebSearch), webSearchKey, &rec)
		return err
	})
	if err != nil || rec.Sealed == nil {
		return rec.WebSearchSettings, "", err
	}
	if s.aead == nil {
		return rec.WebSearchSettings, "", fmt.Errorf("persist: web search API key: %w", ErrNoMasterKey)
	}
	plain, err := open(s.aead, rec.Sealed, webSearchAD)
	if err != nil {
		return rec.WebSearchSettings, "", fmt.Errorf("persist: web search API key does not open: %w", err)
	}
	return rec.WebSearchSettings, Secret(plain), nil
}

// UpdateWebSearch changes the web search settings in one write; fn gets
// the stored settings and API key and changes them in place.
func (s *Store) UpdateWebSearch(ctx context.Context, fn func(*WebSearchSettings, *Secret) error) (WebSearchSettings, error) {
	var out WebSearchSettings
	err := s.Update(ctx, func(tx *Tx) error {
		var rec webSearchRecord
		if _, err := getJSON(tx.bucket(bucketWebSearch), webSearchKey, &rec); err != nil {
			return err
		}
		var apiKey Secret
		if rec.Sealed != nil {
			if s.aead == nil {
				return fmt.Errorf("persist: web search API key: %w", ErrNoMasterKey)
			}
			plain, err := open(s.aead, rec.Sealed, webSearchAD)
			if err != nil {
				return fmt.Errorf("persist: web search API key does not open: %w", err)
			}
			apiKey = Secret(plain)
		}
		ws := rec.WebSearchSettings
		if err := fn(&ws, &apiKey); err != nil {
			return err
		}
		ws.UpdatedAt = now()
		ws.APIKeySet = apiKey != ""
		next := webSearchRecord{WebSearchSettings: ws}
		if apiKey != "" {
			if s.aead == nil {
				return fmt.Errorf("persist: web search API key: %w", ErrNoMasterKey)
			}
			sealed, err := seal(s.aead, []byte(apiKey), webSearchAD)
			if err != nil {
				return err
			}
			next.Sealed = sealed
		}
		out = ws
		return putJSON(tx.bucket(bucketWebSearch), webSearchKey, next)
	})
	return out, err
}
