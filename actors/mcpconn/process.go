package mcpconn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seshat-host/seshat/actors/agent"
)

// killWait bounds the wait for a process to be reaped after SIGKILL. A
// process still there after it is in uninterruptible sleep, which no
// signal ends: it is reported, not waited for forever.
const killWait = 5 * time.Second

// process is a started stdio server. It leads its own process group. One
// goroutine, which the Manager counts, waits for it: once it has exited
// the rest of its group is killed and it is reaped, so that neither a
// zombie nor a grandchild outlives it. Its stdin and stdout are pipes the
// session owns.
type process struct {
	cmd  *exec.Cmd
	pid  int
	key  string
	in   *os.File      // the write end of the server's stdin
	done chan struct{} // closed once the process has been reaped

	// mu makes a signal to the group and the reaping exclusive: a signal
	// goes to the group only while its leader is not reaped, so while
	// the group's id cannot name anyone else's group.
	mu     sync.Mutex
	reaped bool
}

// startProcess starts cmd in its own process group with stdin and stdout
// pipes, and registers it under the connection key so that Shutdown can
// end it. It refuses once Shutdown has begun.
func (m *Manager) startProcess(cmd *exec.Cmd, key string) (*process, io.ReadCloser, io.WriteCloser, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_, _ = inR.Close(), inW.Close()
		return nil, nil, nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true

	// procMu is held across the start, so that Shutdown's look at the
	// live processes sees every process that starts before it.
	m.procMu.Lock()
	if m.procsClosed {
		m.procMu.Unlock()
		_, _, _, _ = inR.Close(), inW.Close(), outR.Close(), outW.Close()
		return nil, nil, nil, fmt.Errorf("mcpconn: %w", agent.ErrClosed)
	}
	err = cmd.Start()
	// The child has its own copies of its ends now.
	_, _ = inR.Close(), outW.Close()
	if err != nil {
		m.procMu.Unlock()
		_, _ = inW.Close(), outR.Close()
		return nil, nil, nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, key: key, in: inW, done: make(chan struct{})}
	m.procs[p] = struct{}{}
	m.procWG.Add(1)
	m.procMu.Unlock()
	go m.waitProcess(p)
	return p, outR, inW, nil
}

// waitProcess is the process's waiter: it ends when the process has been
// reaped, which after a SIGKILL is as soon as the kernel lets it go.
func (m *Manager) waitProcess(p *process) {
	defer m.procWG.Done()
	if waitExited(p.pid) {
		// The leader exited and is a zombie, so its group id is still
		// ours: end the rest of the group, then reap.
		p.mu.Lock()
		p.killGroupLocked()
		_ = p.cmd.Wait()
		p.reaped = true
		p.mu.Unlock()
	} else {
		// Without a wait that leaves the zombie in place the leader is
		// reaped first; a group id is not reused while any member
		// lives, so the kill reaches only what is left of the group.
		_ = p.cmd.Wait()
		p.mu.Lock()
		p.reaped = true
		p.killGroupLocked()
		p.mu.Unlock()
	}
	m.procMu.Lock()
	delete(m.procs, p)
	m.procMu.Unlock()
	close(p.done)
}

// killGroupLocked sends SIGKILL to the process's group: npx and shells
// start children that would outlive the leader. p.mu must be held.
func (p *process) killGroupLocked() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// signal sends sig to the process's group while its leader is not
// reaped.
func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// wait reports whether the process was reaped within d.
func (p *process) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// stop ends the process the stdio way, then by force: its stdin closes,
// after grace its group gets SIGTERM, after another grace SIGKILL. It
// returns once the process has been reaped, or an error if it still was
// not killWait after SIGKILL. With a grace of zero it kills at once. It
// is safe to call more than once and concurrently.
func (p *process) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	_ = p.in.Close()
	if grace > 0 {
		if p.wait(grace) {
			return nil
		}
		p.signal(syscall.SIGTERM)
		if p.wait(grace) {
			return nil
		}
	}
	p.signal(syscall.SIGKILL)
	if p.wait(killWait) {
		return nil
	}
	return fmt.Errorf("mcp server process %d did not exit %s after SIGKILL", p.pid, killWait)
}

// reap stops every live process whose connection key matches (nil
// matches all) and returns once each has been reaped or could not be.
func (m *Manager) reap(grace time.Duration, match func(key string) bool) error {
	m.procMu.Lock()
	var ps []*process
	for p := range m.procs {
		if match == nil || match(p.key) {
			ps = append(ps, p)
		}
	}
	m.procMu.Unlock()
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = p.stop(grace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serverKey matches the connection keys (serverID@workspaceID) of one
// server.
func serverKey(serverID string) func(string) bool {
	prefix := serverID + "@"
	return func(key string) bool { return strings.HasPrefix(key, prefix) }
}
