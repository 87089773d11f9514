package permission

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
)

func TestDecide(t *testing.T) {
	var (
		safe     = ToolInfo{Name: "read_file", ReadOnly: true}
		writer   = ToolInfo{Name: "write_file", NeedsApproval: true}
		quietMut = ToolInfo{Name: "touch"} // changes something, needs no approval
		askUser  = ToolInfo{Name: "ask_user", ReadOnly: true}
	)
	tests := []struct {
		name string
		mode string
		tool ToolInfo
		want Verdict
	}{
		{"default read-only", agent.ModeDefault, safe, Allow},
		{"default needs approval", agent.ModeDefault, writer, Ask},
		{"default mutating without approval", agent.ModeDefault, quietMut, Allow},
		{"empty mode is default", "", writer, Ask},
		{"empty mode read-only", "", safe, Allow},
		{"accept_all read-only", agent.ModeAcceptAll, safe, Allow},
		{"accept_all needs approval", agent.ModeAcceptAll, writer, Allow},
		{"deny_all read-only", agent.ModeDenyAll, safe, Allow},
		{"deny_all needs approval", agent.ModeDenyAll, writer, Deny},
		{"deny_all mutating without approval", agent.ModeDenyAll, quietMut, Allow},
		{"deny_all ask_user", agent.ModeDenyAll, askUser, Allow},
		{"plan read-only", agent.ModePlan, safe, Allow},
		{"plan ask_user", agent.ModePlan, askUser, Allow},
		{"plan needs approval", agent.ModePlan, writer, Deny},
		{"plan mutating without approval", agent.ModePlan, quietMut, Deny},
		{"unknown mode fails closed", "yolo", writer, Deny},
		{"unknown mode read-only", "yolo", safe, Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Decide(tc.mode, tc.tool))
		})
	}
}

func TestVerdictString(t *testing.T) {
	require.Equal(t, "allow", Allow.String())
	require.Equal(t, "ask", Ask.String())
	require.Equal(t, "deny", Deny.String())
	require.Equal(t, "invalid", Verdict(0).String())
}

// TestPlanBlocksEveryWriter checks the gate over every combination of a
// tool's flags: in plan mode a tool that is not read-only is denied, what
// ever its approval setting, and Decide agrees.
func TestPlanBlocksEveryWriter(t *testing.T) {
	for _, needs := range []bool{false, true} {
		for _, ro := range []bool{false, true} {
			info := ToolInfo{Name: "t", NeedsApproval: needs, ReadOnly: ro}
			require.Equal(t, !ro, PlanBlocks(agent.ModePlan, info))
			if !ro {
				require.Equal(t, Deny, Decide(agent.ModePlan, info))
			}
			for _, m := range []string{"", agent.ModeDefault, agent.ModeAcceptAll, agent.ModeDenyAll} {
				require.False(t, PlanBlocks(m, info), m)
			}
		}
	}
}
