package eventstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Event is one SSE event.
type Event struct {
	// ID is the `id:` value; empty when the event had none.
	ID string
	// Name is the `event:` value; empty for the default event.
	Name string
	// Data is the event's data; multi-line data is joined with "\n".
	Data []byte
}

// AppendEvent appends the wire form of an event to dst: an `id:` line when
// id is non-empty, an `event:` line when name is non-empty, one `data:` line
// per line of data, and the blank line that dispatches it.
func AppendEvent(dst []byte, id, name string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		dst = append(dst, "data: "...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}

// AppendNumbered is AppendEvent with a numeric id.
func AppendNumbered(dst []byte, id uint64, name string, data []byte) []byte {
	var buf [20]byte
	return AppendEvent(dst, string(strconv.AppendUint(buf[:0], id, 10)), name, data)
}

// AppendComment appends a comment line (": text") and a blank line. Clients
// ignore comments; they keep connections and proxies alive.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = append(dst, text...)
	return append(dst, '\n', '\n')
}

// ErrLineTooLong is returned by Decoder.Next for a line over its limit.
var ErrLineTooLong = errors.New("eventstream: line too long")

// Decoder reads events from a stream.
type Decoder struct {
	r        *bufio.Reader
	maxLine  int
	comments int
	// pending are lines already read: the rest of a chunk split at lone CRs.
	pending [][]byte
	// long holds a line longer than the reader's buffer.
	long []byte
	// lastName is the previous event's name, which the next one most
	// often repeats (a stream of deltas): it is then not allocated again.
	lastName string
	// reuse makes every event's Data share buf (ReuseData).
	reuse bool
	buf   []byte
}

// ReuseData makes Next decode every event's Data into one buffer of the
// decoder's instead of a new one: an event's Data is then valid only until
// the next call of Next. For a reader that parses each event before it
// reads the next, it saves an allocation per event.
func (d *Decoder) ReuseData() { d.reuse = true }

// NewDecoder returns a decoder reading from r. maxLine caps one line; if
// zero, 1 MiB.
func NewDecoder(r io.Reader, maxLine int) *Decoder {
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	return &Decoder{r: bufio.NewReaderSize(r, 4096), maxLine: maxLine}
}

// Comments returns how many comment lines the decoder has skipped.
func (d *Decoder) Comments() int { return d.comments }

// Next returns the next event. It returns io.EOF at a clean end of stream
// (a trailing event without its blank line is still returned first).
func (d *Decoder) Next() (Event, error) {
	var ev Event
	var data []byte
	if d.reuse {
		data = d.buf[:0]
	}
	seen, hasData := false, false
	done := func() Event {
		if hasData {
			if data == nil {
				data = []byte{} // empty data, not none
			}
			ev.Data = data
			if d.reuse {
				d.buf = data
			}
		}
		return ev
	}
	for {
		line, err := d.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && seen {
				return done(), nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			return done(), nil
		}
		if line[0] == ':' {
			d.comments++
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "id":
			ev.ID = string(value)
			seen = true
		case "event":
			if string(value) != d.lastName {
				d.lastName = string(value)
			}
			ev.Name = d.lastName
			seen = true
		case "data":
			switch {
			case hasData:
				data = append(data, '\n')
			case !d.reuse:
				data = make([]byte, 0, len(value))
			}
			data = append(data, value...)
			seen, hasData = true, true
		}
	}
}

// readLine returns the next line without its line ending. A line ends at
// LF, CRLF or a lone CR, as the SSE format says. Lines are read up to LF;
// a chunk that holds lone CRs is split into its lines, kept in pending.
func (d *Decoder) readLine() ([]byte, error) {
	if len(d.pending) > 0 {
		line := d.pending[0]
		d.pending = d.pending[1:]
		return line, nil
	}
	// A line that fits the reader's buffer is used where it lies (valid
	// until the next read, which comes after the caller is done with it);
	// a longer one is gathered in long.
	var line []byte
	for first := true; ; first = false {
		chunk, err := d.r.ReadSlice('\n')
		switch {
		case first && !errors.Is(err, bufio.ErrBufferFull):
			line = chunk
		case first:
			d.long = append(d.long[:0], chunk...)
			line = d.long
		default:
			d.long = append(d.long, chunk...)
			line = d.long
		}
		if len(line) > d.maxLine {
			return nil, ErrLineTooLong
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			break
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if bytes.IndexByte(line, '\r') < 0 {
		return line, nil
	}
	parts := bytes.Split(line, []byte{'\r'})
	d.pending = append(d.pending, parts[1:]...)
	return parts[0], nil
}
