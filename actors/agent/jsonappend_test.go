package agent

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// The encoders here must write what encoding/json writes, byte for byte:
// each test compares them with encoding/json on the same value.

// trickyStrings exercise every escape encoding/json makes.
var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "line\nfeed\r\ttab\b\f",
	"\x00\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \u2027 \u202a", "\xff\xfe bad", "\xe2\x80", "\xe2\x80\xa8",
	"emoji \U0001F600", "\ufffd", "a\u0000b", "\xed\xa0\x80 surrogate",
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		checkString(t, s)
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Fatalf("AppendJSONString(%q) = %s, encoding/json %s", s, got[1:], want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

var rawValues = []string{
	`{}`, `[]`, `null`, `1`, ` { "a" : [ 1 , 2 ] , "b" : "x y" } `, "\t\n{\"k\":\"<&>\"}\r\n",
	`"\u2028 literal ` + "\u2028\u2029" + `"`, `{"a":"\"quoted\" \\"}`, `{"a":`, `{} {}`, ``, `nope`,
	`"` + "\xff" + `"`, `{"a":"\\\"<"}`, `-0.5e10`, `[true,false,null]`,
}

func TestAppendJSONRawMatchesEncodingJSON(t *testing.T) {
	for _, s := range rawValues {
		checkRaw(t, []byte(s))
	}
	checkRaw(t, nil)
}

func checkRaw(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := json.Marshal(json.RawMessage(raw))
	got, err := AppendJSONRaw([]byte("x"), raw)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSONRaw(%q): error %v, encoding/json %v", raw, err, wantErr)
	}
	if err != nil {
		if string(got) != "x" {
			t.Fatalf("AppendJSONRaw(%q) failed but appended %q", raw, got)
		}
		return
	}
	if string(got) != "x"+string(want) {
		t.Fatalf("AppendJSONRaw(%q) = %s, encoding/json %s", raw, got[1:], want)
	}
}

func FuzzAppendJSONRaw(f *testing.F) {
	for _, s := range rawValues {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkRaw(t, raw) })
}

func TestAppendJSONFloatMatchesEncodingJSON(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789.125,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1 + 0.2, 1e-10, -3.5e-9, math.NaN(), math.Inf(1), math.Inf(-1)} {
		checkFloat(t, v)
	}
}

func checkFloat(t *testing.T, v float64) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, err := AppendJSONFloat(nil, v)
	if (err != nil) != (wantErr != nil) || string(got) != string(want) {
		t.Fatalf("AppendJSONFloat(%v) = %s, %v; encoding/json %s, %v", v, got, err, want, wantErr)
	}
}

func FuzzAppendJSONFloat(f *testing.F) {
	f.Add(0.25)
	f.Add(1e-9)
	f.Fuzz(func(t *testing.T, v float64) { checkFloat(t, v) })
}

func TestAppendJSONTimeMatchesEncodingJSON(t *testing.T) {
	for _, v := range []time.Time{
		{}, time.Date(2026, 12, 4, 20, 43, 2, 123456789, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5*3600+1800)),
		time.Date(2026, 1, 2, 3, 4, 5, 100, time.FixedZone("y", -7*3600)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("z", 24*3600)),
		time.Now(),
	} {
		want, wantErr := json.Marshal(v)
		got, err := AppendJSONTime([]byte("x"), v)
		if (err != nil) != (wantErr != nil) || (err == nil && string(got) != "x"+string(want)) || (err != nil && string(got) != "x") {
			t.Fatalf("AppendJSONTime(%v) = %s, %v; encoding/json %s, %v", v, got, err, want, wantErr)
		}
	}
}

// stdBlock is a Block written by encoding/json alone, as Block was
// before its hand-written encoder.
type stdBlock Block

func (b stdBlock) MarshalJSON() ([]byte, error) { return Block(b).marshalStd() }

type stdMessage struct {
	Role      Role       `json:"role"`
	Content   []stdBlock `json:"content"`
	CreatedAt time.Time  `json:"created_at"`
}

func stdOf(m Message) stdMessage {
	s := stdMessage{Role: m.Role, CreatedAt: m.CreatedAt}
	if m.Content != nil {
		s.Content = make([]stdBlock, len(m.Content))
		for i, b := range m.Content {
			s.Content[i] = stdBlock(b)
		}
	}
	return s
}

func sampleBlocks(s string, raw []byte) []Block {
	return []Block{
		{Type: BlockText, Text: s},
		{Type: BlockThinking, Text: s, Signature: s},
		{Type: BlockThinking, Text: s},
		{Type: BlockToolUse, ID: s, Name: s, Input: raw},
		{Type: BlockToolUse, Name: "n"},
		{Type: BlockToolResult, ToolUseID: s, Content: s, IsError: true},
		{Type: BlockToolResult},
		{Type: "image", Text: s, Input: raw},
		{Type: s, Text: s},
		{},
	}
}

func checkMessage(t *testing.T, m Message) {
	t.Helper()
	want, wantErr := json.Marshal(stdOf(m))
	got, err := m.AppendJSON([]byte("x"))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Message.AppendJSON(%+v): error %v, encoding/json %v", m, err, wantErr)
	}
	if err == nil && string(got) != "x"+string(want) {
		t.Fatalf("Message.AppendJSON:\n got %s\nwant %s", got[1:], want)
	}
	if err != nil && string(got) != "x" {
		t.Fatalf("Message.AppendJSON failed but appended %q", got)
	}
	// json.Marshal of the message itself, through Block.MarshalJSON.
	viaMarshal, err := json.Marshal(m)
	if (err != nil) != (wantErr != nil) || (err == nil && string(viaMarshal) != string(want)) {
		t.Fatalf("json.Marshal(Message) = %s, %v; want %s, %v", viaMarshal, err, want, wantErr)
	}
	if wantErr != nil && err.Error() != strings.ReplaceAll(wantErr.Error(), "agent.stdBlock", "agent.Block") {
		t.Fatalf("json.Marshal(Message) error %q, before %q", err, wantErr)
	}
}

func TestMessageAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 4, 20, 43, 2, 5, time.UTC)
	for _, s := range trickyStrings {
		for _, raw := range rawValues {
			checkMessage(t, Message{Role: RoleAssistant, Content: sampleBlocks(s, []byte(raw)), CreatedAt: at})
		}
	}
	checkMessage(t, Message{Role: RoleUser})
	checkMessage(t, Message{Role: RoleUser, Content: []Block{}})
	checkMessage(t, Message{Role: "<x>", Content: []Block{TextBlock("hi")}, CreatedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)})
}

func FuzzMessageAppendJSON(f *testing.F) {
	f.Add("hi <there>", []byte(` {"a": 1} `), int64(0))
	f.Add("\xff\u2028", []byte(`[`), int64(1e18))
	f.Fuzz(func(t *testing.T, s string, raw []byte, nanos int64) {
		checkMessage(t, Message{Role: Role(s), Content: sampleBlocks(s, raw), CreatedAt: time.Unix(0, nanos).UTC()})
	})
}

// encodeStdEvent is Event.Encode as encoding/json alone wrote it.
func encodeStdEvent(e Event) []byte {
	var v any
	switch e.Kind {
	case KindDelta:
		typ := "text_delta"
		if e.Thinking {
			typ = "thinking_delta"
		}
		v = struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{typ, e.Delta}
	case KindRuntime:
		v = e.Runtime
	case KindDone:
		v = e.Result
	case KindError:
		v = struct {
			Error string `json:"error"`
		}{e.Error}
	}
	b, _ := json.Marshal(v)
	return b
}

func sampleEvents(s string, raw []byte, score float64, n int) []Event {
	yes := true
	result := &QueryResult{
		SessionID: s, TurnID: s, Content: s, StopReason: StopReason(s), Usage: Usage{InputTokens: int64(n), OutputTokens: -int64(n)},
		ToolUses:     []ToolUse{{ID: s, Name: s, Input: raw}, {ID: "t"}},
		ToolResults:  []ToolResult{{ToolUseID: s, IsError: true, Content: s}, {}},
		RAGResults:   []Source{{CorpusID: s, ChunkID: s, FileID: s, Path: s, Score: score, Text: s, Origin: s}},
		MemoriesUsed: []string{s, ""}, PlanID: s,
	}
	empty := &QueryResult{}
	normal := &QueryResult{SessionID: "sess_1"}
	normal.Normalize()
	return []Event{
		{Kind: KindDelta, Delta: s},
		{Kind: KindDelta, Delta: s, Thinking: true},
		{Kind: KindError, Error: s},
		{Kind: KindDone, Result: result},
		{Kind: KindDone, Result: empty},
		{Kind: KindDone, Result: normal},
		{Kind: KindDone},
		{Kind: KindRuntime},
		{Kind: KindRuntime, Runtime: &RuntimeEvent{Type: s, SessionID: s}},
		{Kind: KindRuntime, Runtime: &RuntimeEvent{
			Type: s, SessionID: s, TurnID: s, ToolUseID: s, Name: s, Input: raw, Message: s, IsError: &yes, Output: &s,
			RequestID: s, ToolName: s, Decision: s, Question: s, CorpusID: s,
			Results:   []SourceRef{{ChunkID: s, FileID: s, Path: s, Score: score}, {}},
			MemoryIDs: []string{s}, PlanID: s, Version: n, Shown: n, Total: -n,
		}},
		{Kind: KindRuntime, Runtime: &RuntimeEvent{Type: RuntimeToolFinished, Results: []SourceRef{}, MemoryIDs: []string{}, Input: []byte{}}},
		{},
		{Kind: 99},
	}
}

func checkEvent(t *testing.T, e Event) {
	t.Helper()
	want := encodeStdEvent(e)
	e.Encode()
	if string(e.Data) != string(want) {
		t.Fatalf("Event.Encode(kind %d):\n got %s\nwant %s", e.Kind, e.Data, want)
	}
}

func TestEventEncodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		for _, raw := range rawValues {
			for _, e := range sampleEvents(s, []byte(raw), 0.125, 3) {
				checkEvent(t, e)
			}
		}
	}
	for _, e := range sampleEvents("x", nil, math.NaN(), 0) {
		checkEvent(t, e)
	}
}

func FuzzEventEncode(f *testing.F) {
	f.Add("a<b", []byte(`{"x": [1, 2]}`), 0.5, 2)
	f.Fuzz(func(t *testing.T, s string, raw []byte, score float64, n int) {
		for _, e := range sampleEvents(s, raw, score, n) {
			checkEvent(t, e)
		}
	})
}

// TestEncodersDoNotAllocate checks that the appenders write into the
// caller's buffer without allocating once it is large enough.
func TestEncodersDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	m := Message{Role: RoleAssistant, Content: []Block{TextBlock("hello <world>"), {Type: BlockToolUse, ID: "toolu_1", Name: "ls", Input: []byte(`{"path": "."}`)}},
		CreatedAt: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf, _ = m.AppendJSON(buf[:0]) }); n != 0 {
		t.Fatalf("Message.AppendJSON allocates %v times", n)
	}
	r := &QueryResult{SessionID: "sess_1", Content: "hi"}
	r.Normalize()
	if n := testing.AllocsPerRun(100, func() { buf, _ = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Fatalf("QueryResult.AppendJSON allocates %v times", n)
	}
}

func BenchmarkMessageEncode(b *testing.B) {
	m := Message{Role: RoleAssistant, Content: []Block{TextBlock("Here is a plan for a trip to Paris: day one, the Louvre & the Seine."),
		{Type: BlockToolUse, ID: "toolu_01", Name: "web_search", Input: []byte(`{"query":"Paris museums"}`)}},
		CreatedAt: time.Date(2026, 12, 4, 20, 43, 2, 123456789, time.UTC)}
	b.Run("encoding/json", func(b *testing.B) {
		s := stdOf(m)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = m.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEventEncode(b *testing.B) {
	r := &QueryResult{SessionID: "sess_abcdefghijklmnopqrstuvwxyz", TurnID: "turn_abcdefghijklmnopqrstuvwxyz", Content: "echo: Plan a trip to Paris",
		StopReason: StopEndTurn, Usage: Usage{InputTokens: 12, OutputTokens: 7}}
	r.Normalize()
	for _, e := range []Event{{Kind: KindDelta, Delta: "Plan a trip "}, {Kind: KindDone, Result: r}} {
		name := map[EventKind]string{KindDelta: "delta", KindDone: "done"}[e.Kind]
		b.Run(name+"/encoding/json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = encodeStdEvent(e)
			}
		})
		b.Run(name+"/Encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Encode()
			}
		})
	}
}
