package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
)

// TestClusterKillPoints is the long cluster suite (make cluster): over
// SESHAT_CLUSTER_KILL_POINTS rounds, a turn streamed through one node is
// cut by SIGKILL of its session's owner at a random point; the client's
// stream ends without done, the turn comes back interrupted through every
// survivor, every turn whose done reached a client is in history exactly
// once, and the killed node is started again.
func TestClusterKillPoints(t *testing.T) {
	points, _ := strconv.Atoi(os.Getenv("SESHAT_CLUSTER_KILL_POINTS"))
	if points <= 0 {
		t.Skip("set SESHAT_CLUSTER_KILL_POINTS=N (make cluster) to run N kill points")
	}
	store := postgresStore(t)
	bin := buildBinary(t)
	etcd := startEtcd(t)
	names := []string{"n1", "n2", "n3"}
	nodes := make([]*clusterNode, len(names))
	for i, name := range names {
		nodes[i] = startClusterNode(t, bin, name, etcd, store)
	}
	tok := nodes[0].register(t, "kills@example.com", "password123").Token
	// done counts, per session, the turns whose done reached the client.
	done := map[string]map[string]int{}
	var failover, firstEvent, localFirst []time.Duration
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, moved := 0, 0
	for round := 0; kills < points; round++ {
		require.Less(t, round, 3*points, "too few rounds reached their kill point")
		front := nodes[rng.IntN(len(nodes))]
		resp := front.do(t, request{Method: http.MethodPost, Path: "/api/v1/sessions", Token: tok, Body: map[string]any{"title": "round " + strconv.Itoa(round)}})
		require.Equal(t, http.StatusCreated, resp.Status, "%s", resp.Body)
		var s apitype.Session
		resp.JSON(t, &s)
		require.Equal(t, http.StatusOK, front.get(t, "/api/v1/sessions/"+s.ID, tok).Status)
		owner := ownerOf(t, nodes, s.ID)

		// A turn that ends, then one cut at a random point of its stream.
		prompt := "round " + strconv.Itoa(round)
		r := front.query(t, tok, apitype.QueryRequest{SessionID: s.ID, Prompt: prompt})
		require.Equal(t, "echo: "+prompt, r.Content)
		done[s.ID] = map[string]int{prompt: 1}
		cut := 300 + uint64(rng.IntN(3000))
		opened := time.Now()
		st := front.stream(t, tok, apitype.QueryRequest{SessionID: s.ID, Prompt: "@tokens 100000\n@delay 1ms"})
		st.MustNext()
		if front != owner {
			firstEvent = append(firstEvent, time.Since(opened))
		} else {
			localFirst = append(localFirst, time.Since(opened))
		}
		reached := false
		for {
			ev, err := st.Next()
			if err != nil || isEnd(ev) {
				break
			}
			if ev.Name == "" && eventID(t, ev) >= cut {
				reached = true
				break
			}
		}
		if !reached {
			// The stream ended before the kill: a topology change (the node
			// started again last round joining) moved the session, which
			// stops its grain; the cut turn must come back interrupted.
			st.Close()
			require.Eventually(t, func() bool {
				evs := front.openStream(t, http.MethodGet, "/api/v1/sessions/"+s.ID+"/stream", tok, nil, nil).Rest()
				return len(evs) > 0 && evs[len(evs)-1].Name == "done" && decodeDone(t, evs[len(evs)-1]).StopReason == "interrupted"
			}, 30*time.Second, 100*time.Millisecond, "round %d: a turn cut by a move is interrupted", round)
			moved++
			t.Logf("round %d: the session moved mid-turn (a node joined); its turn came back interrupted", round)
			continue
		}
		kills++
		killed := time.Now()
		owner.kill(t)
		if front != owner {
			if tail := st.Rest(); len(tail) > 0 {
				require.NotEqual(t, "done", tail[len(tail)-1].Name, "round %d: a cut turn does not end with done", round)
			}
		}
		st.Close()
		var alive []*clusterNode
		for _, n := range nodes {
			if n != owner {
				alive = append(alive, n)
			}
		}
		require.Eventually(t, func() bool {
			resp := alive[0].get(t, "/api/v1/sessions/"+s.ID, tok)
			var got apitype.Session
			return resp.Status == http.StatusOK && json.Unmarshal(resp.Body, &got) == nil && got.Status == "idle"
		}, 90*time.Second, 20*time.Millisecond, "round %d: the session never came back", round)
		failover = append(failover, time.Since(killed))
		for _, n := range alive {
			evs := n.openStream(t, http.MethodGet, "/api/v1/sessions/"+s.ID+"/stream", tok, nil, nil).Rest()
			require.NotEmpty(t, evs)
			require.Equal(t, "interrupted", decodeDone(t, evs[len(evs)-1]).StopReason, "round %d through %s", round, n.name)
		}
		// The killed node comes back as a new process.
		for i, n := range nodes {
			if n == owner {
				nodes[i] = startClusterNode(t, bin, n.name, etcd, store)
			}
		}
		// Let every node see the member that joined before the next
		// round's session is placed (a later topology change moves it).
		time.Sleep(3 * time.Second)
		t.Logf("round %d: cut at event %d on %s, served through %s; back after %s", round, cut, owner.name, front.name, failover[len(failover)-1].Round(time.Millisecond))
	}
	t.Logf("%d kill points, %d sessions moved mid-turn by a node joining", kills, moved)
	t.Logf("failover (SIGKILL to the session answering from a survivor): %s", spread(failover))
	t.Logf("cross-node time to first event (stream opened through another node than the owner): %s", spread(firstEvent))
	t.Logf("time to first event through the owner itself: %s", spread(localFirst))
	// Every done turn is in history exactly once.
	for sid, prompts := range done {
		var sess apitype.Session
		resp := nodes[0].get(t, "/api/v1/sessions/"+sid, tok)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		resp.JSON(t, &sess)
		for prompt := range prompts {
			users, answers := 0, 0
			for _, m := range sess.Messages {
				for _, b := range m.Content {
					if m.Role == "user" && b.Text == prompt {
						users++
					}
					if m.Role == "assistant" && b.Text == "echo: "+prompt {
						answers++
					}
				}
			}
			require.Equal(t, 1, users, "session %s: %q once", sid, prompt)
			require.Equal(t, 1, answers, "session %s: its answer once", sid)
		}
	}
}

// spread describes durations: how many, min, median, max.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("n=%d min=%s median=%s max=%s", len(s), s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
