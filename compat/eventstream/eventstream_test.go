package eventstream

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name     string
		id, ev   string
		data     string
		expected string
	}{
		{"default", "1", "", `{"a":1}`, "id: 1\ndata: {\"a\":1}\n\n"},
		{"named", "7", "done", "x", "id: 7\nevent: done\ndata: x\n\n"},
		{"multiline", "", "e", "a\nb\r\nc", "event: e\ndata: a\ndata: b\ndata: c\n\n"},
		{"empty", "", "", "", "data: \n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.expected, string(AppendEvent(nil, tc.id, tc.ev, []byte(tc.data))))
		})
	}
	require.Equal(t, "id: 42\nevent: runtime\ndata: {}\n\n", string(AppendNumbered(nil, 42, "runtime", []byte("{}"))))
	require.Equal(t, ": keepalive\n\n", string(AppendComment(nil, "keepalive")))
}

func TestRoundTrip(t *testing.T) {
	var wire []byte
	wire = AppendComment(wire, "connected")
	wire = AppendNumbered(wire, 1, "runtime", []byte(`{"type":"session"}`))
	wire = AppendNumbered(wire, 2, "", []byte("line1\nline2"))
	wire = AppendComment(wire, "keepalive")
	wire = AppendNumbered(wire, 3, "done", []byte(`{}`))
	d := NewDecoder(strings.NewReader(string(wire)), 0)
	var got []Event
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, ev)
	}
	require.Equal(t, []Event{
		{ID: "1", Name: "runtime", Data: []byte(`{"type":"session"}`)},
		{ID: "2", Data: []byte("line1\nline2")},
		{ID: "3", Name: "done", Data: []byte(`{}`)},
	}, got)
	require.Equal(t, 2, d.Comments())
}

func TestDecoderCRLFAndTrailing(t *testing.T) {
	d := NewDecoder(strings.NewReader("event: a\r\ndata:x\r\n\r\nevent: b\ndata: y"), 0)
	ev, err := d.Next()
	require.NoError(t, err)
	require.Equal(t, Event{Name: "a", Data: []byte("x")}, ev)
	ev, err = d.Next()
	require.NoError(t, err)
	require.Equal(t, Event{Name: "b", Data: []byte("y")}, ev)
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestDecoderLoneCR(t *testing.T) {
	d := NewDecoder(strings.NewReader("id: 7\revent: a\rdata: x\r\rdata: y\r\n\r\n"), 0)
	ev, err := d.Next()
	require.NoError(t, err)
	require.Equal(t, Event{ID: "7", Name: "a", Data: []byte("x")}, ev)
	ev, err = d.Next()
	require.NoError(t, err)
	require.Equal(t, Event{Data: []byte("y")}, ev)
}

func TestDecoderLineLimit(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: "+strings.Repeat("x", 10000)+"\n\n"), 100)
	_, err := d.Next()
	require.ErrorIs(t, err, ErrLineTooLong)
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte("id: 1\nevent: x\ndata: y\n\n"))
	f.Add([]byte(": c\r\ndata:\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(strings.NewReader(string(in)), 4096)
		for i := 0; i < 1000; i++ {
			ev, err := d.Next()
			if err != nil {
				return
			}
			// Whatever decodes must re-encode and decode to the same event.
			if strings.ContainsAny(ev.ID, "\r\n") || strings.ContainsAny(ev.Name, "\r\n") {
				t.Fatalf("field with line break: %q", ev)
			}
			again, err := NewDecoder(strings.NewReader(string(AppendEvent(nil, ev.ID, ev.Name, ev.Data))), 0).Next()
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if again.ID != ev.ID || again.Name != ev.Name || string(again.Data) != string(ev.Data) {
				t.Fatalf("round trip: %q vs %q", ev, again)
			}
		}
	})
}

// decodeEvents decodes in to its end, copying each event's Data.
func decodeEvents(in string, reuse bool) ([]Event, error) {
	d := NewDecoder(strings.NewReader(in), 1<<16)
	if reuse {
		d.ReuseData()
	}
	var out []Event
	for range 1000 {
		ev, err := d.Next()
		if err != nil {
			return out, err
		}
		if ev.Data != nil {
			ev.Data = append([]byte{}, ev.Data...)
		}
		out = append(out, ev)
	}
	return out, nil
}

func TestDecoderReuseData(t *testing.T) {
	long := strings.Repeat("x", 10000) // longer than the reader's buffer
	in := "event: a\ndata: one\n\nevent: a\ndata: two\ndata: lines\n\nevent: b\n\nid: 7\ndata: " + long + "\n\ndata:\n\nevent: a\ndata: last"
	want, err := decodeEvents(in, false)
	require.ErrorIs(t, err, io.EOF)
	got, err := decodeEvents(in, true)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, want, got)
	require.Len(t, got, 6)
	require.Nil(t, got[2].Data, "an event without data has none")
	require.Equal(t, []byte{}, got[4].Data, "an empty data line is empty data")
	require.Equal(t, long, string(got[3].Data))
}

func FuzzDecoderReuseData(f *testing.F) {
	f.Add([]byte("id: 1\nevent: x\ndata: y\n\nevent: x\ndata: z\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := decodeEvents(string(in), false)
		got, gerr := decodeEvents(string(in), true)
		if !errors.Is(gerr, werr) && gerr.Error() != werr.Error() {
			t.Fatalf("errors %v, %v", werr, gerr)
		}
		require.Equal(t, want, got)
	})
}
