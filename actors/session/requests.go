package session

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/turn"
	"github.com/seshat-host/seshat/persist"
)

// maxDecided bounds the ids remembered as decided, for 409 answers.
const maxDecided = 256

func (a *sessionActor) onPermissionNeeded(m *permissionNeeded) {
	if !a.current(m.turnID) || a.turn.interrupted {
		m.reply <- turn.Decision{Allow: false, Reason: "turn ended"}
		return
	}
	if d, ok := a.snap.Remembered[m.req.ToolName]; ok {
		m.reply <- turn.Decision{Allow: d == agent.DecisionAllow, Reason: "remembered decision"}
		a.auditDecision("permission.remembered", m.req, d)
		return
	}
	if m.noAsk {
		m.reply <- turn.Decision{Allow: false, Reason: "no one can approve this tool here"}
		a.auditDecision("permission.unattended", m.req, agent.DecisionDeny)
		return
	}
	p := agent.Pending{
		Type:      agent.PendingPermission,
		RequestID: agent.NewID(agent.PrefixPerm),
		ToolUseID: m.req.ToolUseID,
		ToolName:  m.req.ToolName,
		Input:     json.RawMessage(m.req.Input),
	}
	a.open(p, &waiter{perm: m.reply})
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
		Type: agent.RuntimePermissionRequest, SessionID: a.id, TurnID: a.turn.id,
		RequestID: p.RequestID, ToolUseID: p.ToolUseID, ToolName: p.ToolName, Input: p.Input,
	}})
}

func (a *sessionActor) onPromptNeeded(m *promptNeeded) {
	if !a.current(m.turnID) || a.turn.interrupted {
		m.reply <- promptReply{err: fmt.Errorf("turn ended")}
		return
	}
	p := agent.Pending{
		Type:      agent.PendingPrompt,
		RequestID: agent.NewID(agent.PrefixPrompt),
		ToolUseID: m.toolUseID,
		Question:  m.question,
	}
	a.open(p, &waiter{prompt: m.reply})
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
		Type: agent.RuntimePromptRequest, SessionID: a.id, TurnID: a.turn.id,
		RequestID: p.RequestID, ToolUseID: p.ToolUseID, Question: p.Question,
	}})
}

// open records a pending request durably and arms its deadline.
func (a *sessionActor) open(p agent.Pending, w *waiter) {
	p.CreatedAt = now()
	p.ExpiresAt = p.CreatedAt.Add(a.d.Config.PermissionTimeout)
	w.pending = p
	sys, self, id := a.d.System, a.self, p.RequestID
	w.timer = time.AfterFunc(a.d.Config.PermissionTimeout, func() { sys.Root.Send(self, &requestExpired{requestID: id}) })
	a.waiters[p.RequestID] = w
	a.snap.Pending = append(a.snap.Pending, p)
	a.rec.Status = agent.StatusWaiting
	a.save(nil)
}

// close removes a pending request and records it as decided.
func (a *sessionActor) close(id string) {
	delete(a.waiters, id)
	for i, p := range a.snap.Pending {
		if p.RequestID == id {
			a.snap.Pending = append(a.snap.Pending[:i:i], a.snap.Pending[i+1:]...)
			break
		}
	}
	if len(a.snap.Pending) == 0 && a.turn != nil {
		a.rec.Status = agent.StatusRunning
	}
	a.decided[id] = struct{}{}
	a.decOrder = append(a.decOrder, id)
	if len(a.decOrder) > maxDecided {
		delete(a.decided, a.decOrder[0])
		a.decOrder = a.decOrder[1:]
	}
}

// lookup finds an open request of the given type.
func (a *sessionActor) lookup(id, typ string) (*waiter, error) {
	w, ok := a.waiters[id]
	if !ok || w.pending.Type != typ {
		if _, done := a.decided[id]; done {
			return nil, fmt.Errorf("%w: request %s was already answered", agent.ErrConflict, id)
		}
		return nil, fmt.Errorf("%w: no open request %s", agent.ErrNotFound, id)
	}
	return w, nil
}

func (a *sessionActor) decide(m *Decide) error {
	w, err := a.lookup(m.RequestID, agent.PendingPermission)
	if err != nil {
		return err
	}
	w.timer.Stop()
	a.close(m.RequestID)
	decision := agent.DecisionDeny
	if m.Allow {
		decision = agent.DecisionAllow
	}
	if m.Remember {
		if a.snap.Remembered == nil {
			a.snap.Remembered = map[string]string{}
		}
		a.snap.Remembered[w.pending.ToolName] = decision
	}
	w.perm <- turn.Decision{Allow: m.Allow, Reason: m.Reason}
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
		Type: agent.RuntimePermissionResolved, SessionID: a.id, TurnID: a.turn.id,
		RequestID: m.RequestID, Decision: decision,
	}})
	a.save(nil)
	return nil
}

func (a *sessionActor) answer(m *Answer) error {
	w, err := a.lookup(m.RequestID, agent.PendingPrompt)
	if err != nil {
		return err
	}
	w.timer.Stop()
	a.close(m.RequestID)
	w.prompt <- promptReply{answer: m.Answer}
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: &agent.RuntimeEvent{
		Type: agent.RuntimePromptResolved, SessionID: a.id, TurnID: a.turn.id, RequestID: m.RequestID,
	}})
	a.save(nil)
	return nil
}

// expire denies a permission request, or fails a prompt, whose deadline
// passed.
func (a *sessionActor) expire(id string) {
	w, ok := a.waiters[id]
	if !ok {
		return
	}
	a.close(id)
	ev := &agent.RuntimeEvent{SessionID: a.id, TurnID: a.turn.id, RequestID: id}
	if w.perm != nil {
		w.perm <- turn.Decision{Allow: false, Reason: "no decision before the permission timeout"}
		ev.Type, ev.Decision = agent.RuntimePermissionResolved, agent.DecisionDeny
		a.auditDecision("permission.expired", turn.PermissionRequest{ToolUseID: w.pending.ToolUseID, ToolName: w.pending.ToolName}, agent.DecisionDeny, id)
	} else {
		w.prompt <- promptReply{err: fmt.Errorf("no answer before the prompt timeout")}
		ev.Type = agent.RuntimePromptResolved
	}
	a.emit(agent.Event{Kind: agent.KindRuntime, Runtime: ev})
	a.save(nil)
}

// releaseWaiters answers every open request negatively, for a turn that is
// ending. The runner is cancelled too, so the answers only unblock it.
func (a *sessionActor) releaseWaiters(reason string) {
	for id, w := range a.waiters {
		w.timer.Stop()
		if w.perm != nil {
			w.perm <- turn.Decision{Allow: false, Reason: reason}
		} else {
			w.prompt <- promptReply{err: fmt.Errorf("%s", reason)}
		}
		a.close(id)
	}
	a.snap.Pending = nil
}

// auditDecision records a permission decision that no person made (a
// remembered decision, an unattended turn, an expired request) in the
// audit log, as the system's. Decisions made through the API are recorded
// by the HTTP layer with the deciding user. The append shares the store's
// group commit.
func (a *sessionActor) auditDecision(action string, req turn.PermissionRequest, decision string, requestID ...string) {
	e := persist.AuditEntry{
		ActorType: persist.ActorSystem, Action: action, ResourceType: "session", ResourceID: a.id,
		WorkspaceID: a.rec.WorkspaceID, Outcome: persist.OutcomeSuccess,
		Details: map[string]string{"tool": req.ToolName, "tool_use_id": req.ToolUseID, "decision": decision},
	}
	if a.turn != nil {
		e.Details["turn_id"] = a.turn.id
	}
	if len(requestID) > 0 {
		e.Details["request_id"] = requestID[0]
	}
	id, log := a.id, a.d.Logger
	a.d.Store.AppendAudit(e, func(err error) {
		if err != nil {
			log.Error("audit a permission decision", "session_id", id, "err", err)
		}
	})
}
