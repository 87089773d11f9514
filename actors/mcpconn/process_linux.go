package mcpconn

import (
	"errors"
	"syscall"
	"unsafe"
)

// waitExited blocks until the process pid has exited, leaving it
// unreaped (waitid with WNOWAIT), and reports whether it could wait.
func waitExited(pid int) bool {
	const pPID = 1         // P_PID
	var siginfo [16]uint64 // a siginfo_t is 128 bytes
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&siginfo[0])),
			syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if e == 0 {
			return true
		}
		if !errors.Is(e, syscall.EINTR) {
			return false
		}
	}
}
