package tool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/seshat-host/seshat/actors/agent"
)

// InputError is a tool input that does not match the tool's schema. It
// wraps agent.ErrInvalid; its message is what the model reads in the
// is_error tool result, so it names the offending property.
type InputError struct {
	Problem string
}

// Error returns "invalid input: " and the problem.
func (e *InputError) Error() string { return "invalid input: " + e.Problem }

// Unwrap makes errors.Is(err, agent.ErrInvalid) hold.
func (e *InputError) Unwrap() error { return agent.ErrInvalid }

// schemaDoc is the subset of JSON Schema ValidateInput understands.
type schemaDoc struct {
	Type       json.RawMessage            `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
}

// ValidateInput checks input against a tool's input schema, minimally: the
// input is a JSON object when the schema's type is "object" (or absent, as
// tool inputs always are objects), every required property is present, and
// every present property whose schema names a type ("string", "number",
// "integer", "boolean", "array", "object", "null", or a list of them) has a
// value of that type. Everything else in the schema is ignored, so a model
// is never refused for a keyword this check does not know.
//
// An empty input counts as {}. The error wraps agent.ErrInvalid; it is an
// *InputError unless the schema itself is broken.
func ValidateInput(schema, input json.RawMessage) error {
	var s schemaDoc
	if len(bytes.TrimSpace(schema)) > 0 {
		if err := json.Unmarshal(schema, &s); err != nil {
			return fmt.Errorf("%w: tool input schema is not a JSON object: %v", agent.ErrInvalid, err)
		}
	}
	types, err := schemaTypes(s.Type)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage(`{}`)
	}
	if !json.Valid(input) {
		return &InputError{Problem: "not valid JSON"}
	}
	if len(types) > 0 && !matchesAny(input, types) {
		return &InputError{Problem: "want " + strings.Join(types, " or ") + ", got " + jsonKind(input)}
	}
	if jsonKind(input) != "object" {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(input, &obj); err != nil {
		return &InputError{Problem: err.Error()}
	}
	for _, name := range s.Required {
		if _, ok := obj[name]; !ok {
			return &InputError{Problem: fmt.Sprintf("missing required property %q", name)}
		}
	}
	for name, value := range obj {
		propSchema, ok := s.Properties[name]
		if !ok {
			continue
		}
		var p struct {
			Type json.RawMessage `json:"type"`
		}
		if err := json.Unmarshal(propSchema, &p); err != nil {
			// A property schema may legally be `true`; it constrains nothing.
			continue
		}
		want, err := schemaTypes(p.Type)
		if err != nil {
			return err
		}
		if len(want) > 0 && !matchesAny(value, want) {
			return &InputError{Problem: fmt.Sprintf("property %q: want %s, got %s",
				name, strings.Join(want, " or "), jsonKind(value))}
		}
	}
	return nil
}

// schemaTypes reads a schema "type" keyword: absent, a string, or a list of
// strings.
func schemaTypes(raw json.RawMessage) ([]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	return nil, fmt.Errorf("%w: tool input schema has a bad \"type\": %s", agent.ErrInvalid, raw)
}

func matchesAny(value json.RawMessage, types []string) bool {
	kind := jsonKind(value)
	for _, t := range types {
		switch {
		case t == kind:
			return true
		case t == "number" && kind == "integer":
			return true
		}
	}
	return false
}

// jsonKind returns the JSON Schema type name of a valid JSON value; a
// number without a fractional part is "integer", as JSON Schema counts 1.0
// as an integer.
func jsonKind(value json.RawMessage) string {
	v := bytes.TrimSpace(value)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err == nil && !math.IsInf(f, 0) && math.Trunc(f) == f {
		return "integer"
	}
	return "number"
}
