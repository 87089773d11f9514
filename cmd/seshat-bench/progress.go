package main

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// showProgress decides whether to draw a progress bar: with "auto", only
// when w is a terminal.
func showProgress(mode string, w io.Writer) bool {
	switch mode {
	case "on":
		return true
	case "off":
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// barProgress draws the current phase as a progress bar. Add only bumps a
// counter; a ticker moves the bar, so that thousands of load goroutines
// never contend on the bar's lock.
type barProgress struct {
	w io.Writer

	n     atomic.Int64
	mu    sync.Mutex // guards the fields below
	bar   *progressbar.ProgressBar
	stop  chan struct{}
	done  chan struct{}
	start time.Time
}

func newBarProgress(w io.Writer) *barProgress { return &barProgress{w: w} }

// Begin starts a bar for the phase.
func (p *barProgress) Begin(desc string, total int64) {
	p.End()
	p.mu.Lock()
	defer p.mu.Unlock()
	if total <= 0 {
		total = -1 // a spinner
	}
	p.n.Store(0)
	p.start = time.Now()
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.tick(p.bar, p.stop, p.done)
}

func (p *barProgress) tick(bar *progressbar.ProgressBar, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_ = bar.Set64(p.n.Load())
		}
	}
}

// Add adds completed units.
func (p *barProgress) Add(n int64) { p.n.Add(n) }

// End clears the bar and prints the phase's line.
func (p *barProgress) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	close(p.stop)
	<-p.done
	desc := p.bar.State().Description
	_ = p.bar.Finish()
	_, _ = io.WriteString(p.w, time.Now().Format("15:04:05")+" "+desc+": "+time.Since(p.start).Round(time.Millisecond).String()+"\n")
	p.bar = nil
}

// lineProgress prints a line per phase, for logs and pipes.
type lineProgress struct {
	logf  func(string, ...any)
	desc  string
	start time.Time
	n     atomic.Int64
}

func newLineProgress(logf func(string, ...any)) *lineProgress { return &lineProgress{logf: logf} }

// Begin notes the phase.
func (p *lineProgress) Begin(desc string, _ int64) {
	p.desc, p.start = desc, time.Now()
	p.n.Store(0)
}

// Add adds completed units.
func (p *lineProgress) Add(n int64) { p.n.Add(n) }

// End prints the phase's line.
func (p *lineProgress) End() {
	if p.desc != "" {
		p.logf("%s: %s", p.desc, time.Since(p.start).Round(time.Millisecond))
		p.desc = ""
	}
}
