package anthropic

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/seshat-host/seshat/actors/agent"
)

// Stream event types; each is also the event's SSE `event:` name.
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// StreamEvent is one event of a streamed answer. Which fields are set
// depends on Type:
//
//	message_start        Message (content [], stop_reason null, usage)
//	content_block_start  Index, ContentBlock
//	content_block_delta  Index, Delta
//	content_block_stop   Index
//	message_delta        MessageDelta, Usage (cumulative)
//	message_stop, ping   nothing
//	error                Error
type StreamEvent struct {
	Type         string
	Message      *MessagesResponse
	Index        int
	ContentBlock *ContentBlock
	Delta        *Delta
	MessageDelta *MessageDelta
	Usage        *Usage
	Error        *ErrorDetail
}

// Delta is the delta of a content_block_delta event. Which field is set
// depends on Type: Text (text_delta), PartialJSON (input_json_delta),
// Thinking (thinking_delta), Signature (signature_delta) or Citation
// (citations_delta).
type Delta struct {
	Type        string
	Text        string
	PartialJSON string
	Thinking    string
	Signature   string
	Citation    json.RawMessage
}

type deltaWire struct {
	Type        string          `json:"type"`
	Text        *string         `json:"text,omitempty"`
	PartialJSON *string         `json:"partial_json,omitempty"`
	Thinking    *string         `json:"thinking,omitempty"`
	Signature   *string         `json:"signature,omitempty"`
	Citation    json.RawMessage `json:"citation,omitempty"`
}

// MarshalJSON writes the field of the delta's type, even when empty.
func (d Delta) MarshalJSON() ([]byte, error) {
	w := deltaWire{Type: d.Type}
	switch d.Type {
	case DeltaText:
		w.Text = &d.Text
	case DeltaInputJSON:
		w.PartialJSON = &d.PartialJSON
	case DeltaThinking:
		w.Thinking = &d.Thinking
	case DeltaSignature:
		w.Signature = &d.Signature
	case DeltaCitations:
		w.Citation = d.Citation
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads any delta.
func (d *Delta) UnmarshalJSON(data []byte) error {
	var w deltaWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*d = Delta{
		Type: w.Type, Text: deref(w.Text), PartialJSON: deref(w.PartialJSON),
		Thinking: deref(w.Thinking), Signature: deref(w.Signature), Citation: w.Citation,
	}
	return nil
}

// MessageDelta is the delta of a message_delta event. The empty string is
// written as null.
type MessageDelta struct {
	StopReason   string
	StopSequence string
	StopDetails  json.RawMessage
}

type messageDeltaWire struct {
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	StopDetails  json.RawMessage `json:"stop_details"`
}

// MarshalJSON writes all three fields, null when empty.
func (d MessageDelta) MarshalJSON() ([]byte, error) {
	w := messageDeltaWire{StopReason: nullable(d.StopReason), StopSequence: nullable(d.StopSequence), StopDetails: d.StopDetails}
	if len(w.StopDetails) == 0 {
		w.StopDetails = json.RawMessage("null")
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a message delta; nulls become empty.
func (d *MessageDelta) UnmarshalJSON(data []byte) error {
	var w messageDeltaWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*d = MessageDelta{StopReason: deref(w.StopReason), StopSequence: deref(w.StopSequence)}
	if len(w.StopDetails) > 0 && string(w.StopDetails) != "null" {
		d.StopDetails = w.StopDetails
	}
	return nil
}

// eventWire is StreamEvent's JSON shape; "delta" holds either kind of
// delta, so it is kept raw until the type is known.
type eventWire struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        json.RawMessage   `json:"delta,omitempty"`
	Usage        *Usage            `json:"usage,omitempty"`
	Error        *ErrorDetail      `json:"error,omitempty"`
}

// MarshalJSON writes the fields of the event's type.
func (e StreamEvent) MarshalJSON() ([]byte, error) {
	w := eventWire{Type: e.Type}
	var err error
	switch e.Type {
	case EventMessageStart:
		w.Message = e.Message
		if w.Message == nil {
			w.Message = &MessagesResponse{}
		}
	case EventContentBlockStart:
		w.Index, w.ContentBlock = &e.Index, e.ContentBlock
	case EventContentBlockDelta:
		w.Index = &e.Index
		if e.Delta != nil {
			w.Delta, err = json.Marshal(e.Delta)
		}
	case EventContentBlockStop:
		w.Index = &e.Index
	case EventMessageDelta:
		md := MessageDelta{}
		if e.MessageDelta != nil {
			md = *e.MessageDelta
		}
		w.Delta, err = json.Marshal(md)
		w.Usage = e.Usage
	case EventError:
		w.Error = e.Error
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// eventReadWire is what UnmarshalJSON reads in one pass: "delta" holds
// the fields of either kind of delta, told apart by the event's type.
type eventReadWire struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message"`
	Index        *int              `json:"index"`
	ContentBlock *ContentBlock     `json:"content_block"`
	Delta        *anyDeltaWire     `json:"delta"`
	Usage        *Usage            `json:"usage"`
	Error        *ErrorDetail      `json:"error"`
}

// anyDeltaWire is a content block's delta or a message's delta.
type anyDeltaWire struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	PartialJSON  *string         `json:"partial_json"`
	Thinking     *string         `json:"thinking"`
	Signature    *string         `json:"signature"`
	Citation     json.RawMessage `json:"citation"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	StopDetails  json.RawMessage `json:"stop_details"`
}

// UnmarshalJSON reads any event; an unknown type keeps only Type. It
// decodes in one pass: a streamed answer is mostly small delta events,
// and decoding each twice (the event, then its raw delta) was most of a
// turn's upstream cost.
func (e *StreamEvent) UnmarshalJSON(data []byte) error {
	var w eventReadWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*e = StreamEvent{Type: w.Type, Message: w.Message, ContentBlock: w.ContentBlock, Usage: w.Usage, Error: w.Error}
	if w.Index != nil {
		e.Index = *w.Index
	}
	if w.Delta == nil {
		return nil
	}
	d := w.Delta
	switch w.Type {
	case EventContentBlockDelta:
		e.Delta = &Delta{
			Type: d.Type, Text: deref(d.Text), PartialJSON: deref(d.PartialJSON),
			Thinking: deref(d.Thinking), Signature: deref(d.Signature), Citation: d.Citation,
		}
	case EventMessageDelta:
		e.MessageDelta = &MessageDelta{StopReason: deref(d.StopReason), StopSequence: deref(d.StopSequence)}
		if len(d.StopDetails) > 0 && string(d.StopDetails) != "null" {
			e.MessageDelta.StopDetails = d.StopDetails
		}
	}
	return nil
}

// Encode returns the SSE event name and the one-line JSON data of ev, for
// eventstream.AppendEvent. Events built by this package always encode; a
// hand-built event whose raw JSON fields are invalid encodes as an
// api_error error event instead, so a stream never carries broken JSON.
func Encode(ev StreamEvent) (name string, data []byte) {
	if out, err := ev.appendJSON(nil); err == nil {
		return ev.Type, out
	}
	data, err := json.Marshal(ev)
	if err != nil {
		data, _ = json.Marshal(StreamEvent{Type: EventError, Error: &ErrorDetail{Type: ErrorAPI, Message: "internal error encoding a stream event"}})
		return EventError, data
	}
	return ev.Type, data
}

// inputChunkBytes is the longest partial_json a StreamConverter sends in
// one input_json_delta; upstream sends arguments in small pieces too, and
// clients must cope with any split.
const inputChunkBytes = 64

// StreamConverter turns what happens during a turn into Anthropic stream
// events, following ANTHROPIC-COMPAT.md's grammar: message_start first
// (content [], usage with the input tokens), blocks indexed from 0 in
// order, each opened with content_block_start and closed with
// content_block_stop before the next one opens, one message_delta carrying
// the stop reason and cumulative usage, then exactly one message_stop; or
// an error event that replaces the rest. After End or Error every method
// returns nil.
//
// It does no I/O: every method returns the events to write, in order. A
// StreamConverter is not safe for concurrent use.
type StreamConverter struct {
	id          string
	model       string
	inputTokens int64
	started     bool
	finished    bool
	// next is the index of the next block to open.
	next int
	// open is the type of the block being streamed: "" when none,
	// BlockText or BlockThinking.
	open string
}

// NewStreamConverter returns a converter for the message id (by convention
// "msg_…") answering as model. inputTokens goes into message_start, which
// must carry it; an estimate is fine, End's usage replaces it.
func NewStreamConverter(id, model string, inputTokens int64) *StreamConverter {
	return &StreamConverter{id: id, model: model, inputTokens: inputTokens}
}

// Start returns message_start the first time it is called, nil after. The
// other methods call it themselves, so calling it is needed only to commit
// the stream before anything else happens.
func (c *StreamConverter) Start() []StreamEvent {
	if c.started || c.finished {
		return nil
	}
	c.started = true
	return []StreamEvent{{Type: EventMessageStart, Message: &MessagesResponse{
		ID: c.id, Type: "message", Role: RoleAssistant, Model: c.model,
		Content: []ContentBlock{},
		Usage:   Usage{InputTokens: c.inputTokens, ServiceTier: "standard"},
	}}}
}

// Text returns the events for a text delta, opening a text block when
// none is open. An empty delta produces no block events.
func (c *StreamConverter) Text(delta string) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.Start()
	if delta == "" {
		return evs
	}
	evs = c.openBlock(evs, BlockText)
	return append(evs, StreamEvent{Type: EventContentBlockDelta, Index: c.next - 1, Delta: &Delta{Type: DeltaText, Text: delta}})
}

// Thinking returns the events for a thinking delta, opening a thinking
// block when none is open.
func (c *StreamConverter) Thinking(delta string) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.Start()
	if delta == "" {
		return evs
	}
	evs = c.openBlock(evs, BlockThinking)
	return append(evs, StreamEvent{Type: EventContentBlockDelta, Index: c.next - 1, Delta: &Delta{Type: DeltaThinking, Thinking: delta}})
}

// Signature returns the signature_delta of the thinking block being
// streamed and closes that block, since the signature comes last. With no
// thinking block open it opens an empty one for it, so a signed block is
// never lost.
func (c *StreamConverter) Signature(sig string) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.openBlock(c.Start(), BlockThinking)
	evs = append(evs, StreamEvent{Type: EventContentBlockDelta, Index: c.next - 1, Delta: &Delta{Type: DeltaSignature, Signature: sig}})
	return c.closeBlock(evs)
}

// ToolUse returns the events of a complete tool_use block: the open block
// is closed, then content_block_start with input {}, the input JSON as
// input_json_delta pieces, and content_block_stop.
func (c *StreamConverter) ToolUse(b agent.Block) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.closeBlock(c.Start())
	idx := c.next
	c.next++
	evs = append(evs, StreamEvent{Type: EventContentBlockStart, Index: idx, ContentBlock: &ContentBlock{
		Type: BlockToolUse, ID: b.ID, Name: b.Name, Input: json.RawMessage("{}"),
	}})
	in, err := compactObject(b.Input)
	if err != nil {
		in = json.RawMessage("{}")
	}
	for _, part := range splitUTF8(string(in), inputChunkBytes) {
		evs = append(evs, StreamEvent{Type: EventContentBlockDelta, Index: idx, Delta: &Delta{Type: DeltaInputJSON, PartialJSON: part}})
	}
	return append(evs, StreamEvent{Type: EventContentBlockStop, Index: idx})
}

// Raw returns the events of a whole block given as JSON (a server tool's
// use or result): content_block_start carrying it, then
// content_block_stop.
func (c *StreamConverter) Raw(block json.RawMessage) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.closeBlock(c.Start())
	idx := c.next
	c.next++
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(block, &head)
	evs = append(evs, StreamEvent{Type: EventContentBlockStart, Index: idx, ContentBlock: &ContentBlock{Type: head.Type, Raw: block}})
	return append(evs, StreamEvent{Type: EventContentBlockStop, Index: idx})
}

// Ping returns a ping event (after message_start, which it sends first if
// needed). Send one every ten seconds or so of silence to keep proxies
// from timing the stream out.
func (c *StreamConverter) Ping() []StreamEvent {
	if c.finished {
		return nil
	}
	return append(c.Start(), StreamEvent{Type: EventPing})
}

// End closes the open block and returns message_delta with the stop reason
// (mapped with ToStopReason) and the cumulative usage, then message_stop.
// usage.InputTokens replaces the estimate given to NewStreamConverter when
// it is not zero.
func (c *StreamConverter) End(stop agent.StopReason, usage agent.Usage) []StreamEvent {
	if c.finished {
		return nil
	}
	evs := c.closeBlock(c.Start())
	c.finished = true
	u := toUsage(usage)
	if u.InputTokens == 0 {
		u.InputTokens = c.inputTokens
	}
	return append(evs,
		StreamEvent{Type: EventMessageDelta, MessageDelta: &MessageDelta{StopReason: ToStopReason(stop)}, Usage: &u},
		StreamEvent{Type: EventMessageStop},
	)
}

// Error returns the error event that ends the stream, with the error type
// of status (see ErrorType) and msg. No block is closed and no
// message_stop follows: clients must see the answer as failed, not as a
// finished turn.
func (c *StreamConverter) Error(status int, msg string) []StreamEvent {
	if c.finished {
		return nil
	}
	c.finished = true
	return []StreamEvent{{Type: EventError, Error: &ErrorDetail{Type: ErrorType(status), Message: msg}}}
}

// openBlock makes sure a block of type typ is open, closing another one
// first.
func (c *StreamConverter) openBlock(evs []StreamEvent, typ string) []StreamEvent {
	if c.open == typ {
		return evs
	}
	evs = c.closeBlock(evs)
	cb := &ContentBlock{Type: typ}
	evs = append(evs, StreamEvent{Type: EventContentBlockStart, Index: c.next, ContentBlock: cb})
	c.next++
	c.open = typ
	return evs
}

// closeBlock closes the open block, if any.
func (c *StreamConverter) closeBlock(evs []StreamEvent) []StreamEvent {
	if c.open == "" {
		return evs
	}
	c.open = ""
	return append(evs, StreamEvent{Type: EventContentBlockStop, Index: c.next - 1})
}

// splitUTF8 cuts s into pieces of at most n bytes without splitting a
// character; "" gives one empty piece.
func splitUTF8(s string, n int) []string {
	if len(s) <= n {
		return []string{s}
	}
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
