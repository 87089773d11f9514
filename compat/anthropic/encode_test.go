package anthropic

import (
	"encoding/json"
	"testing"
)

// The appending encoders must write what encoding/json writes through
// the MarshalJSON methods, byte for byte, and fail where it fails.

// stdBlock and stdResponse are written by encoding/json through the
// encoders that build a wire struct.
type (
	stdBlock    ContentBlock
	stdResponse MessagesResponse
)

func (b stdBlock) MarshalJSON() ([]byte, error)    { return ContentBlock(b).marshalStd() }
func (r stdResponse) MarshalJSON() ([]byte, error) { return MessagesResponse(r).marshalStd() }

var (
	encStrings = []string{"", "hi", "<b>&\"quoted\"</b>\n\u2028\xff"}
	encRaws    = []string{"", `{"type":"ephemeral"}`, ` [ {"a" : "<x>"} ] `, `{`, `null`}
)

func sampleContentBlocks(s string, raw []byte) []ContentBlock {
	nested := Content{{Type: BlockText, Text: s}, {Type: BlockImage, Raw: raw}}
	return []ContentBlock{
		{Type: BlockText, Text: s},
		{Type: BlockText, Text: s, Citations: raw, CacheControl: raw},
		{Type: BlockToolUse, ID: s, Name: s, Input: raw, CacheControl: raw},
		{Type: BlockToolUse},
		{Type: BlockToolResult, ToolUseID: s},
		{Type: BlockToolResult, ToolUseID: s, Content: Content{{Type: BlockText, Text: s}}, IsError: true},
		{Type: BlockToolResult, ToolUseID: s, Content: Content{{Type: BlockText, Text: s, CacheControl: raw}}},
		{Type: BlockToolResult, Content: nested, CacheControl: raw},
		{Type: BlockThinking, Thinking: s, Signature: s},
		{Type: BlockRedactedThinking, Data: s, CacheControl: raw},
		{Type: BlockImage, Raw: raw},
		{Type: BlockServerToolUse, Raw: raw, CacheControl: raw},
		{Type: s, CacheControl: raw},
		{},
	}
}

func checkBlockEncode(t *testing.T, b ContentBlock) {
	t.Helper()
	want, wantErr := json.Marshal(stdBlock(b))
	got, err := b.appendJSON([]byte("x"))
	if (err != nil) != (wantErr != nil) || (err == nil && string(got) != "x"+string(want)) || (err != nil && string(got) != "x") {
		t.Fatalf("block %+v:\n got %s, %v\nwant %s, %v", b, got, err, want, wantErr)
	}
	// json.Marshal through MarshalJSON gives the same bytes or error.
	via, err := json.Marshal(b)
	if (err != nil) != (wantErr != nil) || string(via) != string(want) {
		t.Fatalf("json.Marshal(block %+v) = %s, %v; want %s, %v", b, via, err, want, wantErr)
	}
}

func checkResponseEncode(t *testing.T, r MessagesResponse) {
	t.Helper()
	want, wantErr := json.Marshal(stdResponse(r))
	got, err := r.AppendJSON([]byte("x"))
	if (err != nil) != (wantErr != nil) || (err == nil && string(got) != "x"+string(want)) || (err != nil && string(got) != "x") {
		t.Fatalf("response:\n got %s, %v\nwant %s, %v", got, err, want, wantErr)
	}
	via, err := json.Marshal(r)
	if (err != nil) != (wantErr != nil) || string(via) != string(want) {
		t.Fatalf("json.Marshal(response) = %s, %v; want %s, %v", via, err, want, wantErr)
	}
}

func checkEventEncode(t *testing.T, ev StreamEvent) {
	t.Helper()
	want, wantErr := json.Marshal(ev)
	got, err := ev.appendJSON([]byte("x"))
	if (err != nil) != (wantErr != nil) || (err == nil && string(got) != "x"+string(want)) || (err != nil && string(got) != "x") {
		t.Fatalf("event %s:\n got %s, %v\nwant %s, %v", ev.Type, got, err, want, wantErr)
	}
	wantName, wantData := encodeStd(ev)
	name, data := Encode(ev)
	if name != wantName || string(data) != string(wantData) {
		t.Fatalf("Encode(%s) = %s %s, want %s %s", ev.Type, name, data, wantName, wantData)
	}
	name, data = AppendEncode([]byte("x"), ev)
	if name != wantName || string(data) != "x"+string(wantData) {
		t.Fatalf("AppendEncode(%s) = %s %s, want %s x%s", ev.Type, name, data, wantName, wantData)
	}
}

// encodeStd is Encode through encoding/json alone.
func encodeStd(ev StreamEvent) (string, []byte) {
	data, err := json.Marshal(ev)
	if err != nil {
		data, _ = json.Marshal(StreamEvent{Type: EventError, Error: &ErrorDetail{Type: ErrorAPI, Message: "internal error encoding a stream event"}})
		return EventError, data
	}
	return ev.Type, data
}

func sampleResponses(s string, raw []byte) []MessagesResponse {
	return []MessagesResponse{
		{},
		{ID: s, Type: s, Role: s, Model: s, Content: sampleContentBlocks(s, raw), StopReason: s, StopSequence: s, StopDetails: raw,
			Usage: Usage{InputTokens: 1, CacheCreationInputTokens: 2, CacheReadInputTokens: 3, OutputTokens: -4, ServiceTier: s}},
		{ID: "msg_1", Model: "m", Content: []ContentBlock{}, StopReason: "end_turn"},
	}
}

func sampleStreamEvents(s string, raw []byte, n int) []StreamEvent {
	evs := []StreamEvent{
		{Type: EventMessageStart},
		{Type: EventContentBlockStart, Index: n},
		{Type: EventContentBlockStart, Index: n, ContentBlock: &ContentBlock{Type: BlockToolUse, ID: s, Name: s, Input: raw}},
		{Type: EventContentBlockDelta, Index: n},
		{Type: EventContentBlockStop, Index: n},
		{Type: EventMessageDelta},
		{Type: EventMessageDelta, MessageDelta: &MessageDelta{StopReason: s, StopSequence: s, StopDetails: raw}, Usage: &Usage{OutputTokens: int64(n), ServiceTier: s}},
		{Type: EventMessageStop},
		{Type: EventPing},
		{Type: EventError},
		{Type: EventError, Error: &ErrorDetail{Type: s, Message: s}},
		{Type: s, Index: n, Usage: &Usage{}},
	}
	for _, d := range []Delta{
		{Type: DeltaText, Text: s}, {Type: DeltaInputJSON, PartialJSON: s}, {Type: DeltaThinking, Thinking: s},
		{Type: DeltaSignature, Signature: s}, {Type: DeltaCitations, Citation: raw}, {Type: s, Text: s},
	} {
		evs = append(evs, StreamEvent{Type: EventContentBlockDelta, Index: n, Delta: &d})
	}
	for _, r := range sampleResponses(s, raw) {
		evs = append(evs, StreamEvent{Type: EventMessageStart, Message: &r})
	}
	return evs
}

func checkAll(t *testing.T, s string, raw []byte, n int) {
	t.Helper()
	for _, b := range sampleContentBlocks(s, raw) {
		checkBlockEncode(t, b)
	}
	for _, r := range sampleResponses(s, raw) {
		checkResponseEncode(t, r)
	}
	for _, ev := range sampleStreamEvents(s, raw, n) {
		checkEventEncode(t, ev)
	}
}

func TestEncodersMatchEncodingJSON(t *testing.T) {
	for _, s := range encStrings {
		for _, raw := range encRaws {
			checkAll(t, s, []byte(raw), 3)
		}
		checkAll(t, s, nil, 0)
	}
}

func FuzzEncoders(f *testing.F) {
	f.Add("a<b>", []byte(`{"k": "v"}`), 1)
	f.Add("\u2029", []byte(`[`), -1)
	f.Fuzz(func(t *testing.T, s string, raw []byte, n int) { checkAll(t, s, raw, n) })
}

func BenchmarkResponseEncode(b *testing.B) {
	r := MessagesResponse{ID: "msg_01abcdefghijklmnopqrstuvwx", Model: "mock:echo",
		Content:    []ContentBlock{{Type: BlockText, Text: "echo: Plan a trip to Paris"}, {Type: BlockToolUse, ID: "toolu_1", Name: "get_weather", Input: []byte(`{"city":"Paris"}`)}},
		StopReason: "end_turn", Usage: Usage{InputTokens: 12, OutputTokens: 7}}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(stdResponse(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = r.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStreamEventEncode(b *testing.B) {
	ev := StreamEvent{Type: EventContentBlockDelta, Index: 0, Delta: &Delta{Type: DeltaText, Text: "Plan a trip "}}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encodeStd(ev)
		}
	})
	b.Run("AppendEncode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			_, buf = AppendEncode(buf[:0], ev)
		}
	})
}
