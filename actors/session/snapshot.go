package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// Snapshot encodings. 1 is JSON of snapshot with the messages inside; 2
// is the same without them: messages are stored one record each, so a
// save costs the same however long the session is.
const (
	snapshotV1      = 1
	snapshotVersion = 2
)

var errNoOneToAsk = errors.New("no one can answer a question here")

// ErrPassivated answers a request that reached a session actor on its way
// to passivation; the request was not handled and may be retried.
var ErrPassivated = errors.New("session passivated")

// lastTurn is what stays known of the last ended turn.
type lastTurn struct {
	TurnID      string            `json:"turn_id"`
	Result      agent.QueryResult `json:"result"`
	LastEventID uint64            `json:"last_event_id"`
}

// snapshot is the durable state of a session actor beyond its record.
type snapshot struct {
	Messages   []agent.Message   `json:"messages,omitempty"`
	Usage      agent.Usage       `json:"usage"`
	Remembered map[string]string `json:"remembered,omitempty"`
	Pending    []agent.Pending   `json:"pending,omitempty"`
	// RunningTurn names the turn in progress when the snapshot was taken;
	// RunningFrom is the index of its first message.
	RunningTurn string    `json:"running_turn,omitempty"`
	RunningFrom int       `json:"running_from,omitempty"`
	LastTurn    *lastTurn `json:"last_turn,omitempty"`
}

// encode returns the snapshot without its messages.
func (s *snapshot) encode() (persist.Snapshot, error) {
	b, err := s.appendJSON(make([]byte, 0, s.sizeHint()))
	if err != nil {
		// encoding/json names what it refused.
		b, err = s.encodeStd()
	}
	return persist.Snapshot{Version: snapshotVersion, Data: b}, err
}

// encodeStd is encode's JSON through encoding/json.
func (s *snapshot) encodeStd() ([]byte, error) {
	c := *s
	c.Messages = nil
	return json.Marshal(&c)
}

// sizeHint is about the length of the snapshot's JSON without messages.
func (s *snapshot) sizeHint() int {
	n := 128 + 64*len(s.Remembered) + 256*len(s.Pending)
	if lt := s.LastTurn; lt != nil {
		n += 256 + len(lt.Result.Content) + 128*(len(lt.Result.ToolUses)+len(lt.Result.ToolResults)+len(lt.Result.RAGResults))
	}
	return n
}

// appendJSON appends the snapshot without its messages as encoding/json
// writes it (Messages left out, map keys sorted); it fails where
// encoding/json fails.
func (s *snapshot) appendJSON(dst []byte) ([]byte, error) {
	dst = s.Usage.AppendJSON(append(dst, `{"usage":`...))
	var err error
	if len(s.Remembered) > 0 {
		dst = append(dst, `,"remembered":{`...)
		for i, k := range slices.Sorted(maps.Keys(s.Remembered)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(agent.AppendJSONString(dst, k), ':')
			dst = agent.AppendJSONString(dst, s.Remembered[k])
		}
		dst = append(dst, '}')
	}
	if len(s.Pending) > 0 {
		dst = append(dst, `,"pending":[`...)
		for i := range s.Pending {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = s.Pending[i].AppendJSON(dst); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	}
	if s.RunningTurn != "" {
		dst = agent.AppendJSONString(append(dst, `,"running_turn":`...), s.RunningTurn)
	}
	if s.RunningFrom != 0 {
		dst = strconv.AppendInt(append(dst, `,"running_from":`...), int64(s.RunningFrom), 10)
	}
	if lt := s.LastTurn; lt != nil {
		dst = agent.AppendJSONString(append(dst, `,"last_turn":{"turn_id":`...), lt.TurnID)
		if dst, err = lt.Result.AppendJSON(append(dst, `,"result":`...)); err != nil {
			return nil, err
		}
		dst = strconv.AppendUint(append(dst, `,"last_event_id":`...), lt.LastEventID, 10)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// decodeSnapshot reads a snapshot of either version; inline reports a
// version-1 snapshot, whose messages are inside it rather than stored.
func decodeSnapshot(p persist.Snapshot) (s snapshot, inline bool, err error) {
	switch p.Version {
	case snapshotV1, snapshotVersion:
	default:
		return s, false, fmt.Errorf("unknown session snapshot version %d", p.Version)
	}
	err = json.Unmarshal(p.Data, &s)
	if err != nil && agent.JSONDepth(p.Data) > trimDepth {
		// Written before tool inputs had a depth bound: read it with
		// the deepest parts cut, then make those inputs {} as the runner
		// now stores them.
		s = snapshot{}
		if err = json.Unmarshal(agent.TrimJSONDepth(p.Data, trimDepth), &s); err == nil {
			s.shallow()
		}
	}
	return s, p.Version == snapshotV1, err
}

// trimDepth is how deep a stored record is read when it nests deeper than
// a decoder reads at all: well below the decoder's 10,000 levels, well
// above agent.MaxJSONDepth plus a record's own few levels.
const trimDepth = 4 * agent.MaxJSONDepth

// shallow makes every tool input of s that nests deeper than
// agent.MaxJSONDepth {}.
func (s *snapshot) shallow() {
	for i := range s.Messages {
		shallowMessage(&s.Messages[i])
	}
	for i := range s.Pending {
		s.Pending[i].Input = shallowInput(s.Pending[i].Input)
	}
	if s.LastTurn != nil {
		for i := range s.LastTurn.Result.ToolUses {
			s.LastTurn.Result.ToolUses[i].Input = shallowInput(s.LastTurn.Result.ToolUses[i].Input)
		}
	}
}

func shallowMessage(m *agent.Message) {
	for i := range m.Content {
		if len(m.Content[i].Input) > 0 {
			m.Content[i].Input = shallowInput(m.Content[i].Input)
		}
	}
}

func shallowInput(in json.RawMessage) json.RawMessage {
	if agent.JSONDepth(in) > agent.MaxJSONDepth {
		return json.RawMessage(`{}`)
	}
	return in
}

// loadMessages decodes a session's stored messages. A message stored
// before tool inputs had a depth bound, too deep for a decoder, is read
// with its too-deep inputs as {}; one that cannot be read at all is kept
// as a note in its place (and logged through the returned error), so
// that one bad record never costs the rest of the session, nor lets the
// next save write over it.
func loadMessages(store *persist.Store, id string) ([]agent.Message, error) {
	raw, err := store.LoadMessages(id)
	if err != nil {
		return nil, err
	}
	msgs := make([]agent.Message, len(raw))
	var bad []error
	for i, b := range raw {
		err := json.Unmarshal(b, &msgs[i])
		if err != nil && agent.JSONDepth(b) > trimDepth {
			msgs[i] = agent.Message{}
			if err = json.Unmarshal(agent.TrimJSONDepth(b, trimDepth), &msgs[i]); err == nil {
				shallowMessage(&msgs[i])
			}
		}
		if err != nil {
			bad = append(bad, fmt.Errorf("session %s message %d: %w", id, i, err))
			msgs[i] = agent.Message{Role: roleOf(i, msgs), Content: []agent.Block{agent.TextBlock("[this message could not be read back]")}}
		}
	}
	return msgs, errors.Join(bad...)
}

// roleOf guesses the role of the unreadable message i from its place:
// the other role than the message before it.
func roleOf(i int, msgs []agent.Message) agent.Role {
	if i > 0 && msgs[i-1].Role == agent.RoleUser {
		return agent.RoleAssistant
	}
	return agent.RoleUser
}
