package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/seshat-host/seshat/actors/agent"
)

// MaxMockTokens caps @tokens so that one prompt cannot make the server
// build an unbounded answer.
const MaxMockTokens = 100_000

// Directives is what the mock reads from the text of the last user message.
type Directives struct {
	// Prompt is the non-directive text: each non-empty line trimmed, the
	// lines joined with a single space.
	Prompt string
	// Say is the reply text of @say; several @say lines are joined with
	// "\n" into a multi-line reply. HasSay tells an empty @say from none.
	Say    string
	HasSay bool
	// Tokens is N of @tokens; the last @tokens line wins.
	Tokens    int
	HasTokens bool
	// Delay is the wait before each chunk; the last @delay line wins.
	Delay time.Duration
	// Tools are the @tool lines, in order.
	Tools []ToolDirective
	// Error is the message of @error; the last @error line wins.
	Error    string
	HasError bool
	// Sources and Memories are set by @sources and @memories: the reply
	// names the retrieved chunks' paths, or the recalled memories'
	// contents, that the request carried.
	Sources  bool
	Memories bool
	// System is set by @system: the reply is the request's system prompt.
	System bool
	// Remember are the @remember lines, in order. They do not change the
	// reply; memory extraction reads them.
	Remember []RememberDirective
}

// RememberDirective is one @remember line: a memory to extract, and the
// content of the memory it supersedes, if any.
type RememberDirective struct {
	Content  string
	Replaces string
}

// ToolDirective is one @tool line.
type ToolDirective struct {
	Name string
	// Input is the compacted JSON object; {} when the line gives none.
	Input json.RawMessage
}

// knownDirectives is listed in errors about unknown ones.
const knownDirectives = "@say, @tokens, @delay, @tool, @error, @sources, @memories, @system, @remember"

// ParseDirectives parses a user message's text. Lines are trimmed; a line
// that then starts with '@' is a directive, any other non-empty line is
// prompt text. The grammar:
//
//	@say TEXT          reply exactly TEXT (trimmed)
//	@tokens N          reply with N chunks "tok0", " tok1", …; 0 ≤ N ≤ MaxMockTokens
//	@delay DURATION    wait DURATION (Go syntax, ≥ 0) before each chunk
//	@tool NAME [JSON]  answer with a tool use of NAME; JSON must be an object, {} if omitted
//	@error [MESSAGE]   fail the call with MESSAGE
//	@sources           reply "sources: P1, P2, …" with the request's retrieved paths
//	@memories          reply "memories: M1 | M2 | …" with the request's recalled memories
//	@system            reply "system: …" with the request's system prompt
//	@remember TEXT [!replaces OLD]  a memory for extraction; no effect on the reply
//
// An unknown directive or a bad argument is an error wrapping
// agent.ErrInvalid that names the line, so a typo in a test prompt fails
// loudly instead of being echoed.
func ParseDirectives(text string) (Directives, error) {
	var (
		d      Directives
		prompt []string
		says   []string
	)
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if line[0] != '@' {
			prompt = append(prompt, line)
			continue
		}
		name, arg := splitWord(line)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: mock directive on line %d (%s): %s", agent.ErrInvalid, i+1, name, fmt.Sprintf(format, a...))
		}
		switch name {
		case "@say":
			says = append(says, arg)
			d.HasSay = true
		case "@tokens":
			n, err := strconv.Atoi(arg)
			if err != nil {
				return Directives{}, bad("want a whole number of chunks, got %q", arg)
			}
			if n < 0 || n > MaxMockTokens {
				return Directives{}, bad("chunk count %d is outside 0..%d", n, MaxMockTokens)
			}
			d.Tokens, d.HasTokens = n, true
		case "@delay":
			dur, err := time.ParseDuration(arg)
			if err != nil {
				return Directives{}, bad("want a Go duration such as 5ms, got %q", arg)
			}
			if dur < 0 {
				return Directives{}, bad("delay %s is negative", dur)
			}
			d.Delay = dur
		case "@tool":
			tool, input := splitWord(arg)
			if tool == "" {
				return Directives{}, bad("missing tool name")
			}
			in, err := toolInput(input)
			if err != nil {
				return Directives{}, bad("input of tool %s: %v", tool, err)
			}
			d.Tools = append(d.Tools, ToolDirective{Name: tool, Input: in})
		case "@error":
			d.Error, d.HasError = arg, true
		case "@sources":
			d.Sources = true
		case "@memories":
			d.Memories = true
		case "@system":
			d.System = true
		case "@remember":
			content, old, _ := strings.Cut(arg, "!replaces")
			r := RememberDirective{Content: strings.TrimSpace(content), Replaces: strings.TrimSpace(old)}
			if r.Content == "" {
				return Directives{}, bad("missing the memory's text")
			}
			d.Remember = append(d.Remember, r)
		default:
			return Directives{}, fmt.Errorf("%w: unknown mock directive %q on line %d (known: %s)",
				agent.ErrInvalid, name, i+1, knownDirectives)
		}
	}
	d.Prompt = strings.Join(prompt, " ")
	d.Say = strings.Join(says, "\n")
	return d, nil
}

// splitWord splits s at its first white space into a word and the trimmed
// rest.
func splitWord(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// toolInput checks that s is one JSON object and returns it compacted.
func toolInput(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if obj == nil {
		return nil, fmt.Errorf("not a JSON object: null")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
