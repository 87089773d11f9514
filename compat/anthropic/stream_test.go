package anthropic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/compat/eventstream"
)

// scriptStep is one line of a testdata/stream/*.jsonl script: one call on
// a StreamConverter.
type scriptStep struct {
	Op           string          `json:"op"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	Stop         string          `json:"stop"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	Status       int             `json:"status"`
	Message      string          `json:"message"`
}

// runScript plays a script on a fresh converter and returns the SSE
// transcript.
func runScript(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	c := NewStreamConverter("msg_01P7nF1bmxyzFZjF8zwbUDBM", "claude-haiku-4-5", 100)
	var wire []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var s scriptStep
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s), sc.Text())
		var evs []StreamEvent
		switch s.Op {
		case "start":
			evs = c.Start()
		case "ping":
			evs = c.Ping()
		case "text":
			evs = c.Text(s.Text)
		case "thinking":
			evs = c.Thinking(s.Text)
		case "signature":
			evs = c.Signature(s.Text)
		case "tool_use":
			evs = c.ToolUse(agent.Block{Type: agent.BlockToolUse, ID: s.ID, Name: s.Name, Input: s.Input})
		case "end":
			evs = c.End(agent.StopReason(s.Stop), agent.Usage{InputTokens: s.InputTokens, OutputTokens: s.OutputTokens})
		case "error":
			evs = c.Error(s.Status, s.Message)
		default:
			t.Fatalf("unknown op %q", s.Op)
		}
		for _, ev := range evs {
			name, data := Encode(ev)
			wire = eventstream.AppendEvent(wire, "", name, data)
		}
	}
	require.NoError(t, sc.Err())
	return wire
}

func TestStreamConverterGolden(t *testing.T) {
	scripts, err := filepath.Glob("testdata/stream/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".jsonl")
		t.Run(name, func(t *testing.T) {
			wire := runScript(t, script)
			golden(t, strings.TrimSuffix(script, ".jsonl")+".sse", wire)
			checkGrammar(t, wire)
		})
	}
}

// checkGrammar checks a transcript against ANTHROPIC-COMPAT.md's rules
// independently of StreamDecoder: named one-line events whose type is the
// name, one message_start first, blocks indexed in order and closed before
// the next opens, and either message_delta + a final message_stop or a
// final error.
func checkGrammar(t *testing.T, wire []byte) {
	t.Helper()
	dec := eventstream.NewDecoder(bytes.NewReader(wire), 0)
	var names []string
	open, next := -1, 0
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NotEmpty(t, ev.Name, "every event is named")
		require.NotContains(t, string(ev.Data), "\n")
		var head struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &head))
		require.Equal(t, ev.Name, head.Type)
		names = append(names, ev.Name)
		switch ev.Name {
		case EventContentBlockStart:
			require.Equal(t, -1, open, "a block opens only after the previous one closed")
			require.Equal(t, next, *head.Index)
			open = next
			next++
		case EventContentBlockDelta:
			require.Equal(t, open, *head.Index)
		case EventContentBlockStop:
			require.Equal(t, open, *head.Index)
			open = -1
		case EventMessageDelta, EventMessageStop:
			require.Equal(t, -1, open, "blocks are closed before message_delta")
		}
	}
	require.NotEmpty(t, names)
	last := names[len(names)-1]
	if last == EventError {
		require.NotContains(t, names, EventMessageStop)
		return
	}
	require.Equal(t, EventMessageStart, names[0])
	require.Equal(t, EventMessageStop, last)
	require.Equal(t, EventMessageDelta, names[len(names)-2])
	for i, n := range names {
		if n == EventMessageStart {
			require.Zero(t, i, "exactly one message_start")
		}
	}
}

func TestStreamConverterDecodesBack(t *testing.T) {
	wire := runScript(t, "testdata/stream/tool_use.jsonl")
	msg := decodeAll(t, wire)
	require.Equal(t, "msg_01P7nF1bmxyzFZjF8zwbUDBM", msg.ID)
	require.Equal(t, StopToolUse, msg.StopReason)
	require.Equal(t, Usage{InputTokens: 100, OutputTokens: 89, ServiceTier: "standard"}, msg.Usage,
		"zero input tokens at the end keep the estimate of message_start")
	require.Len(t, msg.Content, 3)
	require.Equal(t, "Let me check the weather in both cities.", msg.Content[0].Text)
	require.JSONEq(t, `{"city":"San Francisco","unit":"celsius","note":"Grüße aus München — with a long note to split"}`, string(msg.Content[1].Input))
	require.Equal(t, "get_weather", msg.Content[1].Name)
	require.JSONEq(t, `{}`, string(msg.Content[2].Input))

	wire = runScript(t, "testdata/stream/thinking.jsonl")
	msg = decodeAll(t, wire)
	require.Len(t, msg.Content, 2)
	require.Equal(t, ContentBlock{Type: BlockThinking, Thinking: "Let me work this out... 27 * 453 = 12231.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}, msg.Content[0])
	require.Equal(t, "27 * 453 = 12,231", msg.Content[1].Text)
}

func TestStreamConverterAfterEnd(t *testing.T) {
	c := NewStreamConverter("msg_1", "m", 5)
	require.Len(t, c.Start(), 1)
	require.Nil(t, c.Start(), "message_start is sent once")
	evs := c.End(agent.StopEndTurn, agent.Usage{OutputTokens: 3})
	require.Len(t, evs, 2)
	require.Nil(t, c.Text("late"))
	require.Nil(t, c.Thinking("late"))
	require.Nil(t, c.Signature("late"))
	require.Nil(t, c.ToolUse(agent.Block{Type: agent.BlockToolUse, ID: "toolu_1", Name: "x"}))
	require.Nil(t, c.Ping())
	require.Nil(t, c.End(agent.StopEndTurn, agent.Usage{}))
	require.Nil(t, c.Error(500, "late"))
}

func TestStreamConverterErrorFirst(t *testing.T) {
	c := NewStreamConverter("msg_1", "m", 5)
	evs := c.Error(429, "slow down")
	require.Equal(t, []StreamEvent{{Type: EventError, Error: &ErrorDetail{Type: ErrorRateLimit, Message: "slow down"}}}, evs)
	name, data := Encode(evs[0])
	require.Equal(t, EventError, name)
	require.JSONEq(t, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, string(data))
}

func TestEncodeBrokenEvent(t *testing.T) {
	name, data := Encode(StreamEvent{Type: EventContentBlockStart, ContentBlock: &ContentBlock{Type: "image", Raw: json.RawMessage("{broken")}})
	require.Equal(t, EventError, name)
	require.JSONEq(t, `{"type":"error","error":{"type":"api_error","message":"internal error encoding a stream event"}}`, string(data))
}

func TestSplitUTF8(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("é", 100), strings.Repeat("a€", 70), strings.Repeat("x", 64), strings.Repeat("x", 65)} {
		parts := splitUTF8(s, 64)
		require.Equal(t, s, strings.Join(parts, ""))
		for _, p := range parts {
			require.LessOrEqual(t, len(p), 64)
			require.True(t, utf8.ValidString(p))
		}
	}
}

func decodeAll(t *testing.T, wire []byte) MessagesResponse {
	t.Helper()
	d := NewStreamDecoder(bytes.NewReader(wire))
	for {
		_, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	require.True(t, d.Done())
	return d.Message()
}
