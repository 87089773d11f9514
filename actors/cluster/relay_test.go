package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
)

var testSecret = []byte(strings.Repeat("k", 32))

// logRecords keeps the messages logged through it.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func (l *logRecords) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := 0
	for _, m := range l.msgs {
		if m == msg {
			k++
		}
	}
	return k
}

// relayNode is the part of a node relays and forwarders use: an actor
// system, the secret, and a logger, with no cluster around them. The
// relay and the forwarder talk through the same messages as across
// nodes.
func relayNode(t *testing.T) (*Node, *logRecords) {
	t.Helper()
	logs := &logRecords{}
	n := &Node{cfg: Config{Secret: testSecret, RelayBuffer: 64}, log: slog.New(logs),
		sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))}
	return n, logs
}

func delta(id uint64, text string) *agent.Event {
	ev := &agent.Event{ID: id, Kind: agent.KindDelta, Delta: text}
	ev.Encode()
	return ev
}

// drain reads a relay's events until they end.
func drain(t *testing.T, c <-chan *agent.Event) []*agent.Event {
	t.Helper()
	var out []*agent.Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c:
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatal("the relayed stream did not end")
		}
	}
}

// A stream and its turn's outcome flow from a forwarder to its relay,
// every frame sealed and opened; a forged close sent to the forwarder is
// logged and ignored, and does not put the relay's own close out of step.
func TestSignedStreamFlowsAndForgedCloseIsIgnored(t *testing.T) {
	n, logs := relayNode(t)
	rl := n.spawnRelay(true, true)
	ch := make(chan *agent.Event, 8)
	closed := make(chan struct{})
	st := host.NewStream(nil, ch, func() { close(closed) })
	res := &agent.QueryResult{SessionID: "s", TurnID: "t", Content: "a b", StopReason: agent.StopEndTurn}
	turn := host.NewTurn("s", "t", nil, func(context.Context) (*agent.QueryResult, error) { return res, nil })
	fwd := n.spawnForwarder(rl.ref(), st, turn)
	rl.watch(refOf(fwd))

	// Forged closes: without a MAC, and one sealed in the other direction
	// (a frame of the relay's own reflected back).
	n.sys.Root.Send(fwd, mustEncode(frame{Kind: frameClose}))
	n.sys.Root.Send(fwd, newFrameMAC(testSecret, rl.nonce, toRelay).sealFrame(frame{Kind: frameClose}))
	require.Eventually(t, func() bool { return logs.count("refused a relay frame without a valid MAC") == 2 },
		10*time.Second, 5*time.Millisecond)
	select {
	case <-closed:
		t.Fatal("a forged close closed the forwarder's stream")
	default:
	}

	ch <- delta(1, "a")
	ch <- delta(2, " b")
	close(ch)
	evs := drain(t, rl.events)
	require.Len(t, evs, 2)
	require.Equal(t, []uint64{1, 2}, []uint64{evs[0].ID, evs[1].ID})
	require.Equal(t, " b", evs[1].Delta)
	out, err := rl.wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, "a b", out.Content)
	require.Zero(t, logs.count("refused a stream frame without a valid MAC"))

	// The relay's own close, the first it sealed, still opens at the
	// forwarder after the forgeries.
	rl2 := n.spawnRelay(true, false)
	ch2 := make(chan *agent.Event)
	closed2 := make(chan struct{})
	fwd2 := n.spawnForwarder(rl2.ref(), host.NewStream(nil, ch2, func() { close(closed2) }), nil)
	n.sys.Root.Send(fwd2, mustEncode(frame{Kind: frameClose}))
	rl2.watch(refOf(fwd2))
	rl2.stream(nil).Close() // the client leaves: the relay tells the forwarder
	select {
	case <-closed2:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay's close did not reach the forwarder")
	}
	close(ch2)
}

// A frame that does not carry the stream's MAC ends the relay with an
// error and is never delivered: the client reads the frames before it,
// then an unnumbered error event, and the turn's outcome is the refusal.
func TestRelayRefusesForgedFrames(t *testing.T) {
	n, logs := relayNode(t)
	forged := frameOf(delta(2, "forged"))
	at := func(m *frameMAC, seq uint64) *frameMAC { m.seq = seq; return m }
	for _, tc := range []struct {
		name string
		bad  func(nonce string, genuine *frameMAC, first *wrapperspb.BytesValue) *wrapperspb.BytesValue
	}{
		{"no MAC", func(string, *frameMAC, *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return mustEncode(forged)
		}},
		{"shorter than a MAC", func(string, *frameMAC, *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return wrapperspb.Bytes([]byte("{}"))
		}},
		{"altered", func(_ string, genuine *frameMAC, _ *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			b := genuine.sealFrame(frameOf(delta(2, "genuine"))).Value
			i := strings.Index(string(b), "genuine")
			b[i] = 'G'
			return wrapperspb.Bytes(b)
		}},
		{"replayed", func(_ string, _ *frameMAC, first *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return first
		}},
		{"of another stream", func(string, *frameMAC, *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return at(newFrameMAC(testSecret, newCallID(), toRelay), 1).sealFrame(forged)
		}},
		{"under another secret", func(nonce string, _ *frameMAC, _ *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return at(newFrameMAC([]byte(strings.Repeat("x", 32)), nonce, toRelay), 1).sealFrame(forged)
		}},
		{"reflected", func(nonce string, _ *frameMAC, _ *wrapperspb.BytesValue) *wrapperspb.BytesValue {
			return at(newFrameMAC(testSecret, nonce, toForwarder), 1).sealFrame(forged)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := logs.count("refused a stream frame without a valid MAC")
			rl := n.spawnRelay(true, true)
			genuine := newFrameMAC(testSecret, rl.nonce, toRelay)
			first := genuine.sealFrame(frameOf(delta(1, "one")))
			n.sys.Root.Send(rl.pid, first)
			n.sys.Root.Send(rl.pid, tc.bad(rl.nonce, genuine, first))
			// Frames after the refusal are not read either.
			n.sys.Root.Send(rl.pid, genuine.sealFrame(frameOf(delta(3, "late"))))

			evs := drain(t, rl.events)
			require.Len(t, evs, 2)
			require.Equal(t, uint64(1), evs[0].ID)
			require.Equal(t, "one", evs[0].Delta)
			require.Equal(t, agent.KindError, evs[1].Kind)
			require.Zero(t, evs[1].ID, "the refusal is not one of the turn's events")
			require.Contains(t, string(evs[1].Data), "failed its authentication")
			_, err := rl.wait(t.Context())
			require.ErrorIs(t, err, errFrameRefused)
			require.ErrorIs(t, err, agent.ErrTurnFailed)
			require.Equal(t, refused+1, logs.count("refused a stream frame without a valid MAC"))
		})
	}
}

// BenchmarkFrame measures one event frame from a forwarder to its relay:
// plain is the encoding and decoding alone, signed adds the seal and the
// open, mac is the seal and the open alone over the encoded bytes.
func BenchmarkFrame(b *testing.B) {
	ev := delta(42, "a typical streamed token or two")
	nonce := newCallID()
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := mustEncode(frameOf(ev))
			var f frame
			if err := decodeJSON(m.Value, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signed", func(b *testing.B) {
		out, in := newFrameMAC(testSecret, nonce, toRelay), newFrameMAC(testSecret, nonce, toRelay)
		b.ReportAllocs()
		for b.Loop() {
			m := out.sealFrame(frameOf(ev))
			if _, err := in.openFrame(m.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mac", func(b *testing.B) {
		body := mustEncode(frameOf(ev)).Value
		buf := make([]byte, len(body), len(body)+frameTagSize)
		out, in := newFrameMAC(testSecret, nonce, toRelay), newFrameMAC(testSecret, nonce, toRelay)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, body)
			sealed := out.seal(buf[:len(body)])
			if _, ok := in.open(sealed); !ok {
				b.Fatal("refused")
			}
		}
	})
}
