package cluster

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/persist"
)

// Operations of a call to a session grain.
const (
	opGet       = "get"
	opUpdate    = "update"
	opDelete    = "delete"
	opTurn      = "turn"
	opAttach    = "attach"
	opInterrupt = "interrupt"
	// opInterruptAny is the scheduler's interrupt, which checks no role.
	opInterruptAny = "interrupt_any"
	opDecide       = "decide"
	opAnswer       = "answer"
)

// call is a request to a session grain.
type call struct {
	// ID makes the call idempotent: the grain answers a repeated id with
	// its first answer.
	ID     string `json:"id"`
	Op     string `json:"op"`
	UserID string `json:"user_id"`

	Update *host.SessionUpdate `json:"update,omitempty"`
	Turn   *host.TurnRequest   `json:"turn,omitempty"`
	After  uint64              `json:"after,omitempty"`
	// Relay receives the events and the outcome of a turn or attach.
	Relay *pidRef `json:"relay,omitempty"`

	RequestID string `json:"request_id,omitempty"`
	Allow     bool   `json:"allow,omitempty"`
	Remember  bool   `json:"remember,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Answer    string `json:"answer,omitempty"`

	// MAC is the HMAC-SHA256, under the cluster's secret, of the call
	// encoded without it: the cluster listener takes calls only from
	// nodes that hold the secret, so no one who can reach it can act as a
	// user.
	MAC string `json:"mac,omitempty"`
}

// sign sets c.MAC under secret.
func (c *call) sign(secret []byte) error {
	m, err := c.mac(secret)
	c.MAC = m
	return err
}

// verify reports whether c.MAC is c's under secret.
func (c *call) verify(secret []byte) bool {
	want, err := c.mac(secret)
	return err == nil && c.MAC != "" && hmac.Equal([]byte(want), []byte(c.MAC))
}

func (c *call) mac(secret []byte) (string, error) {
	u := *c
	u.MAC = ""
	b, err := json.Marshal(&u)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, secret)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reply is a session grain's answer to a call.
type reply struct {
	Err    *wireErr          `json:"err,omitempty"`
	View   *host.SessionView `json:"view,omitempty"`
	Bool   bool              `json:"bool,omitempty"`
	TurnID string            `json:"turn_id,omitempty"`
	// Forwarder sends the relay its events; the relay watches it.
	Forwarder *pidRef `json:"forwarder,omitempty"`
}

// Kinds of frame a forwarder sends its relay.
const (
	frameEvent   = "event"
	frameEnd     = "end"     // the stream's channel closed
	frameOutcome = "outcome" // the turn ended
	frameClose   = "close"   // relay → forwarder: the client left
)

// frame is one message between a forwarder and its relay.
type frame struct {
	Kind   string             `json:"kind"`
	Event  *agent.Event       `json:"event,omitempty"`
	Result *agent.QueryResult `json:"result,omitempty"`
	// Messages are the result's (of the outcome, or of a done event's):
	// a QueryResult does not encode them.
	Messages []agent.Message `json:"messages,omitempty"`
	Err      *wireErr        `json:"err,omitempty"`
}

// frameOf is the frame of an event.
func frameOf(ev *agent.Event) frame {
	f := frame{Kind: frameEvent, Event: ev}
	if ev.Result != nil {
		f.Messages = ev.Result.Messages
	}
	return f
}

// outcomeFrame is the frame of a turn's outcome.
func outcomeFrame(res *agent.QueryResult, err error) frame {
	f := frame{Kind: frameOutcome, Result: res, Err: toWire(err)}
	if res != nil {
		f.Messages = res.Messages
	}
	return f
}

// event returns the frame's event with its result's messages.
func (f *frame) event() *agent.Event {
	if f.Event != nil && f.Event.Result != nil {
		f.Event.Result.Messages = f.Messages
	}
	return f.Event
}

// result returns the frame's result with its messages.
func (f *frame) result() *agent.QueryResult {
	if f.Result != nil {
		f.Result.Messages = f.Messages
	}
	return f.Result
}

// frameMAC seals and opens the frames of one stream in one direction.
// A frame is its JSON followed by an HMAC-SHA256 tag over the frame's
// number in the stream and that JSON, under a key derived from the
// cluster's secret (the one the calls are signed with), the relay's
// random stream nonce (carried in the signed call that starts the
// forwarder) and the direction. A frame forged, altered, replayed,
// reordered, dropped, reflected back or taken from another stream thus
// fails to open. The key is derived once per stream and its HMAC state
// reused, so a frame costs one HMAC over its bytes and no allocation
// beyond the tag appended to the JSON.
//
// A frameMAC is not safe for concurrent use: each direction has one
// sealing goroutine and one opening actor.
type frameMAC struct {
	h   hash.Hash
	seq uint64
	n   [8]byte
	sum []byte
	// buf and enc encode the frames sealed, so that a frame's bytes are
	// allocated once, with room for its tag.
	buf bytes.Buffer
	enc *json.Encoder
}

// Directions of a stream's frames, bound into their keys.
const (
	toRelay     = "forwarder-to-relay"
	toForwarder = "relay-to-forwarder"
)

// frameTagSize is the size of a frame's tag.
const frameTagSize = sha256.Size

func newFrameMAC(secret []byte, nonce, dir string) *frameMAC {
	d := hmac.New(sha256.New, secret)
	d.Write([]byte("seshat cluster stream frame\x00" + dir + "\x00" + nonce))
	m := &frameMAC{h: hmac.New(sha256.New, d.Sum(nil)), sum: make([]byte, 0, frameTagSize)}
	m.enc = json.NewEncoder(&m.buf)
	return m
}

// start begins the MAC of the stream's next frame over b.
func (m *frameMAC) start(b []byte) {
	m.h.Reset()
	binary.BigEndian.PutUint64(m.n[:], m.seq)
	m.h.Write(m.n[:])
	m.h.Write(b)
}

// seal appends the tag of the stream's next frame to its JSON b.
func (m *frameMAC) seal(b []byte) []byte {
	m.start(b)
	m.seq++
	return m.h.Sum(b)
}

// open checks b as the stream's next frame and returns its JSON. A frame
// that fails does not count, so that a forgery does not put the stream's
// own frames out of step.
func (m *frameMAC) open(b []byte) ([]byte, bool) {
	if len(b) < frameTagSize {
		return nil, false
	}
	body, tag := b[:len(b)-frameTagSize], b[len(b)-frameTagSize:]
	m.start(body)
	m.sum = m.h.Sum(m.sum[:0])
	if !hmac.Equal(m.sum, tag) {
		return nil, false
	}
	m.seq++
	return body, true
}

// sealFrame encodes f as the stream's next frame.
func (m *frameMAC) sealFrame(f frame) *wrapperspb.BytesValue {
	m.buf.Reset()
	if err := m.enc.Encode(f); err != nil {
		// Only our own types are encoded; one that does not marshal is a
		// programming error.
		panic(fmt.Sprintf("cluster: encode frame: %v", err))
	}
	body := bytes.TrimSuffix(m.buf.Bytes(), []byte("\n"))
	b := make([]byte, len(body), len(body)+frameTagSize)
	copy(b, body)
	return wrapperspb.Bytes(m.seal(b))
}

// openFrame decodes b as the stream's next frame; errFrameRefused if its
// tag is not the stream's.
func (m *frameMAC) openFrame(b []byte) (frame, error) {
	var f frame
	body, ok := m.open(b)
	if !ok {
		return f, errFrameRefused
	}
	return f, decodeJSON(body, &f)
}

// errFrameRefused ends a relayed stream one of whose frames did not carry
// the stream's MAC: it was forged, altered, replayed or lost on the way.
var errFrameRefused = fmt.Errorf("%w: a frame of the stream from the session's node failed its authentication; re-attach to read the turn", agent.ErrTurnFailed)

// pidRef is an actor's PID in JSON.
type pidRef struct {
	Address string `json:"address"`
	ID      string `json:"id"`
	// Nonce is a relay's random stream nonce, which keys the MACs of its
	// frames (frameMAC).
	Nonce string `json:"nonce,omitempty"`
}

func refOf(p *actor.PID) *pidRef { return &pidRef{Address: p.Address, ID: p.Id} }

func (r *pidRef) pid() *actor.PID { return actor.NewPID(r.Address, r.ID) }

func encode(v any) (*wrapperspb.BytesValue, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(b), nil
}

func mustEncode(v any) *wrapperspb.BytesValue {
	b, err := encode(v)
	if err != nil {
		// Only our own types are encoded; one that does not marshal is a
		// programming error.
		panic(fmt.Sprintf("cluster: encode %T: %v", v, err))
	}
	return b
}

// wireErr is an error that crossed nodes: the sentinel it wraps, by name,
// its text, and the typed errors the API maps to their own answers.
type wireErr struct {
	Code     string               `json:"code,omitempty"`
	Msg      string               `json:"msg"`
	Quota    *agent.QuotaError    `json:"quota,omitempty"`
	Upstream *agent.UpstreamError `json:"upstream,omitempty"`
}

// sentinels are the errors whose identity the API maps to a status, by a
// stable name; the first in err's chain is kept.
var sentinels = []struct {
	code string
	err  error
}{
	{"not_found", agent.ErrNotFound},
	{"invalid", agent.ErrInvalid},
	{"forbidden", agent.ErrForbidden},
	{"busy", agent.ErrBusy},
	{"conflict", agent.ErrConflict},
	{"too_many_turns", agent.ErrTooManyTurns},
	{"too_many_streams", agent.ErrTooManyStreams},
	{"too_many_jobs", agent.ErrTooManyJobs},
	{"overloaded", agent.ErrOverloaded},
	{"turn_failed", agent.ErrTurnFailed},
	{"closed", agent.ErrClosed},
	{"web_search_disabled", agent.ErrWebSearchDisabled},
	{"secret_required", agent.ErrSecretRequired},
	{"quota_exceeded", agent.ErrQuotaExceeded},
	{"store_not_found", persist.ErrNotFound},
	{"store_conflict", persist.ErrConflict},
	{"store_invalid", persist.ErrInvalid},
	{"store_too_large", persist.ErrTooLarge},
	{"store_closed", persist.ErrClosed},
	{"store_forbidden", persist.ErrForbidden},
	{"store_quota_exceeded", persist.ErrQuotaExceeded},
	{"fenced", persist.ErrFenced},
}

func toWire(err error) *wireErr {
	if err == nil {
		return nil
	}
	w := &wireErr{Msg: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			w.Code = s.code
			break
		}
	}
	var q *agent.QuotaError
	if errors.As(err, &q) {
		w.Quota = q
	}
	var u *agent.UpstreamError
	if errors.As(err, &u) {
		w.Upstream = u
	}
	return w
}

// remoteError is an error from another node: its text as it was, and the
// sentinel and typed errors it wrapped.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

func (w *wireErr) err() error {
	if w == nil {
		return nil
	}
	e := &remoteError{msg: w.Msg}
	for _, s := range sentinels {
		if s.code == w.Code {
			e.errs = append(e.errs, s.err)
			break
		}
	}
	if w.Quota != nil {
		e.errs = append(e.errs, w.Quota)
	}
	if w.Upstream != nil {
		e.errs = append(e.errs, w.Upstream)
	}
	return e
}
