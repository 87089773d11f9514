package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// Extraction limits.
const (
	// maxExtractChars caps the conversation text an extraction sends: the
	// newest messages that fit.
	maxExtractChars = 48 << 10
	// maxCandidates caps the memories one extraction may propose.
	maxCandidates = 32
	// contextMemories is how many existing memories an extraction shows the
	// model, so that it can say what a new fact replaces.
	contextMemories = 20
	// extractMaxTokens caps the model's answer.
	extractMaxTokens = 2048
)

// extractSystem is the extraction call's system prompt.
const extractSystem = `You maintain the long-term memory of an assistant about one user.
Read the conversation and call the ` + provider.MemoryExtractTool + ` tool with the durable facts, preferences,
instructions and events worth remembering in later, unrelated conversations: one short, self-contained
statement each ("The user prefers metric units."). Leave out small talk, one-off requests, secrets
(passwords, keys, card numbers) and anything already known unchanged. When a new statement changes or
contradicts a known memory, set "replaces" to that memory's id. Call the tool with an empty list when
there is nothing to remember.`

// extractSchema is the input schema of the extraction tool.
var extractSchema = json.RawMessage(`{"type":"object","properties":{"memories":{"type":"array","items":{"type":"object","properties":{` +
	`"content":{"type":"string","description":"one self-contained statement"},` +
	`"kind":{"type":"string","enum":["fact","preference","instruction","event"]},` +
	`"replaces":{"type":"string","description":"id of the known memory this one changes or contradicts"}},` +
	`"required":["content"]}}},"required":["memories"]}`)

// Job is one extraction queued after a turn.
type Job struct {
	UserID, WorkspaceID, SessionID, TurnID string
	// Model is the session's "provider:model".
	Model string
	// Messages are the turn's messages (the user's prompt first).
	Messages []agent.Message
}

// Enqueue queues an extraction and returns at once; the user's
// extractions run one at a time, in order, on a goroutine the service
// owns (at most Config.Workers users' at once). It reports false when the
// service is closed or the user's queue is full.
func (s *Service) Enqueue(j Job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	q, running := s.queues[j.UserID]
	if len(q) >= s.perUser {
		s.log.Warn("memory extraction queue full; dropping a turn's extraction", "user_id", j.UserID, "session_id", j.SessionID)
		return false
	}
	s.queues[j.UserID] = append(q, j)
	if !running {
		s.wg.Add(1)
		go s.drain(j.UserID)
	}
	return true
}

// drain runs a user's queued extractions until none is left. It is the
// user's memory worker: the only goroutine that extracts for them.
func (s *Service) drain(userID string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		q := s.queues[userID]
		if len(q) == 0 || s.ctx.Err() != nil {
			delete(s.queues, userID)
			s.mu.Unlock()
			return
		}
		j := q[0]
		s.queues[userID] = q[1:]
		s.mu.Unlock()

		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			continue
		}
		ops, err := s.extract(s.ctx, j, false)
		<-s.sem
		if err != nil {
			s.log.Warn("memory extraction failed", "user_id", j.UserID, "session_id", j.SessionID, "turn_id", j.TurnID, "err", err)
			continue
		}
		s.log.Debug("memories extracted", "user_id", j.UserID, "session_id", j.SessionID, "ops", len(ops))
	}
}

// Idle reports whether no extraction is queued or running.
func (s *Service) Idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues) == 0
}

// Close stops taking extractions and waits for the running ones until ctx
// ends; then it cancels them and waits for their goroutines to return.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}

// Extract runs extraction on a whole session now (POST
// /api/v1/memories/extract); with dryRun it reports what it would do and
// writes nothing.
func (s *Service) Extract(ctx context.Context, userID, sessionID string, dryRun bool) ([]Op, error) {
	if s.sessions == nil {
		return nil, fmt.Errorf("%w: extraction on demand is not configured", agent.ErrInvalid)
	}
	if !agent.ValidID(agent.PrefixSession, sessionID) {
		return nil, fmt.Errorf("session %q: %w", sessionID, agent.ErrNotFound)
	}
	conv, err := s.sessions(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	return s.extract(ctx, Job{
		UserID: userID, WorkspaceID: conv.WorkspaceID, SessionID: sessionID,
		Model: conv.Model, Messages: conv.Messages,
	}, dryRun)
}

// extract asks the model for candidate memories through a forced tool
// call and applies the update rule to them.
func (s *Service) extract(ctx context.Context, j Job, dry bool) ([]Op, error) {
	owner, t, err := s.target(j.UserID, Target{Scope: persist.MemoryScopeUser, WorkspaceID: j.WorkspaceID, Origin: OriginExtraction})
	if err != nil {
		return nil, err
	}
	if j.SessionID != "" {
		t.Source = &persist.MemorySource{SessionID: j.SessionID, TurnID: j.TurnID}
	}
	msgs, userText := transcript(j.Messages)
	if len(msgs) == 0 {
		return []Op{}, nil
	}
	known, err := s.store.SearchMemories(persist.MemorySearch{Owners: []string{owner}, Query: userText, Limit: contextMemories})
	if err != nil {
		return nil, err
	}
	cands, err := s.propose(ctx, j, msgs, known)
	if err != nil {
		return nil, err
	}
	var clean []Candidate
	for _, c := range cands {
		if c, err := cleanCandidate(c); err == nil {
			clean = append(clean, c)
		}
	}
	if len(clean) == 0 {
		return []Op{}, nil
	}
	return s.apply(ctx, j.UserID, owner, t, clean, dry)
}

// propose makes the model call.
func (s *Service) propose(ctx context.Context, j Job, msgs []agent.Message, known []persist.ScoredMemory) ([]Candidate, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	prov, model, err := s.sel.Select(ctx, j.UserID, "", j.Model)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Known memories (id: content):\n")
	if len(known) == 0 {
		b.WriteString("(none)\n")
	}
	for _, k := range known {
		fmt.Fprintf(&b, "- %s: %s\n", k.Memory.ID, strings.ReplaceAll(k.Memory.Content, "\n", " "))
	}
	b.WriteString("\nCall " + provider.MemoryExtractTool + " with what the conversation above teaches about the user.")
	msgs = appendUserText(msgs, b.String())
	resp, err := prov.Stream(ctx, &agent.ModelRequest{
		Model: model, System: extractSystem, Messages: msgs, MaxTokens: extractMaxTokens,
		Tools:      []agent.ToolSpec{{Name: provider.MemoryExtractTool, Description: "Record memories about the user.", InputSchema: extractSchema}},
		ToolChoice: &agent.ToolChoice{Type: "tool", Name: provider.MemoryExtractTool},
	}, func(agent.ModelChunk) {})
	if err != nil {
		if errors.Is(err, persist.ErrQuotaExceeded) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: memory extraction: %v", agent.ErrTurnFailed, err)
	}
	for _, blk := range resp.Content {
		if blk.Type != agent.BlockToolUse || blk.Name != provider.MemoryExtractTool {
			continue
		}
		var in struct {
			Memories []struct {
				Content  string `json:"content"`
				Kind     string `json:"kind"`
				Replaces string `json:"replaces"`
			} `json:"memories"`
		}
		if err := json.Unmarshal(blk.Input, &in); err != nil {
			return nil, fmt.Errorf("the model's %s input: %w", provider.MemoryExtractTool, err)
		}
		out := make([]Candidate, 0, min(len(in.Memories), maxCandidates))
		for _, m := range in.Memories[:min(len(in.Memories), maxCandidates)] {
			out = append(out, Candidate{Content: m.Content, Kind: m.Kind, Replaces: m.Replaces})
		}
		return out, nil
	}
	return nil, errors.New("the model did not call " + provider.MemoryExtractTool)
}

// transcript keeps the text of a conversation as alternating user and
// assistant messages (tool calls and results left out, so the request
// needs no tool declarations), the newest that fit in maxExtractChars, and
// returns the user's text for the search of known memories.
func transcript(in []agent.Message) ([]agent.Message, string) {
	var out []agent.Message
	size := 0
	for i := len(in) - 1; i >= 0 && size < maxExtractChars; i-- {
		m := in[i]
		var parts []string
		for _, b := range m.Content {
			if b.Type == agent.BlockText && strings.TrimSpace(b.Text) != "" {
				parts = append(parts, b.Text)
			}
		}
		text := strings.Join(parts, "\n")
		if text == "" || (m.Role != agent.RoleUser && m.Role != agent.RoleAssistant) {
			continue
		}
		if size+len(text) > maxExtractChars {
			break
		}
		size += len(text)
		if len(out) > 0 && out[0].Role == m.Role {
			out[0].Content = append([]agent.Block{agent.TextBlock(text)}, out[0].Content...)
			continue
		}
		out = append([]agent.Message{{Role: m.Role, Content: []agent.Block{agent.TextBlock(text)}}}, out...)
	}
	for len(out) > 0 && out[0].Role != agent.RoleUser {
		out = out[1:]
	}
	var user []string
	for _, m := range out {
		if m.Role == agent.RoleUser {
			for _, b := range m.Content {
				user = append(user, b.Text)
			}
		}
	}
	return out, strings.Join(user, "\n")
}

// appendUserText adds text as the last user turn.
func appendUserText(msgs []agent.Message, text string) []agent.Message {
	if n := len(msgs); n > 0 && msgs[n-1].Role == agent.RoleUser {
		last := msgs[n-1]
		last.Content = append(append([]agent.Block(nil), last.Content...), agent.TextBlock(text))
		return append(msgs[:n-1:n-1], last)
	}
	return append(msgs, agent.Message{Role: agent.RoleUser, Content: []agent.Block{agent.TextBlock(text)}})
}
