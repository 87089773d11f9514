//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fdChildEnv, set to a descriptor limit, makes TestFDLimitChild run the
// server under that RLIMIT_NOFILE (soft and hard) until SIGTERM.
const fdChildEnv = "SESHAT_TEST_FD_LIMIT"

// TestFDLimitChild is the server half of TestDescriptorFloodNeverStopsTheServer,
// run in a re-executed test binary; on its own it does nothing.
func TestFDLimitChild(t *testing.T) {
	limit := os.Getenv(fdChildEnv)
	if limit == "" {
		t.Skip("the child half of TestDescriptorFloodNeverStopsTheServer")
	}
	n, err := strconv.ParseUint(limit, 10, 64)
	require.NoError(t, err)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	require.NoError(t, run(ctx, []string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, os.Getenv, os.Stdout, os.Stderr))
}

// TestDescriptorFloodNeverStopsTheServer runs the server in a child
// process limited to 128 file descriptors and opens three times as many
// idle connections to it. The server must shed what it cannot serve, stay
// up, and answer /health once the flood closes; it then shuts down
// cleanly on SIGTERM. Without the connection cap and the accept retry,
// accept failed with EMFILE and the server exited.
func TestDescriptorFloodNeverStopsTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a child process with connections")
	}
	const limit = 128
	for _, tc := range []struct {
		name string
		env  []string
		// wantLog is a line the child logs once it has met the flood.
		wantLog string
	}{
		{name: "shed at SESHAT_MAX_CONNS", wantLog: ""},
		// A cap above the descriptor limit: accept itself fails with
		// EMFILE, and the listener retries instead of ending Serve.
		{name: "accept retried past the descriptor limit", env: []string{"SESHAT_MAX_CONNS=100000"}, wantLog: "accept failed; retrying"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := startFDChild(t, limit, tc.env)
			conns := make([]net.Conn, 0, 3*limit)
			var rejected atomic.Int64
			var readers sync.WaitGroup
			defer func() {
				for _, c := range conns {
					c.Close()
				}
				readers.Wait()
			}()
			for range 3 * limit {
				c, err := net.DialTimeout("tcp", child.addr, 5*time.Second)
				if err != nil {
					// The kernel's backlog is full: that is the flood doing its
					// work, not a failure of the server.
					break
				}
				conns = append(conns, c)
				readers.Add(1)
				go func() {
					defer readers.Done()
					// An idle connection the server sheds is answered and
					// closed; one it serves waits for its request.
					b := make([]byte, 64)
					n, _ := c.Read(b)
					if strings.HasPrefix(string(b[:n]), "HTTP/1.1 503") {
						rejected.Add(1)
					}
				}()
			}
			if tc.wantLog == "" {
				require.Eventually(t, func() bool { return rejected.Load() > 0 || child.exited() }, 30*time.Second, 20*time.Millisecond)
			} else {
				require.Eventually(t, func() bool { return child.logged(tc.wantLog) || child.exited() }, 30*time.Second, 20*time.Millisecond)
			}
			require.False(t, child.exited(), "the server exited under the flood; log:\n%s", child.log())

			for _, c := range conns {
				c.Close()
			}
			client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			require.Eventually(t, func() bool {
				resp, err := client.Get("http://" + child.addr + "/health")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				_, _ = io.Copy(io.Discard, resp.Body)
				return resp.StatusCode == http.StatusOK
			}, 30*time.Second, 50*time.Millisecond, "the server answers /health once the flood is gone; log:\n%s", child.log())
			require.False(t, child.exited(), "log:\n%s", child.log())
			require.NoError(t, child.stop(), "the server shuts down cleanly on SIGTERM; log:\n%s", child.log())
		})
	}
}

// fdChild is the server running in a re-executed test binary.
type fdChild struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	err  error // set before done closes

	mu   sync.Mutex
	logs strings.Builder // guarded by mu
}

func startFDChild(t *testing.T, limit int, env []string) *fdChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+strconv.Itoa(limit), "SESHAT_BCRYPT_COST=4",
		// Served idle connections stay open for the test's whole flood.
		"SESHAT_READ_TIMEOUT=2m")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	c := &fdChild{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.logs.WriteString(line + "\n")
			c.mu.Unlock()
			if m := binListeningRE.FindStringSubmatch(line); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
	}()
	go func() {
		<-scanned
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if !c.exited() {
			_ = cmd.Process.Kill()
		}
		<-c.done
	})
	select {
	case c.addr = <-addr:
	case <-c.done:
		t.Fatalf("the child exited before it listened: %v; log:\n%s", c.err, c.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("the child did not listen within 60s; log:\n%s", c.log())
	}
	return c
}

func (c *fdChild) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *fdChild) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

func (c *fdChild) logged(s string) bool { return strings.Contains(c.log(), s) }

// stop sends SIGTERM and waits for the child to exit.
func (c *fdChild) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.done:
		return c.err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("the child did not exit within 60s of SIGTERM")
	}
}
