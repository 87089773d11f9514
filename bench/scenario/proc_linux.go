package scenario

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill a spawned server if the bench dies
// first, so that no server outlives an interrupted run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
