package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
)

// FromMessagesRequest turns a Messages request into a model request for
// the runtime:
//
//   - the system prompt is the text of its blocks joined with a blank
//     line; the text of role "system" messages is appended to it the same
//     way, since the runtime has no mid-conversation system message;
//   - messages keep their order and roles, and blocks map one to one
//     (tool_result content given as blocks becomes the text of its text
//     blocks joined with "\n"; other parts become "[image omitted]"-style
//     placeholders); unmodelled blocks such as images are kept raw in
//     agent.Block.Input;
//   - custom tools become tool specs; server tools (versioned types such as
//     "web_search_20250305") are skipped, since the runtime cannot run
//     them; tool_choice keeps its type and name;
//   - sampling parameters, stop sequences, metadata and thinking settings
//     have no runtime counterpart and are ignored.
//
// A malformed request (no messages, an unknown role, a tool_use without id
// or name, a tool_result without tool_use_id, a tool without a name, an
// unknown tool_choice) gives an error wrapping agent.ErrInvalid that names
// the offending field.
func FromMessagesRequest(r MessagesRequest) (agent.ModelRequest, error) {
	out := agent.ModelRequest{Model: r.Model, MaxTokens: r.MaxTokens}
	if r.MaxTokens < 0 {
		return agent.ModelRequest{}, invalid("max_tokens: must not be negative")
	}
	if len(r.Messages) == 0 {
		return agent.ModelRequest{}, invalid("messages: at least one message is required")
	}
	system := []string{}
	if s := joinText(r.System, "\n\n"); s != "" {
		system = append(system, s)
	}
	for i, m := range r.Messages {
		var role agent.Role
		switch m.Role {
		case RoleUser:
			role = agent.RoleUser
		case RoleAssistant:
			role = agent.RoleAssistant
		case RoleSystem:
			if s := joinText(m.Content, "\n\n"); s != "" {
				system = append(system, s)
			}
			continue
		default:
			return agent.ModelRequest{}, invalid("messages.%d.role: want %q or %q, got %q", i, RoleUser, RoleAssistant, m.Role)
		}
		msg := agent.Message{Role: role, Content: make([]agent.Block, 0, len(m.Content))}
		for j, b := range m.Content {
			ab, err := fromBlock(b)
			if err != nil {
				return agent.ModelRequest{}, invalid("messages.%d.content.%d: %s", i, j, err)
			}
			msg.Content = append(msg.Content, ab)
		}
		out.Messages = append(out.Messages, msg)
	}
	if len(out.Messages) == 0 {
		return agent.ModelRequest{}, invalid("messages: at least one user or assistant message is required")
	}
	out.System = strings.Join(system, "\n\n")
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		if t.Name == "" {
			return agent.ModelRequest{}, invalid("tools.%d.name: required", i)
		}
		out.Tools = append(out.Tools, agent.ToolSpec{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
			out.ToolChoice = &agent.ToolChoice{Type: tc.Type}
		case "tool":
			if tc.Name == "" {
				return agent.ModelRequest{}, invalid("tool_choice.name: required for type \"tool\"")
			}
			out.ToolChoice = &agent.ToolChoice{Type: tc.Type, Name: tc.Name}
		default:
			return agent.ModelRequest{}, invalid("tool_choice.type: want auto, any, none or tool, got %q", tc.Type)
		}
	}
	return out, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", agent.ErrInvalid, fmt.Sprintf(format, a...))
}

// fromBlock maps one wire block to a runtime block.
func fromBlock(b ContentBlock) (agent.Block, error) {
	switch b.Type {
	case BlockText:
		return agent.TextBlock(b.Text), nil
	case BlockToolUse:
		if b.ID == "" || b.Name == "" {
			return agent.Block{}, fmt.Errorf("tool_use needs id and name")
		}
		in, err := compactObject(b.Input)
		if err != nil {
			return agent.Block{}, fmt.Errorf("tool_use input: %v", err)
		}
		return agent.Block{Type: agent.BlockToolUse, ID: b.ID, Name: b.Name, Input: in}, nil
	case BlockToolResult:
		if b.ToolUseID == "" {
			return agent.Block{}, fmt.Errorf("tool_result needs tool_use_id")
		}
		return agent.Block{Type: agent.BlockToolResult, ToolUseID: b.ToolUseID, Content: toolResultText(b.Content), IsError: b.IsError}, nil
	case BlockThinking:
		return agent.Block{Type: agent.BlockThinking, Text: b.Thinking, Signature: b.Signature}, nil
	case BlockRedactedThinking:
		return agent.Block{Type: BlockRedactedThinking, Text: b.Data}, nil
	case "":
		return agent.Block{}, fmt.Errorf("block without type")
	}
	return agent.Block{Type: b.Type, Input: append(json.RawMessage(nil), b.Raw...)}, nil
}

// compactObject returns raw compacted, {} for none or null.
func compactObject(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// toolResultText flattens a tool result's content to the runtime's string.
func toolResultText(c Content) string {
	parts := make([]string, 0, len(c))
	for _, b := range c {
		if b.Type == BlockText {
			parts = append(parts, b.Text)
			continue
		}
		parts = append(parts, "["+b.Type+" omitted]")
	}
	return strings.Join(parts, "\n")
}

// joinText joins the text of c's text blocks with sep.
func joinText(c Content, sep string) string {
	parts := make([]string, 0, len(c))
	for _, b := range c {
		if b.Type == BlockText && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, sep)
}

// ToMessagesRequest builds the request the outbound client sends to
// Anthropic. Messages are cleaned the way the API demands: empty text
// blocks and thinking blocks without a signature (from another provider)
// are dropped, messages left empty are dropped, consecutive messages of
// the same role are merged into one (the runner may commit two user
// messages in a row), and in a user message tool_result blocks come first.
// A tool without an input schema gets {"type":"object"}. MaxTokens is
// copied as is; the caller fills in its default for zero.
func ToMessagesRequest(r agent.ModelRequest, stream bool) MessagesRequest {
	out := MessagesRequest{Model: r.Model, MaxTokens: r.MaxTokens, Stream: stream}
	if r.System != "" {
		out.System = Content{{Type: BlockText, Text: r.System}}
	}
	for _, m := range r.Messages {
		blocks := make(Content, 0, len(m.Content))
		for _, b := range m.Content {
			if wb, ok := toBlock(b, true); ok {
				blocks = append(blocks, wb)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		role := string(m.Role)
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, MessageParam{Role: role, Content: blocks})
	}
	for i := range out.Messages {
		if out.Messages[i].Role == RoleUser {
			out.Messages[i].Content = toolResultsFirst(out.Messages[i].Content)
		}
	}
	for _, t := range r.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if r.ToolChoice != nil {
		out.ToolChoice = &ToolChoice{Type: r.ToolChoice.Type, Name: r.ToolChoice.Name}
	}
	return out
}

// toolResultsFirst moves tool_result blocks before the others in place,
// keeping the order within each group.
func toolResultsFirst(c Content) Content {
	rank := func(b ContentBlock) int {
		if b.Type == BlockToolResult {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(c, func(a, b ContentBlock) int { return rank(a) - rank(b) })
	return c
}

// toBlock maps a runtime block to a wire block. ok is false for a block
// that must not be sent: an empty text block, a block of unknown type
// without raw JSON, and, in a request, a thinking block without a
// signature.
func toBlock(b agent.Block, request bool) (ContentBlock, bool) {
	switch b.Type {
	case agent.BlockText:
		return ContentBlock{Type: BlockText, Text: b.Text}, b.Text != ""
	case agent.BlockToolUse:
		in := b.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		return ContentBlock{Type: BlockToolUse, ID: b.ID, Name: b.Name, Input: in}, true
	case agent.BlockToolResult:
		wb := ContentBlock{Type: BlockToolResult, ToolUseID: b.ToolUseID, IsError: b.IsError}
		if b.Content != "" {
			wb.Content = Content{{Type: BlockText, Text: b.Content}}
		}
		return wb, true
	case agent.BlockThinking:
		if request && b.Signature == "" {
			return ContentBlock{}, false
		}
		return ContentBlock{Type: BlockThinking, Thinking: b.Text, Signature: b.Signature}, true
	case BlockRedactedThinking:
		return ContentBlock{Type: BlockRedactedThinking, Data: b.Text}, b.Text != ""
	}
	if len(b.Input) == 0 {
		return ContentBlock{}, false
	}
	return ContentBlock{Type: b.Type, Raw: b.Input}, true
}

// ToResponse builds a non-streaming answer from the blocks the runtime
// produced, its stop reason and its usage. Empty text blocks are left out;
// thinking blocks keep their signature.
func ToResponse(id, model string, content []agent.Block, stop agent.StopReason, usage agent.Usage) MessagesResponse {
	r := MessagesResponse{
		ID: id, Type: "message", Role: RoleAssistant, Model: model,
		Content:    make([]ContentBlock, 0, len(content)),
		StopReason: ToStopReason(stop),
		Usage:      toUsage(usage),
	}
	for _, b := range content {
		if wb, ok := toBlock(b, false); ok {
			r.Content = append(r.Content, wb)
		}
	}
	return r
}

func toUsage(u agent.Usage) Usage {
	return Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, ServiceTier: "standard"}
}

// FromResponse turns a complete message (a non-streaming answer, or the
// one a StreamDecoder assembled) into the runtime's response. Input usage
// counts cached tokens too, since the runtime has one input counter.
func FromResponse(r MessagesResponse) (agent.ModelResponse, error) {
	out := agent.ModelResponse{
		Content:    make([]agent.Block, 0, len(r.Content)),
		StopReason: FromStopReason(r.StopReason),
		Usage:      FromUsage(r.Usage),
	}
	for i, b := range r.Content {
		ab, err := fromBlock(b)
		if err != nil {
			return agent.ModelResponse{}, fmt.Errorf("content.%d: %w", i, err)
		}
		out.Content = append(out.Content, ab)
	}
	return out, nil
}

// FromUsage returns the runtime's usage for u: input is the sum of fresh,
// cache-write and cache-read input tokens.
func FromUsage(u Usage) agent.Usage {
	return agent.Usage{
		InputTokens:  u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		OutputTokens: u.OutputTokens,
	}
}

// ToStopReason maps a runtime stop reason to the wire. A turn that ran out
// of model calls (max_turns) becomes pause_turn, which tells the client it
// may resend to continue; interrupted, error and the empty reason become
// end_turn.
func ToStopReason(s agent.StopReason) string {
	switch s {
	case agent.StopMaxTokens:
		return StopMaxTokens
	case agent.StopToolUse:
		return StopToolUse
	case agent.StopRefusal:
		return StopRefusal
	case agent.StopMaxTurns:
		return StopPauseTurn
	}
	return StopEndTurn
}

// FromStopReason maps a wire stop reason to the runtime: stop_sequence and
// pause_turn end the turn, a full context window counts as max_tokens, and
// anything unknown is end_turn.
func FromStopReason(s string) agent.StopReason {
	switch s {
	case StopMaxTokens, StopContextWindowExceeded:
		return agent.StopMaxTokens
	case StopToolUse:
		return agent.StopToolUse
	case StopRefusal:
		return agent.StopRefusal
	}
	return agent.StopEndTurn
}
