package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/compat/eventstream"
	"github.com/seshat-host/seshat/http/apitype"
)

// A cluster needs the shared PostgreSQL store and its node address; the
// server says so at start instead of running as a lone node.
func TestClusterNeedsPostgresAndNodeAddr(t *testing.T) {
	_, err := tryStartServer(t, t.TempDir(), map[string]string{"SESHAT_CLUSTER": "etcd://127.0.0.1:1"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "SESHAT_CLUSTER needs SESHAT_STORE=postgres://")
	require.Contains(t, err.Error(), "SESHAT_CLUSTER needs SESHAT_NODE_ADDR")
	require.Contains(t, err.Error(), "SESHAT_CLUSTER needs SESHAT_JWT_SECRET")
	_, err = tryStartServer(t, t.TempDir(), map[string]string{"SESHAT_CLUSTER": "http://127.0.0.1:1"})
	require.ErrorContains(t, err, "want etcd://HOST:PORT")
	_, err = tryStartServer(t, t.TempDir(), map[string]string{"SESHAT_NODE_ADDR": "127.0.0.1:7000"})
	require.ErrorContains(t, err, "SESHAT_NODE_ADDR is set without SESHAT_CLUSTER")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// buildCommand compiles the command in dir into the test's temp dir.
func buildCommand(t testing.TB, dir, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, dir)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	return bin
}

// startEtcd runs the embedded etcd helper on loopback and returns its
// client address.
func startEtcd(t testing.TB) string {
	t.Helper()
	bin := buildCommand(t, "../seshat-etcd", "seshat-etcd")
	client := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "-dir", t.TempDir(), "-client", client, "-peer", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("etcd did not start")
	}
	return client
}

// clusterNode is one server process of a test cluster.
type clusterNode struct {
	*testServer
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []string
}

// logged reports whether a line the node logged has every one of subs.
func (n *clusterNode) logged(subs ...string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
next:
	for _, l := range n.logs {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		return true
	}
	return false
}

// kill SIGKILLs the node.
func (n *clusterNode) kill(t testing.TB) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Kill())
	_ = n.cmd.Wait()
}

// startClusterNode runs the server binary as a node of the cluster on
// etcd, over store.
func startClusterNode(t testing.TB, bin, name, etcd, store string) *clusterNode {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "SESHAT_BCRYPT_COST=4", "SESHAT_REGISTER_PER_MINUTE=0",
		"SESHAT_STORE="+store, "SESHAT_MASTER_KEY="+strings.Repeat("5e", 32), "SESHAT_JWT_SECRET="+strings.Repeat("j", 40),
		"SESHAT_CLUSTER=etcd://"+etcd, fmt.Sprintf("SESHAT_NODE_ADDR=127.0.0.1:%d", freePort(t)))
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	n := &clusterNode{name: name, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			n.mu.Lock()
			t.Logf("node %s logged:\n%s", name, strings.Join(n.logs, "\n"))
			n.mu.Unlock()
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.logs = append(n.logs, line)
			n.mu.Unlock()
			if m := binListeningRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		n.testServer = &testServer{t: t, URL: "http://" + a, Client: &http.Client{Timeout: 30 * time.Second}}
		t.Cleanup(n.Client.CloseIdleConnections)
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s did not start: %s", name, strings.Join(n.logs, "\n"))
	}
	return n
}

// ownerOf waits until one of nodes logs that it claimed session id.
func ownerOf(t testing.TB, nodes []*clusterNode, id string) *clusterNode {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.logged("session claimed", id) {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no node claimed session %s", id)
	return nil
}

// TestClusterStreamsAcrossNodesAndFailover runs three node processes, an
// etcd and PostgreSQL: a turn streamed through one node runs on the
// session's owner, another node re-attaches to it after an event id, and
// when the owner is SIGKILLed mid-turn the turn comes back, interrupted,
// on a survivor, the done turns in history exactly once.
func TestClusterStreamsAcrossNodesAndFailover(t *testing.T) {
	store := postgresStore(t)
	bin := buildBinary(t)
	etcd := startEtcd(t)
	nodes := []*clusterNode{
		startClusterNode(t, bin, "n1", etcd, store),
		startClusterNode(t, bin, "n2", etcd, store),
		startClusterNode(t, bin, "n3", etcd, store),
	}
	n1 := nodes[0]
	tok := n1.register(t, "cluster@example.com", "password123").Token

	// A session owned by another node than the one the client talks to.
	var sid string
	var owner *clusterNode
	for i := 0; i < 40 && owner == nil; i++ {
		resp := n1.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: tok, Body: map[string]any{"title": "spread " + strconv.Itoa(i)}})
		require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
		var s apitype.Session
		resp.JSON(t, &s)
		require.Equal(t, http.StatusOK, n1.get(t, "/api/v1/sessions/"+s.ID, tok).Status)
		if o := ownerOf(t, nodes, s.ID); o != n1 {
			sid, owner = s.ID, o
		}
	}
	require.NotNil(t, owner, "no session landed off the first node")
	var other *clusterNode
	for _, n := range nodes {
		if n != n1 && n != owner {
			other = n
		}
	}

	// Streamed through n1, run on the owner: events numbered from 1.
	st := n1.stream(t, tok, apitype.QueryRequest{SessionID: sid, Prompt: "across nodes"})
	events := st.Rest()
	require.NotEmpty(t, events)
	for i, ev := range events {
		require.Equal(t, uint64(i+1), eventID(t, ev), "event %d: %s %s", i, ev.Name, ev.Data)
	}
	done := decodeDone(t, events[len(events)-1])
	require.Equal(t, "echo: across nodes", done.Content)

	// Re-attached through the third node after an event id: the rest.
	after := eventID(t, events[0])
	re := other.openStream(t, http.MethodGet, "/api/v1/sessions/"+sid+"/stream", tok, nil, map[string]string{"Last-Event-ID": strconv.FormatUint(after, 10)})
	rest := re.Rest()
	require.Len(t, rest, len(events)-1)
	for i, ev := range rest {
		require.Equal(t, events[i+1].ID, ev.ID)
		require.Equal(t, events[i+1].Name, ev.Name)
	}

	// A long turn, streamed through n1, cut by SIGKILL of its owner.
	long := n1.stream(t, tok, apitype.QueryRequest{SessionID: sid, Prompt: "@tokens 100000\n@delay 1ms"})
	// A few hundred events in, the turn's start (its running marker) is
	// durable: a kill before that loses the turn as a whole.
	seen := eventID(t, long.Until(func(ev eventstream.Event) bool { return ev.Name == "" && eventID(t, ev) >= 300 }))
	owner.kill(t)
	tail := long.Rest()
	if len(tail) > 0 {
		require.NotEqual(t, "done", tail[len(tail)-1].Name, "a turn cut by its node's death does not end with done")
	}
	for _, ev := range tail {
		if ev.ID != "" {
			seen = eventID(t, ev)
		}
	}

	// A survivor brings the session back: the cut turn is interrupted and
	// re-attachable from any node, the done turn is in history once.
	var last eventstream.Event
	require.Eventually(t, func() bool {
		resp := other.get(t, "/api/v1/sessions/"+sid, tok)
		if resp.Status != http.StatusOK {
			return false
		}
		var s apitype.Session
		resp.JSON(t, &s)
		return s.Status == "idle"
	}, 90*time.Second, 100*time.Millisecond, "the session never came back on a survivor")
	for _, n := range []*clusterNode{n1, other} {
		evs := n.openStream(t, http.MethodGet, "/api/v1/sessions/"+sid+"/stream", tok, nil, nil).Rest()
		require.NotEmpty(t, evs)
		last = evs[len(evs)-1]
		require.Equal(t, "interrupted", decodeDone(t, last).StopReason, "re-attached through %s: %s\n%s", n.name, last.Data, other.get(t, "/api/v1/sessions/"+sid, tok).Body)
	}
	// A client re-attaching with the last event id it saw gets the
	// outcome, numbered after it.
	evs := other.openStream(t, http.MethodGet, "/api/v1/sessions/"+sid+"/stream", tok, nil,
		map[string]string{"Last-Event-ID": strconv.FormatUint(seen, 10)}).Rest()
	require.NotEmpty(t, evs)
	require.Equal(t, "interrupted", decodeDone(t, evs[len(evs)-1]).StopReason)
	for _, ev := range evs {
		require.Greater(t, eventID(t, ev), seen)
	}
	var sess apitype.Session
	other.get(t, "/api/v1/sessions/"+sid, tok).JSON(t, &sess)
	users, answers := 0, 0
	for _, m := range sess.Messages {
		for _, b := range m.Content {
			if m.Role == "user" && b.Text == "across nodes" {
				users++
			}
			if m.Role == "assistant" && b.Text == "echo: across nodes" {
				answers++
			}
		}
	}
	require.Equal(t, 1, users, "the done turn's prompt is in history once")
	require.Equal(t, 1, answers, "the done turn's answer is in history once")
	r := n1.query(t, tok, apitype.QueryRequest{SessionID: sid, Prompt: "after failover"})
	require.Equal(t, "echo: after failover", r.Content)

	// A job made through n1 is armed by every node, its turns run in the
	// session wherever it lives, and each due second runs once.
	start := time.Now()
	resp := n1.do(t, request{Method: http.MethodPost, Path: "/api/v1/scheduler/jobs", Token: tok, Body: map[string]any{
		"name": "tick", "schedule": "@every 1s", "prompt": "tick", "session_id": sid,
	}})
	require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
	var job apitype.Job
	resp.JSON(t, &job)
	require.Eventually(t, func() bool {
		ok := 0
		for _, run := range other.runs(t, tok, job.ID) {
			if run.Status == "succeeded" {
				ok++
			}
		}
		return ok >= 3 && other.logged("armed jobs of other nodes")
	}, 60*time.Second, 200*time.Millisecond, "the job did not run on both nodes")
	time.Sleep(2 * time.Second) // both nodes fire a few more due times
	resp = other.do(t, request{Method: http.MethodPatch, Path: "/api/v1/scheduler/jobs/" + job.ID, Token: tok, Body: map[string]any{"enabled": false}})
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var runs []apitype.JobRun
	require.Eventually(t, func() bool {
		runs = other.runs(t, tok, job.ID)
		for _, run := range runs {
			if run.Status == "running" {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)
	elapsed := time.Since(start)
	require.LessOrEqual(t, len(runs), int(elapsed/time.Second)+2, "one run per due second, not one per node: %+v", runs)
	succeeded := 0
	for _, run := range runs {
		if run.Status == "succeeded" {
			succeeded++
		}
	}
	other.get(t, "/api/v1/sessions/"+sid, tok).JSON(t, &sess)
	ticks := 0
	for _, m := range sess.Messages {
		if m.Role == "user" && len(m.Content) > 0 && m.Content[0].Text == "tick" {
			ticks++
		}
	}
	require.Equal(t, succeeded, ticks, "each succeeded run's turn is in history once")

	// A node stopped with SIGTERM leaves the cluster and exits cleanly; the
	// session keeps answering from the node left.
	require.NoError(t, n1.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, n1.cmd.Wait(), "a node leaves the cluster and stops cleanly")
	require.True(t, n1.logged("stopped"))
	r = other.query(t, tok, apitype.QueryRequest{SessionID: sid, Prompt: "after a node left"})
	require.Equal(t, "echo: after a node left", r.Content)
}
