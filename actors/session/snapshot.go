package session

import (
	"encoding/json"
	"errors"
	"fmt"

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
	c := *s
	c.Messages = nil
	b, err := json.Marshal(&c)
	return persist.Snapshot{Version: snapshotVersion, Data: b}, err
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
	return s, p.Version == snapshotV1, err
}

// loadMessages decodes a session's stored messages.
func loadMessages(store *persist.Store, id string) ([]agent.Message, error) {
	raw, err := store.LoadMessages(id)
	if err != nil {
		return nil, err
	}
	msgs := make([]agent.Message, len(raw))
	for i, b := range raw {
		if err := json.Unmarshal(b, &msgs[i]); err != nil {
			return nil, fmt.Errorf("session %s message %d: %w", id, i, err)
		}
	}
	return msgs, nil
}
