package anthropic

import (
	"strconv"

	"github.com/seshat-host/seshat/actors/agent"
)

// The encoders here append the JSON of the response types to a caller's
// buffer, byte for byte what encoding/json writes through their
// MarshalJSON methods, without the intermediate documents those build.
// Each fails, with dst unchanged, only where encoding/json fails (an
// invalid raw field); callers then use encoding/json for its error.

// AppendJSON appends the message as json.Marshal writes it.
func (r MessagesResponse) AppendJSON(dst []byte) ([]byte, error) {
	return r.appendJSON(dst)
}

func (r *MessagesResponse) appendJSON(dst []byte) ([]byte, error) {
	out := agent.AppendJSONString(append(dst, `{"id":`...), r.ID)
	typ, role := r.Type, r.Role
	if typ == "" {
		typ = "message"
	}
	if role == "" {
		role = RoleAssistant
	}
	out = agent.AppendJSONString(append(out, `,"type":`...), typ)
	out = agent.AppendJSONString(append(out, `,"role":`...), role)
	out = agent.AppendJSONString(append(out, `,"model":`...), r.Model)
	out = append(out, `,"content":[`...)
	var err error
	for i := range r.Content {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = r.Content[i].appendJSON(out); err != nil {
			return dst, err
		}
	}
	out = appendNullable(append(out, `],"stop_reason":`...), r.StopReason)
	out = appendNullable(append(out, `,"stop_sequence":`...), r.StopSequence)
	out = append(out, `,"stop_details":`...)
	if len(r.StopDetails) == 0 {
		out = append(out, "null"...)
	} else if out, err = agent.AppendJSONRaw(out, r.StopDetails); err != nil {
		return dst, err
	}
	out = r.Usage.appendJSON(append(out, `,"usage":`...))
	return append(out, '}'), nil
}

// appendNullable appends s as a JSON string, null when empty.
func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return agent.AppendJSONString(dst, s)
}

func (u *Usage) appendJSON(dst []byte) []byte {
	dst = strconv.AppendInt(append(dst, `{"input_tokens":`...), u.InputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"cache_creation_input_tokens":`...), u.CacheCreationInputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"cache_read_input_tokens":`...), u.CacheReadInputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"output_tokens":`...), u.OutputTokens, 10)
	if u.ServiceTier != "" {
		dst = agent.AppendJSONString(append(dst, `,"service_tier":`...), u.ServiceTier)
	}
	return append(dst, '}')
}

// appendRawField appends ,"name":raw unless raw is empty.
func appendRawField(dst []byte, name string, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return dst, nil
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return agent.AppendJSONRaw(append(dst, '"', ':'), raw)
}

// appendJSON appends the block as json.Marshal writes it (MarshalJSON's
// shape, compacted).
func (b *ContentBlock) appendJSON(dst []byte) ([]byte, error) {
	switch b.Type {
	case BlockText, BlockToolUse, BlockToolResult, BlockThinking, BlockRedactedThinking:
	default:
		if len(b.Raw) > 0 {
			return agent.AppendJSONRaw(dst, b.Raw)
		}
	}
	out := agent.AppendJSONString(append(dst, `{"type":`...), b.Type)
	var err error
	switch b.Type {
	case BlockText:
		out = agent.AppendJSONString(append(out, `,"text":`...), b.Text)
		if out, err = appendRawField(out, "citations", b.Citations); err != nil {
			return dst, err
		}
	case BlockToolUse:
		out = agent.AppendJSONString(append(out, `,"id":`...), b.ID)
		out = agent.AppendJSONString(append(out, `,"name":`...), b.Name)
		if len(b.Input) == 0 {
			out = append(out, `,"input":{}`...)
		} else if out, err = appendRawField(out, "input", b.Input); err != nil {
			return dst, err
		}
	case BlockToolResult:
		out = agent.AppendJSONString(append(out, `,"tool_use_id":`...), b.ToolUseID)
		switch c := b.Content; {
		case len(c) == 0:
		case len(c) == 1 && c[0].Type == BlockText && len(c[0].CacheControl) == 0 && len(c[0].Citations) == 0:
			out = agent.AppendJSONString(append(out, `,"content":`...), c[0].Text)
		default:
			out = append(out, `,"content":[`...)
			for i := range c {
				if i > 0 {
					out = append(out, ',')
				}
				if out, err = c[i].appendJSON(out); err != nil {
					return dst, err
				}
			}
			out = append(out, ']')
		}
		if b.IsError {
			out = append(out, `,"is_error":true`...)
		}
	case BlockThinking:
		out = agent.AppendJSONString(append(out, `,"thinking":`...), b.Thinking)
		out = agent.AppendJSONString(append(out, `,"signature":`...), b.Signature)
	case BlockRedactedThinking:
		out = agent.AppendJSONString(append(out, `,"data":`...), b.Data)
	}
	if out, err = appendRawField(out, "cache_control", b.CacheControl); err != nil {
		return dst, err
	}
	return append(out, '}'), nil
}

// AppendEncode is Encode appending the event's JSON to dst.
func AppendEncode(dst []byte, ev StreamEvent) (name string, data []byte) {
	if out, err := ev.appendJSON(dst); err == nil {
		return ev.Type, out
	}
	name, data = Encode(ev)
	return name, append(dst, data...)
}

// appendJSON appends the event as json.Marshal writes it.
func (e *StreamEvent) appendJSON(dst []byte) ([]byte, error) {
	out := agent.AppendJSONString(append(dst, `{"type":`...), e.Type)
	var err error
	switch e.Type {
	case EventMessageStart:
		m := e.Message
		if m == nil {
			m = &MessagesResponse{}
		}
		if out, err = m.appendJSON(append(out, `,"message":`...)); err != nil {
			return dst, err
		}
	case EventContentBlockStart:
		out = strconv.AppendInt(append(out, `,"index":`...), int64(e.Index), 10)
		if e.ContentBlock != nil {
			if out, err = e.ContentBlock.appendJSON(append(out, `,"content_block":`...)); err != nil {
				return dst, err
			}
		}
	case EventContentBlockDelta:
		out = strconv.AppendInt(append(out, `,"index":`...), int64(e.Index), 10)
		if e.Delta != nil {
			if out, err = e.Delta.appendJSON(append(out, `,"delta":`...)); err != nil {
				return dst, err
			}
		}
	case EventContentBlockStop:
		out = strconv.AppendInt(append(out, `,"index":`...), int64(e.Index), 10)
	case EventMessageDelta:
		md := &MessageDelta{}
		if e.MessageDelta != nil {
			md = e.MessageDelta
		}
		out = appendNullable(append(out, `,"delta":{"stop_reason":`...), md.StopReason)
		out = appendNullable(append(out, `,"stop_sequence":`...), md.StopSequence)
		out = append(out, `,"stop_details":`...)
		if len(md.StopDetails) == 0 {
			out = append(out, "null"...)
		} else if out, err = agent.AppendJSONRaw(out, md.StopDetails); err != nil {
			return dst, err
		}
		out = append(out, '}')
		if e.Usage != nil {
			out = e.Usage.appendJSON(append(out, `,"usage":`...))
		}
	case EventError:
		if e.Error != nil {
			out = agent.AppendJSONString(append(out, `,"error":{"type":`...), e.Error.Type)
			out = agent.AppendJSONString(append(out, `,"message":`...), e.Error.Message)
			out = append(out, '}')
		}
	}
	return append(out, '}'), nil
}

// appendJSON appends the delta as json.Marshal writes it.
func (d *Delta) appendJSON(dst []byte) ([]byte, error) {
	out := agent.AppendJSONString(append(dst, `{"type":`...), d.Type)
	switch d.Type {
	case DeltaText:
		out = agent.AppendJSONString(append(out, `,"text":`...), d.Text)
	case DeltaInputJSON:
		out = agent.AppendJSONString(append(out, `,"partial_json":`...), d.PartialJSON)
	case DeltaThinking:
		out = agent.AppendJSONString(append(out, `,"thinking":`...), d.Thinking)
	case DeltaSignature:
		out = agent.AppendJSONString(append(out, `,"signature":`...), d.Signature)
	case DeltaCitations:
		var err error
		if out, err = appendRawField(out, "citation", d.Citation); err != nil {
			return dst, err
		}
	}
	return append(out, '}'), nil
}
