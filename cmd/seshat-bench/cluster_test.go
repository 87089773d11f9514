package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/bench/report"
	"github.com/seshat-host/seshat/persist/persisttest"
)

// TestBenchCluster runs the cluster scenario, tiny, on an embedded etcd
// and PostgreSQL: throughput with 1, 2 and 3 nodes, the joins between
// them, streams opened away from the session's owner, and a failover,
// with no error anywhere and the database dropped after.
func TestBenchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server and etcd")
	}
	persisttest.Schema(t) // skips, or fails, without a reachable server
	base := persisttest.PostgresURL()
	before := benchDatabases(t, base)
	bin := buildServer(t)
	etcd := filepath.Join(t.TempDir(), "seshat-etcd")
	out, err := exec.Command("go", "build", "-o", etcd, "../seshat-etcd").CombinedOutput()
	require.NoError(t, err, "build the etcd helper: %s", out)

	rep, table := runBench(t, "-spawn", "-server", bin, "-etcd", etcd, "-scenarios", "cluster", "-postgres", base,
		"-cluster-sessions", "3", "-cluster-duration", "300ms", "-cluster-settle", "500ms", "-cluster-samples", "3")
	checkClean(t, rep)
	require.Len(t, rep.Results, 1)
	res := rep.Results[0]
	require.Equal(t, "cluster", res.Scenario)
	var names []string
	for _, st := range res.Steps {
		names = append(names, st.Name)
	}
	require.Equal(t, []string{"nodes 1", "join node 2", "nodes 2", "join node 3", "nodes 3", "cross-node ttfe", "failover"}, names)

	for i, name := range []string{"nodes 1", "nodes 2", "nodes 3"} {
		st, _ := res.Step(name)
		require.Positive(t, st.Count, name)
		for n := 1; n <= i+1; n++ {
			v, ok := st.Val("n" + strconv.Itoa(n) + "_cpu_per_turn")
			require.True(t, ok, "%s: node %d's CPU per turn", name, n)
			require.GreaterOrEqual(t, v, 0.0)
		}
		_, ok := st.Val("n" + strconv.Itoa(i+2) + "_cpu_per_turn")
		require.False(t, ok, "%s: no figure for a node not yet started", name)
		_, ok = st.Val("server_cpu_per_turn")
		require.True(t, ok, name)
	}
	for _, name := range []string{"join node 2", "join node 3"} {
		st, _ := res.Step(name)
		sessions, _ := st.Val("sessions")
		require.Equal(t, 3.0, sessions, name)
		moved, ok := st.Val("sessions_moved")
		require.True(t, ok, name)
		require.LessOrEqual(t, moved, sessions, name)
		for _, v := range []string{"turns_done", "turns_interrupted", "turns_failed"} {
			_, ok := st.Val(v)
			require.True(t, ok, "%s: %s", name, v)
		}
	}
	cross, _ := res.Step("cross-node ttfe")
	require.Equal(t, int64(6), cross.Count, "three streams away from the owner, three on it")
	for _, l := range []string{"ttfe_other_node", "ttfe_owner"} {
		s, ok := cross.Lat(l)
		require.True(t, ok, l)
		require.Equal(t, int64(3), s.Count, l)
	}
	fo, _ := res.Step("failover")
	affected, _ := fo.Val("sessions_affected")
	require.Positive(t, affected)
	require.Equal(t, int64(affected), fo.Count, "every session of the killed node answers again")
	l, ok := fo.Lat("failover")
	require.True(t, ok)
	require.Equal(t, int64(affected), l.Count)

	require.Contains(t, table, "== cluster: "+string(report.StatusOK))
	require.Equal(t, before, benchDatabases(t, base), "the bench drops the database it made")
}
