package scenario

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.8251776e+07
go_goroutines 14
seshat_turns_total{stop_reason="end_turn"} 40
seshat_turns_total{stop_reason="error"} 2
seshat_http_requests_total{method="GET",route="/a b {x}",code="200"} 3 1700000000000
seshat_streams_open 0
`
	m, err := ParseMetrics(strings.NewReader(text), nil)
	require.NoError(t, err)
	require.Equal(t, Metrics{
		"process_resident_memory_bytes": 18251776,
		"go_goroutines":                 14,
		"seshat_turns_total":            42, // summed over labels
		"seshat_http_requests_total":    3,  // labels with spaces and braces, a timestamp
		"seshat_streams_open":           0,
	}, m)

	m, err = ParseMetrics(strings.NewReader(text), map[string]bool{metricGoroutines: true})
	require.NoError(t, err)
	require.Equal(t, Metrics{"go_goroutines": 14}, m)

	_, err = ParseMetrics(strings.NewReader("go_goroutines many\n"), nil)
	require.Error(t, err)
	_, err = ParseMetrics(strings.NewReader("x{a=\"1\" 3\n"), nil)
	require.Error(t, err)
}

func TestHeapLive(t *testing.T) {
	require.Equal(t, 50.0, heapLive(Metrics{metricNextGC: 100, metricGOGC: 100, metricHeapInuse: 80}))
	require.Equal(t, 80.0, heapLive(Metrics{metricNextGC: 100, metricHeapInuse: 80}), "no GOGC: the heap in use")
}

func TestProcCPU(t *testing.T) {
	before, err := procCPU(os.Getpid())
	require.NoError(t, err)
	self0 := selfCPU()
	// Burn a little CPU: /proc counts in 10 ms ticks.
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := procCPU(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, after, before)
	require.Greater(t, selfCPU(), self0)
	_, err = procCPU(-1)
	require.Error(t, err)
}

func TestLoopbackAddr(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8090":  "127.0.0.1:8090",
		"http://127.0.0.5:1/":    "127.0.0.5:1",
		"http://[::1]:8090":      "[::1]:8090",
		"http://localhost:8090/": "127.0.0.1:8090",
	} {
		got, err := loopbackAddr(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"http://10.0.0.1:8090", "https://127.0.0.1:8090", "127.0.0.1:8090", "http://192.0.2.1"} {
		_, err := loopbackAddr(bad)
		require.Error(t, err, bad)
	}
}
