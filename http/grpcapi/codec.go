package grpcapi

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonCodec is Connect's JSON with the proto field names, which are the
// REST API's snake_case names (Connect's own JSON codec writes lowerCamel
// names). It emits unpopulated fields, so that zero values read as in
// REST ({"interrupted": false}), and refuses unknown fields, as the REST
// API's strict decoding does.
type jsonCodec struct{ name string }

var (
	marshalJSON   = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
	unmarshalJSON = protojson.UnmarshalOptions{DiscardUnknown: false}
)

// The names Connect negotiates JSON under.
var jsonCodecs = []jsonCodec{{"json"}, {"json; charset=utf-8"}}

func (c jsonCodec) Name() string { return c.name }

func (c jsonCodec) IsBinary() bool { return false }

func (c jsonCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("json codec: %T is not a protobuf message", v)
	}
	return marshalJSON.Marshal(m)
}

func (c jsonCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("json codec: %T is not a protobuf message", v)
	}
	return marshalJSON.MarshalAppend(dst, m)
}

func (c jsonCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("json codec: %T is not a protobuf message", v)
	}
	if len(b) == 0 {
		return errors.New("an empty body is not a JSON object; send {}")
	}
	return unmarshalJSON.Unmarshal(b, m)
}
