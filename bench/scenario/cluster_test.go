package scenario

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/bench/report"
)

// The owner of a session is read from the "session claimed" lines a node
// logs: the last claim of each session counts, other lines do not.
func TestReadClaims(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.log")
	log := `# 2026-01-01T00:00:00Z: seshat -addr 127.0.0.1:0
time=2026-01-02T03:04:05.100Z level=INFO msg="listening on 127.0.0.1:4000" addr=127.0.0.1:4000
time=2026-01-02T03:04:05.200Z level=INFO msg="session claimed" session_id=sess_a epoch=1
time=2026-01-02T03:04:06.300Z level=INFO msg="session claimed" session_id=sess_b epoch=1
time=2026-01-02T03:04:07.400Z level=INFO msg="session claimed" session_id=sess_a epoch=3
time=2026-01-02T03:04:08.500Z level=WARN msg="passivate a stale copy of a session" session_id=sess_c err=x
time=bad level=INFO msg="session claimed" session_id=sess_d epoch=1
`
	require.NoError(t, os.WriteFile(path, []byte(log), 0o600))
	claims, err := readClaims(path)
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{
		"sess_a": time.Date(2026, 1, 2, 3, 4, 7, 400_000_000, time.UTC),
		"sess_b": time.Date(2026, 1, 2, 3, 4, 6, 300_000_000, time.UTC),
	}, claims)

	require.Equal(t, "sess_x", logField(`time=t msg="session claimed" session_id=sess_x epoch=2`, "session_id"))
	require.Empty(t, logField(`time=t msg=x`, "session_id"))
	require.Empty(t, logField(`time=t xsession_id=sess_y`, "session_id"))
}

// The scenario says what it needs instead of failing when it cannot run.
func TestClusterNeedsSpawnPostgresAndEtcd(t *testing.T) {
	for _, h := range []*Harness{
		{URL: "http://127.0.0.1:1"},
		{ServerCmd: []string{"seshat"}, WorkDir: t.TempDir()},
		{ServerCmd: []string{"seshat"}, WorkDir: t.TempDir(), Postgres: "postgres://127.0.0.1:1/x"},
	} {
		s := &Suite{Harness: h}
		res := s.Run(t.Context(), []string{Cluster})
		require.Len(t, res, 1)
		require.Equal(t, report.StatusUnavailable, res[0].Status, res[0].Note)
		require.NotEmpty(t, res[0].Note)
	}
}

// The cluster scenario runs only when named.
func TestParseNamesCluster(t *testing.T) {
	got, err := ParseNames("all")
	require.NoError(t, err)
	require.NotContains(t, got, Cluster)
	got, err = ParseNames("cluster")
	require.NoError(t, err)
	require.Equal(t, []string{Cluster}, got)
	got, err = ParseNames("cluster,all")
	require.NoError(t, err)
	require.Equal(t, append(append([]string{}, All...), Cluster), got)
}
