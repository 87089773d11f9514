package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/seshat-host/seshat/compat/anthropic"
)

// decodeWithDecoder is decodeDocument as it always ran: through a
// json.Decoder, then a check that nothing follows the document.
func decodeWithDecoder(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	if err == nil {
		if _, tokErr := dec.Token(); tokErr != io.EOF {
			err = errors.New("invalid character after top-level value")
		}
	}
	return err
}

func checkLenientDecode(t *testing.T, body []byte) {
	t.Helper()
	var want, got anthropic.MessagesRequest
	wantErr := decodeWithDecoder(body, &want)
	err := decodeDocument(body, &got, false)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("decode %q: error %v, decoder %v", body, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decode %q = %+v, decoder %+v", body, got, want)
	}
}

var lenientBodies = []string{
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
	` {"model":"m"} `, `{"model":"m"} x`, `{"model":5} x`, `{"model":5}`, `{"model":"m"}{}`, `{"model":`, ``, `null`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{}}]}],"unknown":1}`,
	`{"max_tokens":"x","model":7}`, `[1]`, `{"messages":"x"}`, `{"model":"m","system":[{"type":"text","text":"s"}]}`,
}

// TestLenientDecodeMatchesDecoder checks that the lenient decode gives the
// decoder's value and error for every body.
func TestLenientDecodeMatchesDecoder(t *testing.T) {
	for _, b := range lenientBodies {
		checkLenientDecode(t, []byte(b))
	}
}

func FuzzLenientDecode(f *testing.F) {
	for _, b := range lenientBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte("[")) > 100 || bytes.Count(body, []byte("{")) > 100 {
			return // decodeBody bounds the depth before decoding
		}
		checkLenientDecode(t, body)
	})
}
