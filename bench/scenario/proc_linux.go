package scenario

import (
	"os"
	"os/exec"
	"syscall"
)

// fdatasync makes f's data durable without its metadata, as bbolt's
// commits do on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// setPdeathsig has the kernel kill a spawned server if the bench dies
// first, so that no server outlives an interrupted run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
