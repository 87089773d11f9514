package anthropic

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// A streamed answer is mostly content_block_delta events of one shape:
//
//	{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}
//
// scanDelta reads that shape without encoding/json and without
// allocating; the decoder then appends the delta's text to its block's
// accumulator and hands out a substring of it. Whatever it does not
// recognise exactly is left to encoding/json, which then gives the same
// result or the error: other keys or keys in another case (encoding/json
// matches keys without regard to case), a key given twice, an index that
// is not a plain non-negative integer, a delta whose text field is not its
// type's, a string holding a control character, invalid UTF-8 or a
// surrogate escape (which encoding/json pairs or replaces), or anything
// after the closing brace.

// scannedDelta is what scanDelta found.
type scannedDelta struct {
	index int
	// typ is one of DeltaText, DeltaInputJSON, DeltaThinking and
	// DeltaSignature.
	typ string
	// value is the delta's string between its quotes, its escapes not
	// yet decoded (escaped says whether it has any).
	value   []byte
	escaped bool
}

// deltaField returns the delta type typ names and the field that carries
// its delta, for the types the fast path reads.
func deltaField(typ []byte) (string, string, bool) {
	switch string(typ) {
	case DeltaText:
		return DeltaText, fieldOf(DeltaText), true
	case DeltaInputJSON:
		return DeltaInputJSON, fieldOf(DeltaInputJSON), true
	case DeltaThinking:
		return DeltaThinking, fieldOf(DeltaThinking), true
	case DeltaSignature:
		return DeltaSignature, fieldOf(DeltaSignature), true
	}
	return "", "", false
}

// fieldOf is the field of a delta of type typ.
func fieldOf(typ string) string {
	switch typ {
	case DeltaText:
		return "text"
	case DeltaInputJSON:
		return "partial_json"
	case DeltaThinking:
		return "thinking"
	case DeltaSignature:
		return "signature"
	}
	return ""
}

// jsonScanner reads JSON tokens from b at i.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c, after any white space.
func (s *jsonScanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string after any white space and returns its content
// between the quotes. It refuses control characters, invalid UTF-8,
// unknown escapes and surrogate escapes.
func (s *jsonScanner) str() (raw []byte, escaped, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start, ascii := s.i, true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			return raw, escaped, true
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
			s.i++
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				r, ok := hex4(s.b[s.i+2:])
				if !ok || utf8.RuneLen(r) < 0 {
					// Not four hex digits, or a surrogate.
					return nil, false, false
				}
				s.i += 6
			default:
				return nil, false, false
			}
		default:
			s.i++
		}
	}
	return nil, false, false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// index reads a plain non-negative integer, as encoding/json reads one
// into an int: no sign, fraction, exponent or leading zero.
func (s *jsonScanner) index() (int, bool) {
	s.ws()
	start, n := s.i, 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
		if s.i-start > 9 {
			return 0, false
		}
	}
	switch {
	case s.i == start, s.b[start] == '0' && s.i-start > 1:
		return 0, false
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		return 0, false
	}
	return n, true
}

// object reads the members of an object after its opening brace, calling
// member with each key (escape-free; an escaped key refuses the object) and
// the scanner at its value, until the closing brace.
func (s *jsonScanner) object(member func(key []byte) bool) bool {
	if s.byte('}') {
		return true
	}
	for {
		key, escaped, ok := s.str()
		if !ok || escaped || !s.byte(':') || !member(key) {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// scanDelta reads data as a content_block_delta event of the common
// shape (see above).
func scanDelta(data []byte) (scannedDelta, bool) {
	var out scannedDelta
	s := jsonScanner{b: data}
	var seenType, seenIndex, seenDelta bool
	var field string
	var value []byte
	var gotValue bool
	delta := func(key []byte) bool {
		switch {
		case string(key) == "type" && out.typ == "":
			v, esc, ok := s.str()
			if !ok || esc {
				return false
			}
			typ, f, ok := deltaField(v)
			if !ok || (field != "" && f != field) {
				return false
			}
			out.typ, field = typ, f
			return true
		case !gotValue && (field == "" || string(key) == field):
			var f string
			switch string(key) {
			case "text":
				f = "text"
			case "partial_json":
				f = "partial_json"
			case "thinking":
				f = "thinking"
			case "signature":
				f = "signature"
			default:
				return false
			}
			v, esc, ok := s.str()
			if !ok {
				return false
			}
			field, value, out.escaped, gotValue = f, v, esc, true
			return true
		}
		return false
	}
	top := func(key []byte) bool {
		switch {
		case string(key) == "type" && !seenType:
			v, esc, ok := s.str()
			seenType = ok && !esc && string(v) == EventContentBlockDelta
			return seenType
		case string(key) == "index" && !seenIndex:
			out.index, seenIndex = s.index()
			return seenIndex
		case string(key) == "delta" && !seenDelta:
			seenDelta = s.byte('{') && s.object(delta)
			return seenDelta
		}
		return false
	}
	if !s.byte('{') || !s.object(top) {
		return out, false
	}
	s.ws()
	if s.i != len(s.b) || !seenType || !seenIndex || !seenDelta || out.typ == "" || !gotValue {
		return out, false
	}
	// The field must be the one of the delta's type, whichever came first.
	if fieldOf(out.typ) != field {
		return out, false
	}
	out.value = value
	return out, true
}

// appendJSONString appends the content of a JSON string that str accepted
// to b, its escapes decoded.
func appendJSONString(b *strings.Builder, raw []byte, escaped bool) {
	if !escaped {
		b.Write(raw)
		return
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			b.Write(raw[i:j])
			i = j
			continue
		}
		switch raw[i+1] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			b.WriteRune(r)
			i += 6
			continue
		default: // '"', '\\', '/'
			b.WriteByte(raw[i+1])
		}
		i += 2
	}
}

// scanBare reads data as one of the events without a payload of their
// own, in their common shape: {"type":"content_block_stop","index":N},
// {"type":"message_stop"} and {"type":"ping"}. Anything else, an extra
// key, a key given twice or in another case included, is left to
// encoding/json.
func scanBare(data []byte) (StreamEvent, bool) {
	var ev StreamEvent
	s := jsonScanner{b: data}
	var seenType, seenIndex bool
	top := func(key []byte) bool {
		switch {
		case string(key) == "type" && !seenType:
			v, esc, ok := s.str()
			if !ok || esc {
				return false
			}
			switch string(v) {
			case EventContentBlockStop:
				ev.Type = EventContentBlockStop
			case EventMessageStop:
				ev.Type = EventMessageStop
			case EventPing:
				ev.Type = EventPing
			default:
				return false
			}
			seenType = true
			return true
		case string(key) == "index" && !seenIndex:
			ev.Index, seenIndex = s.index()
			return seenIndex
		}
		return false
	}
	if !s.byte('{') || !s.object(top) {
		return StreamEvent{}, false
	}
	s.ws()
	if s.i != len(s.b) || !seenType || seenIndex != (ev.Type == EventContentBlockStop) {
		return StreamEvent{}, false
	}
	return ev, true
}

// scanMessageDelta reads data as a message_delta event of the common
// shape: {"type":"message_delta","delta":{"stop_reason":R,"stop_sequence":S},
// "usage":{"output_tokens":N}}, R and S escape-free strings or null, usage
// holding any of its four counts as plain integers. Anything else is left
// to encoding/json.
func scanMessageDelta(data []byte) (StreamEvent, bool) {
	ev := StreamEvent{Type: EventMessageDelta}
	md, u := &MessageDelta{}, &Usage{}
	s := jsonScanner{b: data}
	var seenType, seenDelta, seenUsage, seenReason, seenSeq bool
	var seenCount [4]bool
	nullable := func(seen *bool, out *string) bool {
		if *seen {
			return false
		}
		*seen = true
		s.ws()
		if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
			s.i += 4
			return true
		}
		v, esc, ok := s.str()
		if !ok || esc {
			return false
		}
		*out = string(v)
		return true
	}
	delta := func(key []byte) bool {
		switch string(key) {
		case "stop_reason":
			return nullable(&seenReason, &md.StopReason)
		case "stop_sequence":
			return nullable(&seenSeq, &md.StopSequence)
		}
		return false
	}
	usage := func(key []byte) bool {
		var k int
		var out *int64
		switch string(key) {
		case "input_tokens":
			k, out = 0, &u.InputTokens
		case "output_tokens":
			k, out = 1, &u.OutputTokens
		case "cache_creation_input_tokens":
			k, out = 2, &u.CacheCreationInputTokens
		case "cache_read_input_tokens":
			k, out = 3, &u.CacheReadInputTokens
		default:
			return false
		}
		if seenCount[k] {
			return false
		}
		n, ok := s.index()
		*out, seenCount[k] = int64(n), true
		return ok
	}
	top := func(key []byte) bool {
		switch {
		case string(key) == "type" && !seenType:
			v, esc, ok := s.str()
			seenType = ok && !esc && string(v) == EventMessageDelta
			return seenType
		case string(key) == "delta" && !seenDelta:
			seenDelta = s.byte('{') && s.object(delta)
			return seenDelta
		case string(key) == "usage" && !seenUsage:
			seenUsage = s.byte('{') && s.object(usage)
			return seenUsage
		}
		return false
	}
	if !s.byte('{') || !s.object(top) {
		return StreamEvent{}, false
	}
	s.ws()
	if s.i != len(s.b) || !seenType {
		return StreamEvent{}, false
	}
	if seenDelta {
		ev.MessageDelta = md
	}
	if seenUsage {
		ev.Usage = u
	}
	return ev, true
}

// scanTextStart reads data as a content_block_start event of a text block
// in its common shape: {"type":"content_block_start","index":N,
// "content_block":{"type":"text","text":T}}, T an escape-free string.
// Anything else is left to encoding/json.
func scanTextStart(data []byte) (StreamEvent, bool) {
	ev := StreamEvent{Type: EventContentBlockStart}
	s := jsonScanner{b: data}
	var seenType, seenIndex, seenBlock, seenBlockType, seenText bool
	var text []byte
	block := func(key []byte) bool {
		switch {
		case string(key) == "type" && !seenBlockType:
			v, esc, ok := s.str()
			seenBlockType = ok && !esc && string(v) == BlockText
			return seenBlockType
		case string(key) == "text" && !seenText:
			v, esc, ok := s.str()
			text, seenText = v, ok && !esc
			return seenText
		}
		return false
	}
	top := func(key []byte) bool {
		switch {
		case string(key) == "type" && !seenType:
			v, esc, ok := s.str()
			seenType = ok && !esc && string(v) == EventContentBlockStart
			return seenType
		case string(key) == "index" && !seenIndex:
			ev.Index, seenIndex = s.index()
			return seenIndex
		case string(key) == "content_block" && !seenBlock:
			seenBlock = s.byte('{') && s.object(block)
			return seenBlock
		}
		return false
	}
	if !s.byte('{') || !s.object(top) {
		return StreamEvent{}, false
	}
	s.ws()
	if s.i != len(s.b) || !seenType || !seenIndex || !seenBlock || !seenBlockType {
		return StreamEvent{}, false
	}
	ev.ContentBlock = &ContentBlock{Type: BlockText, Text: string(text)}
	return ev, true
}
