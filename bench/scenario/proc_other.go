//go:build !linux

package scenario

import (
	"os"
	"os/exec"
)

// fdatasync falls back to a full sync where there is no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }

// setPdeathsig does nothing where the kernel has no parent-death signal.
func setPdeathsig(*exec.Cmd) {}
