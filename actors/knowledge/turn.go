package knowledge

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/tool"
	"github.com/seshat-host/seshat/actors/turn"
)

// ToolSearchCorpus is the name of the corpus search tool.
const ToolSearchCorpus = "search_corpus"

// maxToolResults caps what one search_corpus call returns.
const maxToolResults = 20

// Extension returns the knowledge family's turn extension: retrieval
// before the first model call, the search_corpus tool, and the check of
// the corpus ids a request names.
func (s *Service) Extension() turn.Extension { return extension{s: s} }

type extension struct{ s *Service }

var (
	_ turn.Extension = extension{}
	_ turn.Validator = extension{}
)

// Validate refuses corpus ids the user may not read, or of another
// workspace than the turn's: agent.ErrNotFound, as for any foreign id.
func (e extension) Validate(_ context.Context, userID, workspaceID string, c agent.TurnContext) error {
	if len(c.CorpusIDs) > MaxTurnCorpora {
		return fmt.Errorf("%w: at most %d corpora per turn", agent.ErrInvalid, MaxTurnCorpora)
	}
	return e.s.CheckCorpora(userID, workspaceID, c.CorpusIDs)
}

// MaxTurnCorpora caps the corpora one turn retrieves from.
const MaxTurnCorpora = 16

// Prepare retrieves from the turn's corpora with the prompt, under the
// turn's context: the top hits of each corpus go to the model as numbered
// sources (in the system prompt, and as the request's Sources), and a
// rag_results event per corpus names them. It offers search_corpus. A
// corpus the user can no longer read (deleted, or their role gone since
// the session was made) is left out; a failing search leaves the turn
// without sources rather than failing it.
func (e extension) Prepare(ctx context.Context, st turn.Setup) (turn.Contribution, error) {
	ids := e.s.readable(st.UserID, st.WorkspaceID, st.Context.CorpusIDs)
	var c turn.Contribution
	if len(ids) == 0 {
		return c, nil
	}
	c.Tools = []tool.Tool{searchTool{s: e.s, corpusIDs: ids}}
	if strings.TrimSpace(st.Prompt) == "" {
		return c, nil
	}
	per, warnings, err := e.s.Retrieve(ctx, st.UserID, st.WorkspaceID, ids, st.Prompt, DefaultRetrieveResults)
	if err != nil {
		if ctx.Err() != nil {
			return c, ctx.Err()
		}
		e.s.log.Warn("retrieval failed; the turn goes on without sources", "session_id", st.SessionID, "error", err)
		return c, nil
	}
	if len(warnings) > 0 {
		e.s.log.Debug("retrieval warnings", "session_id", st.SessionID, "warnings", strings.Join(warnings, ","))
	}
	var hits []Hit
	for i, list := range per {
		refs := make([]agent.SourceRef, len(list))
		for j, h := range list {
			refs[j] = sourceOf(h, agent.SourcePrefetch).Ref()
		}
		c.Events = append(c.Events, agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
			Type: agent.RuntimeRAGResults, CorpusID: ids[i], Results: refs,
		}})
		hits = append(hits, list...)
	}
	// Several corpora's hits interleave by score; one corpus keeps its
	// own order.
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	for _, h := range hits {
		c.Sources = append(c.Sources, sourceOf(h, agent.SourcePrefetch))
	}
	c.System = FormatSources(hits)
	return c, nil
}

// readable keeps the corpus ids the user may still read in the workspace.
func (s *Service) readable(userID, wsID string, ids []string) []string {
	var out []string
	for _, id := range ids {
		if slices.Contains(out, id) {
			continue
		}
		if err := s.CheckCorpora(userID, wsID, []string{id}); err != nil {
			if !errors.Is(err, agent.ErrNotFound) {
				s.log.Warn("check a turn's corpus", "corpus_id", id, "error", err)
			}
			continue
		}
		out = append(out, id)
	}
	return out
}

func sourceOf(h Hit, origin string) agent.Source {
	return agent.Source{CorpusID: h.CorpusID, ChunkID: h.ChunkID, FileID: h.FileID, Path: h.Path,
		Score: h.Score, Text: h.Text, Origin: origin}
}

// searchTool is search_corpus over the corpora of one turn: read-only, it
// needs no approval.
type searchTool struct {
	s         *Service
	corpusIDs []string
}

func (searchTool) Spec() agent.ToolSpec {
	return agent.ToolSpec{
		Name: ToolSearchCorpus,
		Description: "Search the documents of this conversation's corpora. Returns the best matching passages, " +
			"numbered, each with the path of its file.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{` +
			`"query":{"type":"string","description":"What to look for."},` +
			`"max_num_results":{"type":"integer","minimum":1,"maximum":20,"description":"How many passages to return (5)."}},` +
			`"required":["query"]}`),
	}
}
func (searchTool) NeedsApproval() bool { return false }
func (searchTool) ReadOnly() bool      { return true }

func (t searchTool) Run(ctx context.Context, call tool.Call) (string, error) {
	var in struct {
		Query         string `json:"query"`
		MaxNumResults int    `json:"max_num_results"`
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return "", fmt.Errorf("invalid input: %v", err)
	}
	if strings.TrimSpace(in.Query) == "" {
		return "", errors.New("query is required")
	}
	k := in.MaxNumResults
	if k <= 0 {
		k = DefaultRetrieveResults
	}
	k = min(k, maxToolResults)
	per, warnings, err := t.s.Retrieve(ctx, call.UserID, call.WorkspaceID, t.corpusIDs, in.Query, k)
	if err != nil {
		return "", err
	}
	var hits []Hit
	for _, list := range per {
		hits = append(hits, list...)
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	if len(hits) > k {
		hits = hits[:k]
	}
	if len(hits) == 0 {
		msg := "no passages match"
		if len(warnings) > 0 {
			msg += " (" + strings.Join(warnings, ", ") + ")"
		}
		return msg, nil
	}
	src := make([]agent.Source, len(hits))
	var b strings.Builder
	for i, h := range hits {
		src[i] = sourceOf(h, agent.SourceTool)
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("[" + strconv.Itoa(i+1) + "] " + h.Path + " (score " + strconv.FormatFloat(h.Score, 'f', 3, 64) + ")\n")
		b.WriteString(strings.TrimSpace(h.Text))
	}
	call.Sources(src)
	return b.String(), nil
}
