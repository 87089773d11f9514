package session

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/persist"
)

// snapshotVersion is the encoding of snapshot.Data: 1 is JSON of snapshot.
const snapshotVersion = 1

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
	Messages   []agent.Message   `json:"messages"`
	Usage      agent.Usage       `json:"usage"`
	Remembered map[string]string `json:"remembered,omitempty"`
	Pending    []agent.Pending   `json:"pending,omitempty"`
	// RunningTurn names the turn in progress when the snapshot was taken;
	// RunningFrom is the index of its first message.
	RunningTurn string    `json:"running_turn,omitempty"`
	RunningFrom int       `json:"running_from,omitempty"`
	LastTurn    *lastTurn `json:"last_turn,omitempty"`
}

func (s *snapshot) encode() (persist.Snapshot, error) {
	b, err := json.Marshal(s)
	return persist.Snapshot{Version: snapshotVersion, Data: b}, err
}

func decodeSnapshot(p persist.Snapshot) (snapshot, error) {
	var s snapshot
	if p.Version != snapshotVersion {
		return s, fmt.Errorf("unknown session snapshot version %d", p.Version)
	}
	err := json.Unmarshal(p.Data, &s)
	return s, err
}
