package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/seshat-host/seshat/compat/eventstream"
)

// MaxStreamLineBytes is the longest SSE line a StreamDecoder accepts, as in
// the official SDKs.
const MaxStreamLineBytes = 32 << 20

// ErrMalformedStream is wrapped by every error a StreamDecoder returns for
// a stream that breaks the grammar or carries invalid JSON.
var ErrMalformedStream = errors.New("malformed anthropic stream")

// StreamError is an `error` event received in a stream: the upstream
// failed after its 200 went out.
type StreamError struct {
	ErrorDetail
}

// Error implements error.
func (e *StreamError) Error() string {
	return "anthropic stream error: " + e.Type + ": " + e.Message
}

// StreamDecoder reads an Anthropic SSE stream event by event and assembles
// the message as it goes: text and thinking from their deltas, signatures,
// and tool_use input from its input_json_delta pieces, parsed when the
// block stops. It checks the grammar: one message_start before any block,
// blocks started in index order, deltas and stops only for open blocks of
// a matching type. Events without data are skipped.
//
// A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	dec     *eventstream.Decoder
	started bool
	// finished is set by message_stop or an error event; stopped only
	// by message_stop.
	finished bool
	stopped  bool
	msg      MessagesResponse
	// acc accumulates the block of the same index in msg.Content.
	acc []blockAcc
	// delta is the Delta of the last event the fast path read.
	delta Delta
	// slow turns the fast path off (for tests that compare the two).
	slow bool
}

// blockAcc collects the deltas of one block until it stops.
type blockAcc struct {
	open      bool
	text      strings.Builder
	signature strings.Builder
	citations []json.RawMessage
}

// NewStreamDecoder returns a decoder reading the SSE stream r.
func NewStreamDecoder(r io.Reader) *StreamDecoder {
	dec := eventstream.NewDecoder(r, MaxStreamLineBytes)
	// Every event is parsed before the next is read.
	dec.ReuseData()
	return &StreamDecoder{dec: dec}
}

// Next returns the next event, pings and unknown event types included,
// after folding it into the message. At the end of the stream it returns
// io.EOF after message_stop and io.ErrUnexpectedEOF if the stream ended
// before it. An error event is returned as a *StreamError, and the stream
// counts as ended. A grammar violation wraps ErrMalformedStream; a read
// error is returned as is.
//
// The Delta of a content_block_delta event may be the decoder's own, which
// the next call of Next reuses: copy it (its strings stay valid) to keep
// it.
func (d *StreamDecoder) Next() (StreamEvent, error) {
	for {
		if d.finished {
			return StreamEvent{}, io.EOF
		}
		raw, err := d.dec.Next()
		if errors.Is(err, io.EOF) {
			return StreamEvent{}, io.ErrUnexpectedEOF
		}
		if err != nil {
			return StreamEvent{}, err
		}
		if len(raw.Data) == 0 {
			continue
		}
		if ev, ok := d.fastDelta(raw.Data); ok {
			return ev, nil
		}
		ev, ok := StreamEvent{}, false
		if !d.slow {
			ev, ok = scanBare(raw.Data)
			if !ok {
				ev, ok = scanMessageDelta(raw.Data)
			}
			if !ok {
				ev, ok = scanTextStart(raw.Data)
			}
		}
		// UnmarshalJSON directly: json.Unmarshal would first scan the
		// data once more to validate it.
		if !ok {
			if err := ev.UnmarshalJSON(raw.Data); err != nil {
				return StreamEvent{}, fmt.Errorf("%w: event %q: %v", ErrMalformedStream, raw.Name, err)
			}
		}
		if ev.Type == "" {
			ev.Type = raw.Name
		}
		if err := d.apply(&ev); err != nil {
			return StreamEvent{}, err
		}
		return ev, nil
	}
}

// Message returns the message assembled so far, open blocks with the text
// received up to now. Its Content is a copy the caller may keep.
func (d *StreamDecoder) Message() MessagesResponse {
	m := d.msg
	m.Content = make([]ContentBlock, len(d.msg.Content))
	for i := range d.msg.Content {
		m.Content[i] = d.Block(i)
	}
	return m
}

// Block returns block i as assembled so far; the zero block if there is
// no such block. A tool_use block's Input is set once the block stopped.
func (d *StreamDecoder) Block(i int) ContentBlock {
	if i < 0 || i >= len(d.msg.Content) {
		return ContentBlock{}
	}
	b := d.msg.Content[i]
	if a := &d.acc[i]; a.open {
		switch b.Type {
		case BlockText:
			b.Text = a.text.String()
		case BlockThinking:
			b.Thinking, b.Signature = a.text.String(), a.signature.String()
		}
	}
	return b
}

// Done reports whether message_stop was received.
func (d *StreamDecoder) Done() bool { return d.stopped }

func (d *StreamDecoder) malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedStream, fmt.Sprintf(format, a...))
}

// apply folds ev into the message.
func (d *StreamDecoder) apply(ev *StreamEvent) error {
	switch ev.Type {
	case EventPing:
		return nil
	case EventError:
		d.finished = true
		se := &StreamError{}
		if ev.Error != nil {
			se.ErrorDetail = *ev.Error
		}
		if se.Type == "" {
			se.Type = ErrorAPI
		}
		return se
	case EventMessageStart:
		if d.started {
			return d.malformed("second message_start")
		}
		if ev.Message == nil {
			return d.malformed("message_start without message")
		}
		d.started = true
		d.msg = *ev.Message
		d.msg.Content = append([]ContentBlock(nil), ev.Message.Content...)
		d.acc = make([]blockAcc, len(d.msg.Content))
		return nil
	}
	if !d.started {
		return d.malformed("%s before message_start", ev.Type)
	}
	switch ev.Type {
	case EventContentBlockStart:
		if ev.Index != len(d.msg.Content) {
			return d.malformed("content_block_start index %d, want %d", ev.Index, len(d.msg.Content))
		}
		if ev.ContentBlock == nil {
			return d.malformed("content_block_start %d without content_block", ev.Index)
		}
		b := *ev.ContentBlock
		d.msg.Content = append(d.msg.Content, b)
		d.acc = append(d.acc, blockAcc{open: true})
		a := &d.acc[len(d.acc)-1]
		a.text.WriteString(b.Text + b.Thinking)
		a.signature.WriteString(b.Signature)
	case EventContentBlockDelta:
		a, err := d.openAcc(ev.Index, ev.Type)
		if err != nil {
			return err
		}
		if ev.Delta == nil {
			return d.malformed("content_block_delta %d without delta", ev.Index)
		}
		return d.applyDelta(ev.Index, a, ev.Delta)
	case EventContentBlockStop:
		a, err := d.openAcc(ev.Index, ev.Type)
		if err != nil {
			return err
		}
		return d.stopBlock(ev.Index, a)
	case EventMessageDelta:
		if md := ev.MessageDelta; md != nil {
			d.msg.StopReason, d.msg.StopSequence, d.msg.StopDetails = md.StopReason, md.StopSequence, md.StopDetails
		}
		if u := ev.Usage; u != nil {
			d.msg.Usage.OutputTokens = u.OutputTokens
			// Older API versions send only output_tokens here; keep the
			// counts of message_start rather than zeroing them.
			if u.InputTokens > 0 {
				d.msg.Usage.InputTokens = u.InputTokens
			}
			if u.CacheCreationInputTokens > 0 {
				d.msg.Usage.CacheCreationInputTokens = u.CacheCreationInputTokens
			}
			if u.CacheReadInputTokens > 0 {
				d.msg.Usage.CacheReadInputTokens = u.CacheReadInputTokens
			}
		}
	case EventMessageStop:
		for i := range d.acc {
			if d.acc[i].open {
				if err := d.stopBlock(i, &d.acc[i]); err != nil {
					return err
				}
			}
		}
		d.finished, d.stopped = true, true
	}
	return nil
}

// fastDelta folds a content_block_delta event of the common shape into
// its open block without encoding/json (scanDelta), when the event is one
// apply would accept; any other event, or one apply would refuse, is left
// to the general path, which then does what it always did.
func (d *StreamDecoder) fastDelta(data []byte) (StreamEvent, bool) {
	if d.slow {
		return StreamEvent{}, false
	}
	sd, ok := scanDelta(data)
	if !ok || !d.started || sd.index >= len(d.acc) || !d.acc[sd.index].open {
		return StreamEvent{}, false
	}
	want := BlockText
	switch sd.typ {
	case DeltaThinking, DeltaSignature:
		want = BlockThinking
	case DeltaInputJSON:
		want = BlockToolUse
	}
	if d.msg.Content[sd.index].Type != want {
		return StreamEvent{}, false
	}
	a := &d.acc[sd.index]
	b := &a.text
	if sd.typ == DeltaSignature {
		b = &a.signature
	}
	start := b.Len()
	appendJSONString(b, sd.value, sd.escaped)
	// The builder never changes what it holds: the substring stays valid
	// as more is appended.
	piece := b.String()[start:]
	d.delta = Delta{Type: sd.typ}
	switch sd.typ {
	case DeltaText:
		d.delta.Text = piece
	case DeltaThinking:
		d.delta.Thinking = piece
	case DeltaSignature:
		d.delta.Signature = piece
	case DeltaInputJSON:
		d.delta.PartialJSON = piece
	}
	return StreamEvent{Type: EventContentBlockDelta, Index: sd.index, Delta: &d.delta}, true
}

// openAcc returns the accumulator of the open block i.
func (d *StreamDecoder) openAcc(i int, evType string) (*blockAcc, error) {
	if i < 0 || i >= len(d.acc) || !d.acc[i].open {
		return nil, d.malformed("%s for block %d, which is not open", evType, i)
	}
	return &d.acc[i], nil
}

func (d *StreamDecoder) applyDelta(i int, a *blockAcc, delta *Delta) error {
	typ := d.msg.Content[i].Type
	want := ""
	switch delta.Type {
	case DeltaText:
		want = BlockText
		a.text.WriteString(delta.Text)
	case DeltaThinking:
		want = BlockThinking
		a.text.WriteString(delta.Thinking)
	case DeltaSignature:
		want = BlockThinking
		a.signature.WriteString(delta.Signature)
	case DeltaInputJSON:
		want = BlockToolUse
		a.text.WriteString(delta.PartialJSON)
	case DeltaCitations:
		want = BlockText
		if len(delta.Citation) > 0 {
			a.citations = append(a.citations, delta.Citation)
		}
	default:
		// A delta type newer than this package: nothing to fold.
		return nil
	}
	if typ != want {
		return d.malformed("%s for block %d of type %s", delta.Type, i, typ)
	}
	return nil
}

// stopBlock finishes block i from its accumulator.
func (d *StreamDecoder) stopBlock(i int, a *blockAcc) error {
	b := &d.msg.Content[i]
	switch b.Type {
	case BlockText:
		b.Text = a.text.String()
		if len(a.citations) > 0 {
			c, err := json.Marshal(a.citations)
			if err != nil {
				return d.malformed("citations of block %d: %v", i, err)
			}
			b.Citations = c
		}
	case BlockThinking:
		b.Thinking, b.Signature = a.text.String(), a.signature.String()
	case BlockToolUse:
		in := a.text.String()
		if in == "" {
			// No deltas: the start's input is the whole input.
			in = string(b.Input)
		}
		obj, err := compactObject(json.RawMessage(in))
		if err != nil {
			return d.malformed("tool_use %s input is not valid JSON: %v", b.ID, err)
		}
		b.Input = obj
	}
	*a = blockAcc{}
	return nil
}
