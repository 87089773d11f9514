package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
)

// The methods below are the host's session-addressed ones, sent to the
// session's grain; the rest of the facade is the embedded host's.

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cluster: decode: %w", err)
	}
	return nil
}

// GetSession returns a session with its messages and open requests.
func (n *Node) GetSession(ctx context.Context, userID, id string) (host.SessionView, error) {
	r, err := n.ask(ctx, id, &call{Op: opGet, UserID: userID})
	if err != nil {
		return host.SessionView{}, err
	}
	return viewOf(r)
}

// UpdateSession changes a session's settings.
func (n *Node) UpdateSession(ctx context.Context, userID, id string, u host.SessionUpdate) (host.SessionView, error) {
	r, err := n.ask(ctx, id, &call{Op: opUpdate, UserID: userID, Update: &u})
	if err != nil {
		return host.SessionView{}, err
	}
	return viewOf(r)
}

func viewOf(r *reply) (host.SessionView, error) {
	if r.View == nil {
		return host.SessionView{}, fmt.Errorf("cluster: reply without a session")
	}
	return *r.View, nil
}

// DeleteSession interrupts a running turn and deletes the session.
func (n *Node) DeleteSession(ctx context.Context, userID, id string) error {
	_, err := n.ask(ctx, id, &call{Op: opDelete, UserID: userID})
	return err
}

// Interrupt cancels a session's running turn and reports whether one ran.
func (n *Node) Interrupt(ctx context.Context, userID, id string) (bool, error) {
	r, err := n.ask(ctx, id, &call{Op: opInterrupt, UserID: userID})
	if err != nil {
		return false, err
	}
	return r.Bool, nil
}

// InterruptSession implements host.JobRuntime: the scheduler's interrupt
// of a job run's turn, wherever its session runs.
func (n *Node) InterruptSession(ctx context.Context, id string) (bool, error) {
	r, err := n.ask(ctx, id, &call{Op: opInterruptAny})
	if err != nil {
		return false, err
	}
	return r.Bool, nil
}

// DecidePermission answers a permission request of a session.
func (n *Node) DecidePermission(ctx context.Context, userID, id, requestID string, allow, remember bool, reason string) error {
	_, err := n.ask(ctx, id, &call{Op: opDecide, UserID: userID, RequestID: requestID, Allow: allow, Remember: remember, Reason: reason})
	return err
}

// AnswerPrompt answers a prompt request of a session.
func (n *Node) AnswerPrompt(ctx context.Context, userID, id, requestID, answer string) error {
	_, err := n.ask(ctx, id, &call{Op: opAnswer, UserID: userID, RequestID: requestID, Answer: answer})
	return err
}

// StartTurn starts a turn on the session's node. A turn without a session
// makes its session here first (in the user's workspace, as the host
// would), then starts in it.
func (n *Node) StartTurn(ctx context.Context, userID string, req host.TurnRequest) (*host.Turn, error) {
	if n.closed.Load() {
		return nil, agent.ErrClosed
	}
	if len(req.Input) == 0 && strings.TrimSpace(req.Prompt) == "" {
		return nil, fmt.Errorf("%w: prompt is required", agent.ErrInvalid)
	}
	if req.PermissionMode != "" && !agent.ValidMode(req.PermissionMode) {
		return nil, fmt.Errorf("%w: permission_mode must be one of default, accept_all, deny_all, plan", agent.ErrInvalid)
	}
	if req.SessionID == "" {
		rec, err := n.Host.CreateSession(ctx, userID, host.SessionOptions{
			WorkspaceID: req.WorkspaceID, Model: req.Model, SystemPrompt: req.SystemPrompt,
			PermissionMode: req.PermissionMode, AgentSlug: req.AgentSlug,
			Context: agent.TurnContext{AgentID: req.Context.AgentID, AgentVersion: req.Context.AgentVersion, Memory: req.Context.Memory},
		})
		if err != nil {
			return nil, err
		}
		req.SessionID = rec.ID
		// The session has the profile now; the turn takes it from there.
		req.AgentSlug = ""
	}
	// A resolved route holds a live provider, which does not cross nodes:
	// the session's node resolves the model again.
	req.Route = nil
	rl := n.spawnRelay(req.Stream, true)
	r, err := n.ask(ctx, req.SessionID, &call{Op: opTurn, UserID: userID, Turn: &req, Relay: rl.ref()})
	if err != nil {
		rl.abort()
		return nil, err
	}
	rl.watch(r.Forwarder)
	var st *host.Stream
	if req.Stream {
		st = rl.stream(nil)
	}
	return host.NewTurn(req.SessionID, r.TurnID, st, rl.wait), nil
}

// Query runs a turn to its end and returns the query response.
func (n *Node) Query(ctx context.Context, userID string, req host.TurnRequest) (*agent.QueryResult, error) {
	req.Stream = false
	t, err := n.StartTurn(ctx, userID, req)
	if err != nil {
		return nil, err
	}
	return t.Wait(ctx)
}

// Attach subscribes to the current or last turn of a session after the
// event id after, wherever the session runs.
func (n *Node) Attach(ctx context.Context, userID, id string, after uint64) (*host.Stream, error) {
	rl := n.spawnRelay(true, false)
	r, err := n.ask(ctx, id, &call{Op: opAttach, UserID: userID, After: after, Relay: rl.ref()})
	if err != nil {
		rl.abort()
		return nil, err
	}
	rl.watch(r.Forwarder)
	return rl.stream(nil), nil
}
