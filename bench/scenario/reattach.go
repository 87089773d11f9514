package scenario

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/seshat-host/seshat/bench/report"
)

// ReattachConfig shapes the reattach scenario.
type ReattachConfig struct {
	// Clients is how many clients drop and re-attach, each on its own
	// turn, all at once. If zero, 50.
	Clients int
	// Tokens and Delay shape each turn. If zero, 40 tokens 25ms apart.
	Tokens int
	Delay  time.Duration
	// MaxPause bounds the random pause between the drop and the
	// re-attach; pauses past the turn's end re-attach to a finished turn.
	// If zero, 300ms.
	MaxPause time.Duration
}

func (c ReattachConfig) withDefaults() ReattachConfig {
	if c.Clients <= 0 {
		c.Clients = 50
	}
	if c.Tokens <= 0 {
		c.Tokens = 40
	}
	if c.Delay <= 0 {
		c.Delay = 25 * time.Millisecond
	}
	if c.MaxPause <= 0 {
		c.MaxPause = 300 * time.Millisecond
	}
	return c
}

// runReattach has clients start a streamed turn, drop the connection after
// a random event, pause, and re-attach with Last-Event-ID; it counts the
// events lost or received twice across the two connections.
func (s *Suite) runReattach(ctx context.Context) report.Result {
	cfg := s.Config.Reattach.withDefaults()
	res := report.Result{Scenario: Reattach, Status: report.StatusOK, Params: map[string]string{
		"clients": strconv.Itoa(cfg.Clients), "tokens": strconv.Itoa(cfg.Tokens),
		"delay": cfg.Delay.String(), "max_pause": cfg.MaxPause.String(),
	}}
	t, err := s.Harness.startHost(ctx, Reattach, nil)
	if err != nil {
		return failed(res, err)
	}
	defer func() { _ = t.stop(context.WithoutCancel(ctx)) }()

	req := streamRequest(t, cfg.Tokens, cfg.Delay)
	want := int64(cfg.Tokens + 2)
	life := time.Duration(cfg.Tokens)*cfg.Delay + cfg.MaxPause
	var (
		first, again = &streamAgg{}, &streamAgg{}
		total        = &streamAgg{}
		mu           sync.Mutex
		resyncs      int64
	)
	prog := s.Harness.progress()
	prog.Begin(fmt.Sprintf("reattach: %d clients", cfg.Clients), int64(cfg.Clients))
	var wg sync.WaitGroup
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer prog.Add(1)
			check := newStreamCheck(want)
			// Drop after an event from the session event to the last
			// delta: never after done.
			cut := 1 + rand.Uint64N(uint64(cfg.Tokens)+1)
			var t1, t2 streamTimes
			err := attachOnce(ctx, t, req, check, cut, life, &t1)
			first.add(check, t1, err, false)
			if err != nil || check.sessionID == "" {
				if err == nil {
					err = errors.New("no session id")
				}
				check.finish()
				total.add(check, streamTimes{}, err, false)
				return
			}
			if !sleepUntil(ctx, time.Now().Add(rand.N(cfg.MaxPause))) {
				return
			}
			err = attachOnce(ctx, t, attachRequest(t, check.sessionID, check.next-1), check, 0, life, &t2)
			check.finish()
			again.add(check, t2, err, false)
			total.add(check, streamTimes{}, err, false)
			mu.Lock()
			resyncs += check.resync
			mu.Unlock()
		}()
	}
	wg.Wait()
	prog.End()

	s1 := first.step("first connection", 0, false)
	s2 := again.step("re-attach", 0, false)
	st := total.step(fmt.Sprintf("turns %d", cfg.Clients), 0, false)
	st.Latency = nil
	st.Values = []report.Value{
		{Name: "turns_complete", Value: float64(total.complete.Load()), Unit: "turns"},
		{Name: "events_lost", Value: float64(total.lost.Load()), Unit: "events"},
		{Name: "events_duplicated", Value: float64(total.dup.Load()), Unit: "events"},
		{Name: "resync_notices", Value: float64(resyncs), Unit: "events"},
	}
	res.Steps = []report.Step{s1, s2, st}
	if total.errMsg != "" {
		res.Note = "sample error event: " + total.errMsg
	}
	return res
}

// attachOnce writes req on a new connection and reads the stream into
// check, until the event stopAfter if it is not zero; then it drops the
// connection without reading further.
func attachOnce(ctx context.Context, t *target, req []byte, check *streamCheck, stopAfter uint64, life time.Duration, times *streamTimes) error {
	c, err := t.cl.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	sent := time.Now()
	if err := c.Write(req, sent.Add(life+time.Minute)); err != nil {
		return err
	}
	resp, firstByte, err := c.ReadStream()
	if err != nil {
		return err
	}
	return readStream(resp, sent, firstByte, check, stopAfter, times, nil)
}
