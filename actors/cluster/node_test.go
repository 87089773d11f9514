// The module races with itself in one process (its etcd provider's
// shutdown flag is unsynchronized; remote.Start sets grpc's global
// logger while the etcd client logs), so this in-process test runs
// without the race detector; the end-to-end tests run each node as its own
// process.

//go:build !race

package cluster

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/provider"
	"github.com/seshat-host/seshat/persist"
	"github.com/seshat-host/seshat/persist/persisttest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startEtcd runs a one-member etcd in the test process.
func startEtcd(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir, cfg.Name, cfg.LogLevel = t.TempDir(), "test", "error"
	client := freeAddr(t)
	cu, _ := url.Parse("http://" + client)
	pu, _ := url.Parse("http://" + freeAddr(t))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	e, err := embed.StartEtcd(cfg)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	return client
}

// startNode runs one node of a one-member cluster over a fresh store and
// returns it with a user's id.
func startNode(t *testing.T) (*Node, *persist.Store, string) {
	t.Helper()
	store := persisttest.Open(t)
	reg := provider.NewRegistry()
	reg.Register("mock", provider.NewMock())
	h, err := host.New(host.Config{Store: store, Providers: reg})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	n, err := Start(Config{Host: h, Store: store, Endpoints: []string{startEtcd(t)}, Addr: freeAddr(t), Secret: []byte(strings.Repeat("s", 32))})
	require.NoError(t, err)
	t.Cleanup(n.Leave)
	u, err := store.CreateUser(t.Context(), persist.User{ID: agent.NewID(agent.PrefixUser), Email: "c@example.com", Name: "C"},
		persist.Workspace{ID: agent.NewID(agent.PrefixWorkspace), Name: "personal"})
	require.NoError(t, err)
	return n, store, u.ID
}

// A call delivered twice (the module retries) runs once: the same turn,
// one prompt in history. The grain's activation claimed the session.
func TestRepeatedCallRunsOnce(t *testing.T) {
	n, store, uid := startNode(t)
	sess, err := n.CreateSession(t.Context(), uid, host.SessionOptions{})
	require.NoError(t, err)

	rl := n.spawnRelay(false, true)
	c := call{ID: "call-1", Op: opTurn, UserID: uid, Turn: &host.TurnRequest{Prompt: "once"}, Relay: rl.ref()}
	first, err := n.ask(t.Context(), sess.ID, &c)
	require.NoError(t, err)
	again, err := n.ask(t.Context(), sess.ID, &c)
	require.NoError(t, err)
	require.Equal(t, first.TurnID, again.TurnID)
	require.Equal(t, first.Forwarder, again.Forwarder)
	rl.watch(first.Forwarder)
	res, err := rl.wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, "echo: once", res.Content)
	require.Len(t, res.Messages, 2, "the result's messages cross with it")
	require.Equal(t, "echo: once", res.Messages[1].Text())

	v, err := n.GetSession(t.Context(), uid, sess.ID)
	require.NoError(t, err)
	prompts := 0
	for _, m := range v.Messages {
		if m.Role == agent.RoleUser && m.Text() == "once" {
			prompts++
		}
	}
	require.Equal(t, 1, prompts)
	epoch, err := store.SessionEpoch(sess.ID)
	require.NoError(t, err)
	require.Equal(t, uint64(1), epoch)

	// Streams come through the relay numbered as the session numbers them.
	tr, err := n.StartTurn(t.Context(), uid, host.TurnRequest{SessionID: sess.ID, Prompt: "@tokens 3", Stream: true})
	require.NoError(t, err)
	var ids []uint64
	for ev := range tr.Events.C {
		ids = append(ids, ev.ID)
	}
	tr.Events.Close()
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, ids)
	out, err := tr.Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, "tok0 tok1 tok2", out.Content)
	st, err := n.Attach(t.Context(), uid, sess.ID, 3)
	require.NoError(t, err)
	ids = ids[:0]
	for ev := range st.C {
		ids = append(ids, ev.ID)
	}
	st.Close()
	require.Equal(t, []uint64{4, 5}, ids)

	// Errors keep their class across the grain: another user's session is
	// not found, an unknown one too.
	_, err = n.GetSession(t.Context(), agent.NewID(agent.PrefixUser), sess.ID)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = n.GetSession(t.Context(), uid, agent.NewID(agent.PrefixSession))
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = n.GetSession(t.Context(), uid, "not-a-session")
	require.ErrorIs(t, err, agent.ErrNotFound)

	// A call that does not carry the cluster's MAC is refused: reaching
	// the cluster listener is not enough to act as a user.
	forged, err := encode(&call{ID: "forged", Op: opGet, UserID: uid})
	require.NoError(t, err)
	out2, err := n.c.Request(sess.ID, kindSession, forged)
	require.NoError(t, err)
	var r reply
	require.NoError(t, decodeJSON(out2.(*wrapperspb.BytesValue).Value, &r))
	require.ErrorIs(t, r.Err.err(), agent.ErrForbidden)
	require.Nil(t, r.View)
}
