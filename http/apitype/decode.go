package apitype

import (
	"bytes"
	"encoding/json"
)

// decodeStrict decodes one JSON value into v, refusing fields v does not
// have, as the request decoder does for the body around it.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
