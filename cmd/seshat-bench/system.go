package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// pinnedEnv marks the bench process that pinSelf re-executed under
// taskset, so that it does not do it again.
const pinnedEnv = "SESHAT_BENCH_PINNED"

// pinSelf pins the bench to benchCPUs by re-executing it under taskset
// (it does not return then, unless the exec fails), and returns the
// command prefix that pins a server to serverCPUs, with a description.
// Without taskset, or on one CPU, nothing is pinned.
func pinSelf(args []string, serverCPUs, benchCPUs string, logf func(string, ...any)) ([]string, string, error) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		logf("taskset not found: server and bench share the CPUs (figures are a floor)")
		return nil, "not pinned: taskset not found", nil
	}
	if n := onlineCPUs(); n < 2 {
		logf("one CPU: server and bench share it (figures are a floor)")
		return nil, "not pinned: one CPU", nil
	}
	desc := fmt.Sprintf("servers on CPU %s, bench on CPU %s (taskset)", serverCPUs, benchCPUs)
	prefix := []string{taskset, "-c", serverCPUs}
	if os.Getenv(pinnedEnv) == "1" {
		return prefix, desc, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	argv := append([]string{taskset, "-c", benchCPUs, self}, args...)
	env := append(os.Environ(), pinnedEnv+"=1")
	err = syscall.Exec(taskset, argv, env)
	return nil, "", fmt.Errorf("re-execute under taskset: %w", err)
}

// onlineCPUs counts the machine's online CPUs (not just those this
// process may run on, which is what runtime.NumCPU counts).
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	var lo, hi int
	for _, part := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == '\n' }) {
		if c, _ := fmt.Sscanf(part, "%d-%d", &lo, &hi); c == 2 {
			n += hi - lo + 1
		} else if c == 1 {
			n++
		}
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every held stream is a descriptor in the bench and in the server (which
// inherits the limit). It returns the limits in force.
func raiseFileLimit() (soft, hard uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return uint64(lim.Cur), uint64(lim.Max)
}
