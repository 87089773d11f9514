package sse

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// PanicError is the error a driven stream ends with when one of its
// callbacks panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("sse: stream panic: %v", e.Value) }

// Driven is a stream that has no goroutine of its own while it waits: the
// source of its channel calls Wake after every send and after closing it,
// a runtime timer wakes it for the idle writes, and the end of the server's
// context wakes it for shutdown. Each wake runs one short-lived goroutine
// that writes what is queued (coalesced as PumpUntil does) and exits; at
// most one runs at a time, and a wake during a run makes it look again, so
// no wake is lost.
type Driven[T any] struct {
	w     *Writer
	ch    <-chan T
	write func(*Writer, T) (end bool, err error)
	idle  Idle
	end   func(*Writer, error)

	running  atomic.Bool
	pending  atomic.Bool
	idleDue  atomic.Bool
	shutdown atomic.Bool

	timer   *time.Timer
	stopCtx func() bool
	// Only the running writer touches these.
	lastSent time.Time
	finished bool
}

// Drive makes a driven stream of ch on w: write frames one value and
// reports the end of the stream; idle is written after idle.Every of
// silence; end runs once, on the writer, when the stream is over: with nil
// when ch was closed or write reported the end, ErrShutdown when ctx ended,
// the write error when the client is gone, or a *PanicError. The caller
// registers Wake with the channel's source, then calls Wake once to write
// what was queued before.
func Drive[T any](ctx context.Context, w *Writer, ch <-chan T, write func(*Writer, T) (bool, error), idle Idle, end func(*Writer, error)) *Driven[T] {
	if idle.Every <= 0 {
		idle.Every = w.cfg.Keepalive
	}
	d := &Driven[T]{w: w, ch: ch, write: write, idle: idle, end: end, lastSent: time.Now()}
	d.timer = time.AfterFunc(idle.Every, func() {
		d.idleDue.Store(true)
		d.Wake()
	})
	d.stopCtx = context.AfterFunc(ctx, func() {
		d.shutdown.Store(true)
		d.Wake()
	})
	return d
}

// Wake tells the stream that its channel may have something new. It never
// blocks and may be called from any goroutine, any number of times.
func (d *Driven[T]) Wake() {
	d.pending.Store(true)
	if d.running.CompareAndSwap(false, true) {
		go d.run()
	}
}

// run writes until nothing is pending. Once the stream has ended, running
// stays set, so later wakes do nothing.
func (d *Driven[T]) run() {
	for {
		d.pending.Store(false)
		if d.step() {
			return
		}
		d.running.Store(false)
		if !d.pending.Load() || !d.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// step writes what is queued and reports whether the stream ended.
func (d *Driven[T]) step() (ended bool) {
	defer func() {
		if r := recover(); r != nil {
			ended = true
			if !d.finished {
				d.finish(&PanicError{Value: r, Stack: debug.Stack()})
			}
		}
	}()
	if d.shutdown.Load() {
		d.finish(ErrShutdown)
		return true
	}
	wrote := false
	for {
		n, full := 0, true
	drain:
		for n < d.w.cfg.MaxCoalesce {
			var v T
			var ok bool
			select {
			case v, ok = <-d.ch:
			default:
				full = false
				break drain
			}
			if !ok {
				return d.flushAndFinish(wrote || n > 0)
			}
			n++
			end, err := d.write(d.w, v)
			if err != nil {
				d.finish(err)
				return true
			}
			if end {
				return d.flushAndFinish(true)
			}
		}
		if n == 0 {
			break
		}
		wrote = true
		if err := d.w.Flush(); err != nil {
			d.finish(err)
			return true
		}
		if !full {
			break
		}
	}
	now := time.Now()
	if wrote {
		d.lastSent = now
		d.idleDue.Store(false)
		d.timer.Reset(d.idle.Every)
		return false
	}
	if d.idleDue.Swap(false) {
		if left := d.idle.Every - now.Sub(d.lastSent); left > 0 {
			// The timer fired for a silence an event has since broken.
			d.timer.Reset(left)
			return false
		}
		if err := d.idle.Write(d.w); err != nil {
			d.finish(err)
			return true
		}
		if err := d.w.Flush(); err != nil {
			d.finish(err)
			return true
		}
		d.lastSent = now
		d.timer.Reset(d.idle.Every)
	}
	return false
}

func (d *Driven[T]) flushAndFinish(flush bool) bool {
	var err error
	if flush {
		err = d.w.Flush()
	}
	d.finish(err)
	return true
}

// finish stops the timer and the shutdown hook and hands the end to end.
func (d *Driven[T]) finish(err error) {
	d.finished = true
	d.timer.Stop()
	d.stopCtx()
	d.end(d.w, err)
}
