package sse

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type frame struct {
	id   uint64
	name string
	data string
}

func writeFrame(w *Writer, f frame) error { return w.Event(f.id, f.name, []byte(f.data)) }

func TestPumpWritesUntilClosed(t *testing.T) {
	var out bytes.Buffer
	deadlines := 0
	w := NewWriter(bufio.NewWriter(&out), func(time.Time) error { deadlines++; return nil }, Config{})
	ch := make(chan frame, 3)
	ch <- frame{1, "runtime", `{"type":"session"}`}
	ch <- frame{2, "", `{"type":"text_delta","text":"hi"}`}
	ch <- frame{3, "done", `{}`}
	close(ch)
	require.NoError(t, Pump(nil, w, ch, writeFrame))
	require.Equal(t, "id: 1\nevent: runtime\ndata: {\"type\":\"session\"}\n\n"+
		"id: 2\ndata: {\"type\":\"text_delta\",\"text\":\"hi\"}\n\n"+
		"id: 3\nevent: done\ndata: {}\n\n", out.String())
	require.Equal(t, 1, deadlines, "queued events share one flush")
}

func TestPumpKeepalive(t *testing.T) {
	var out syncBuffer
	w := NewWriter(bufio.NewWriter(&out), nil, Config{Keepalive: 5 * time.Millisecond})
	ch := make(chan frame)
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- Pump(done, w, ch, writeFrame) }()
	require.Eventually(t, func() bool { return bytes.Contains(out.Bytes(), []byte(": keepalive\n\n")) }, 5*time.Second, time.Millisecond)
	close(done)
	require.ErrorIs(t, <-errc, ErrShutdown)
}

func TestPumpWriteError(t *testing.T) {
	gone := errors.New("gone")
	w := NewWriter(bufio.NewWriter(&bytes.Buffer{}), func(time.Time) error { return gone }, Config{})
	ch := make(chan frame, 1)
	ch <- frame{1, "", "x"}
	require.ErrorIs(t, Pump(nil, w, ch, writeFrame), gone)
}

func TestParseCursor(t *testing.T) {
	tests := []struct {
		header, query string
		want          uint64
		err           bool
	}{
		{"", "", 0, false},
		{"5", "", 5, false},
		{"", "7", 7, false},
		{"3", "9", 3, false},
		{"-1", "", 0, true},
		{"abc", "", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseCursor(tc.header, tc.query)
		if tc.err {
			require.ErrorIs(t, err, ErrBadCursor)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}
