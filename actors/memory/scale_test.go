package memory_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/memory"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
)

// TestAddCostByStoreSize times the update rule's add (duplicate lookup,
// similarity search and the write, in one store transaction, without
// fsync and without HTTP) into one owner holding 100, 10,000 and 100,000
// memories, and prints p50 and p99. It takes a minute:
// SESHAT_MEMORY_SCALE=1 go test -run TestAddCostByStoreSize -v ./actors/memory
func TestAddCostByStoreSize(t *testing.T) {
	if os.Getenv("SESHAT_MEMORY_SCALE") == "" {
		t.Skip("set SESHAT_MEMORY_SCALE=1 to measure")
	}
	store, err := persist.Open(persist.Config{Dir: t.TempDir(), NoSync: true})
	require.NoError(t, err)
	defer store.Close()
	svc, err := memory.New(memory.Config{Store: store, Providers: provider.NewRegistry()})
	require.NoError(t, err)
	defer svc.Close(context.Background())
	u, err := store.CreateUser(t.Context(), persist.User{Email: "scale@example.com", Name: "S"}, persist.Workspace{Name: "P"})
	require.NoError(t, err)
	fact := func(i int) string {
		return fmt.Sprintf("Fact %d: the user's item%d relates to topic%d and tag%d", i, i, i%500, i%3000)
	}
	have := 0
	for _, n := range []int{100, 10_000, 100_000} {
		for have < n {
			batch := make([]persist.Memory, 0, 5000)
			for ; have < n && len(batch) < cap(batch); have++ {
				batch = append(batch, persist.Memory{ID: agent.NewID(agent.PrefixMemory), Scope: persist.MemoryScopeUser,
					UserID: u.ID, WorkspaceID: u.DefaultWorkspaceID, Content: fact(have), Kind: persist.MemoryKindFact})
			}
			require.NoError(t, store.AddMemories(t.Context(), batch...))
		}
		var adds, searches []time.Duration
		for i := range 300 {
			start := time.Now()
			op, err := svc.Save(t.Context(), u.ID, memory.Target{Origin: memory.OriginAPI}, memory.Candidate{Content: fact(1_000_000 + n + i)})
			adds = append(adds, time.Since(start))
			require.NoError(t, err)
			require.Equal(t, memory.OpAdd, op.Op)
			start = time.Now()
			_, err = svc.Search(t.Context(), u.ID, memory.SearchQuery{Text: fmt.Sprintf("topic%d tag%d", i%500, i%3000), Limit: 5})
			searches = append(searches, time.Since(start))
			require.NoError(t, err)
		}
		have += 300
		slices.Sort(adds)
		slices.Sort(searches)
		t.Logf("memories=%d add p50=%s p99=%s search p50=%s p95=%s", n, adds[150], adds[296], searches[150], searches[284])
	}
}
