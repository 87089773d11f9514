package permission

import "github.com/seshat-host/seshat/actors/agent"

// Verdict is the policy's answer for one tool call. The zero value is not a
// verdict, so a forgotten assignment can never read as Allow.
type Verdict int

// Verdicts, from most to least permissive.
const (
	// Allow runs the tool without asking.
	Allow Verdict = iota + 1
	// Ask opens a permission request and runs the tool only if a human
	// (or a remembered decision) allows it.
	Ask
	// Deny answers the model with an error result without running the tool.
	Deny
)

// String returns the verdict's lower-case name.
func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Ask:
		return "ask"
	case Deny:
		return "deny"
	}
	return "invalid"
}

// ToolInfo is what the policy needs to know about a tool.
type ToolInfo struct {
	// Name is the tool's name; the built-in modes do not look at it, but it
	// keeps call sites readable and leaves room for per-tool rules.
	Name string
	// NeedsApproval is true for tools that ask in the default mode.
	NeedsApproval bool
	// ReadOnly is true for tools that change nothing (allowed in plan mode).
	ReadOnly bool
}

// PlanBlocks reports whether plan mode forbids calling t: in plan mode a
// tool that changes anything never runs. It is checked before anything
// else may weigh in (remembered allows, a profile, an outside server's
// own approval setting), so none of them can widen plan mode.
func PlanBlocks(mode string, t ToolInfo) bool {
	return mode == agent.ModePlan && !t.ReadOnly
}

// Decide returns the verdict for calling t in the given permission mode:
//
//   - default (or ""): NeedsApproval → Ask, else Allow
//   - accept_all: Allow
//   - deny_all: NeedsApproval → Deny, else Allow
//   - plan: ReadOnly → Allow, else Deny; the turn's final answer is the plan
//
// An unknown mode fails closed and behaves like deny_all, so a corrupted or
// newer mode value never runs a tool that needs approval.
func Decide(mode string, t ToolInfo) Verdict {
	if PlanBlocks(mode, t) {
		return Deny
	}
	switch mode {
	case agent.ModeDefault, "":
		if t.NeedsApproval {
			return Ask
		}
		return Allow
	case agent.ModeAcceptAll:
		return Allow
	case agent.ModePlan:
		return Allow // read-only, as PlanBlocks let it through
	default: // agent.ModeDenyAll and anything unknown
		if t.NeedsApproval {
			return Deny
		}
		return Allow
	}
}
